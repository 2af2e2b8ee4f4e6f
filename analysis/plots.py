"""Figures of the analysis (matplotlib, Agg): each is written as PNG and PDF.

- `importance`: importance per fidelity with bootstrap intervals (`importance_bars`: the same from a table);
- `agreement`: matrices across fidelities, importance rankings beside performance;
- `marginals`: marginal effect curves of the top hyperparameters (fANOVA surrogate);
- `decision`: the scoping decision (shares, kept / fixed, the cumulative share).

    >>> import numpy as np, tempfile, pathlib
    >>> from hpobench.analysis import plots
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> paths = plots.save(plots.plt.figure(), out / "empty")
    >>> [p.suffix for p in paths]
    ['.png', '.pdf']
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from hpobench import spaces  # noqa: E402
from hpobench.analysis import errors, fanova  # noqa: E402


def save(fig, stem: Path) -> list[Path]:
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    fig.savefig(paths[0], dpi=150, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight", metadata={"CreationDate": None})  # same input, same bytes
    plt.close(fig)
    return paths


def importance(imps: dict, stem: Path, top: int | None = None) -> list[Path]:
    """Grouped horizontal bars: one group per hyperparameter, one bar per fidelity (`imps`: Fidelity ->
    Importance, as `importance.per_fidelity` returns them); `importance_bars` draws them."""
    ref = imps[list(imps)[-1]]
    rows = pd.concat([pd.DataFrame({"fidelity": f.label, "hp": imp.names, "value": imp.value, "lower": imp.lower,
                                    "upper": imp.upper}) for f, imp in imps.items()], ignore_index=True)
    return importance_bars(rows, ref.method, ref.level, stem, top)


def importance_bars(table: pd.DataFrame, method: str, level: float, stem: Path, top: int | None = None) -> list[Path]:
    """The bars of `importance` from a table of one row per fidelity x hyperparameter (columns fidelity,
    hp, value, lower, upper; other columns are ignored), fidelities in the order they first appear, each
    with the same hyperparameters in the same order; `method` and `level` name the x axis."""
    groups = dict(tuple(table.groupby("fidelity", sort=False)))
    fids = list(groups)
    ref = groups[fids[-1]]  # order by the most expensive fidelity
    names = ref["hp"].tolist()
    order = np.argsort(-ref["value"].to_numpy(), kind="stable")[: top or len(names)]
    h = 0.8 / len(fids)
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(order) * max(1, len(fids) / 2) + 1.5))
    for k, f in enumerate(fids):
        v, lo, hi = (groups[f][c].to_numpy()[order] for c in ("value", "lower", "upper"))
        y = np.arange(len(order)) + k * h
        err = np.vstack([np.clip(v - lo, 0, None), np.clip(hi - v, 0, None)])
        ax.barh(y, v, height=h, xerr=err, capsize=2, label=f, error_kw={"lw": 0.8})
    ax.set_yticks(np.arange(len(order)) + h * (len(fids) - 1) / 2)
    ax.set_yticklabels([names[i] for i in order])
    ax.invert_yaxis()
    ax.set_xlabel({"fanova": "fANOVA: share of variance", "ped-anova": "PED-ANOVA: top-quantile variance",
                   "ablation": "ablation: predicted gain"}.get(method, method)
                  + f" ({int(level * 100)}% bootstrap interval)")
    ax.legend(title="fidelity", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return save(fig, stem)


def agreement(imp_matrix: pd.DataFrame, perf_matrix: pd.DataFrame, labels: list[str], stem: Path) -> list[Path]:
    """Two heatmaps side by side: importance-ranking agreement and performance agreement."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
    for ax, df, title in ((axes[0], imp_matrix, "importance ranking"), (axes[1], perf_matrix, "performance")):
        n = len(labels)
        M = np.eye(n)
        text = [["1" if i == j else "" for j in range(n)] for i in range(n)]
        idx = {lab: i for i, lab in enumerate(labels)}
        for r in df.itertuples():
            if r.a not in idx or r.b not in idx:
                continue
            i, j = idx[r.a], idx[r.b]
            est = getattr(r, "corrected", r.estimate)  # Spearman: the value its interval is about
            M[i, j] = M[j, i] = est if np.isfinite(est) else np.nan
            s = f"{est:.2f}\n[{r.lower:.2f},{r.upper:.2f}]" if np.isfinite(est) else "n/a"
            text[i][j] = text[j][i] = s
        im = ax.imshow(M, vmin=-1, vmax=1, cmap="RdBu")
        for i in range(n):
            for j in range(n):
                ax.text(j, i, text[i][j], ha="center", va="center", fontsize=7)
        ax.set_xticks(range(n))
        ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(n))
        ax.set_yticklabels(labels, fontsize=7)
        stat = df.statistic.iloc[0] if len(df) else "spearman"
        ax.set_title(f"{title} ({stat.replace('_', ' ')})")
    fig.colorbar(im, ax=axes, shrink=0.8)
    return save(fig, stem)


def marginals(imp, space, stem: Path, top: int = 4) -> list[Path]:
    """Marginal effect curves of the `top` most important hps (a forest's: mean and sd over trees;
    the boosted surrogate's: the curve of its sum, whose trees are not replicates)."""
    part, live = imp.extra.get("partition"), imp.extra.get("live")
    spread = getattr(part, "kind", "forest") == "forest"
    if part is None:
        raise errors.AnalysisError("marginal curves need a fANOVA importance (a tree-ensemble surrogate)")
    cols = [c for c in np.argsort(-imp.value[live], kind="stable")[:top]]
    enc = imp.extra.get("encoded")
    metric = getattr(enc, "metric", None)
    sign = metric.sign if metric is not None else 1.0  # the surrogate models sign * value
    fig, axes = plt.subplots(1, len(cols), figsize=(3.2 * len(cols), 3), squeeze=False)
    for ax, c in zip(axes[0], cols):
        n = imp.names[live[c]]
        k = spaces.cells(space, n)
        if k is not None and k <= 32:
            grid = (np.arange(k) + 0.5) / k
            curves = sign * fanova.marginal(part, c, grid)
            ax.errorbar(np.arange(k), curves.mean(0), curves.std(0) if spread else None, fmt="o", capsize=3)
            ax.set_xticks(np.arange(k))
            ax.set_xticklabels([str(spaces.from_unit(space, n, g)) for g in grid], rotation=45, fontsize=7)
        else:
            grid = np.linspace(0.0, 1.0, 101)
            curves = sign * fanova.marginal(part, c, grid)
            x = np.array([spaces.from_unit(space, n, g) for g in grid], float)
            m, s = curves.mean(0), curves.std(0)
            ax.plot(x, m)
            if spread:
                ax.fill_between(x, m - s, m + s, alpha=0.3)
            if getattr(space[n], "log", False):
                ax.set_xscale("log")
        ax.set_title(f"{n} (share {imp.value[live[c]]:.2f})", fontsize=9)
        ax.set_xlabel(n)
    what = f"{metric.name} ({metric.direction})" if metric is not None else "metric"
    axes[0][0].set_ylabel(f"marginal {what} at {imp.fidelity.label}", fontsize=8)
    fig.tight_layout()
    return save(fig, stem)


def decision(dec, stem: Path) -> list[Path]:
    """Shares at the cheap fidelity, coloured by action, and their cumulative sum."""
    t = dec.table()
    colour = {"tune": "tab:green", "fix": "tab:gray", "removed": "lightgray"}
    fig, ax = plt.subplots(figsize=(8, 0.3 * len(t) + 2))
    y = np.arange(len(t))
    ax.barh(y, t.share, color=[colour[a] for a in t.action])
    ax.set_yticks(y)
    ax.set_yticklabels([f"{h} ({a}{'=' + repr(v) if a == 'fix' else ''})" for h, a, v in
                        zip(t.hp, t.action, t.value)], fontsize=7)
    ax.invert_yaxis()
    ax2 = ax.twiny()
    ax2.plot(np.cumsum(t.share), y, "k.-", lw=0.8)
    ax2.set_xlim(0, 1.02)
    ax2.set_xlabel("cumulative share")
    a = dec.agreement
    agr = f"{a['estimate']:.2f} [{a['lower']:.2f}, {a['upper']:.2f}]" if "estimate" in a else "no probe"
    fig.suptitle(f"{dec.verdict}: tune {len(dec.tune)}, fix {len(dec.fix)}, removed {len(dec.removed)}"
                 f" | {a['statistic']} {agr}", fontsize=9, y=1.0)
    ax.set_xlabel("share of explained variance at the cheap fidelity")
    return save(fig, stem)
