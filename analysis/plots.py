"""Figures of the analysis (matplotlib, Agg): each is written as PNG and PDF.

- `importance`: importance per fidelity with bootstrap intervals (shares clipped to [0, 1]), sorted
  by the cheap fidelity's share (`importance_bars`: the same from a table);
- `agreement`: matrices across fidelities, importance rankings beside performance;
- `marginals`: marginal curves of chosen hyperparameters on the surrogate the decision uses, with
  bands from its bootstrap surrogates and the observed configurations;
- `interactions`: fANOVA's pair interaction shares among chosen hyperparameters (`pair_shares`);
- `parallel`: parallel coordinates of the evaluated configurations, axes by importance;
- `rankings`: the cheap fidelity against the probe, importance shares and configurations' metric;
- `decision`: the variance rule's decision (shares, kept / fixed, their running sum).

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


SHARES = ("fanova",)  # methods whose importance is a share of variance: its intervals lie in [0, 1]


def interval(imp) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(value, lower, upper) of an Importance as drawn: a share of variance (`SHARES`) clipped to [0, 1]."""
    v, lo, hi = (np.asarray(a, float) for a in (imp.value, imp.lower, imp.upper))
    return tuple(np.clip(a, 0, 1) for a in (v, lo, hi)) if imp.method in SHARES else (v, lo, hi)


def importance(imps: dict, stem: Path, top: int | None = None, by=None) -> list[Path]:
    """Grouped horizontal bars: one group per hyperparameter, one bar per fidelity (`imps`: Fidelity ->
    Importance, as `importance.per_fidelity` returns them), sorted by the share at the fidelity `by`
    (default: the first, the cheapest), with the bootstrap intervals; a share of variance (fANOVA) and
    its interval are clipped to [0, 1] (`interval`). `importance_bars` draws `importance_table(imps)`."""
    ref = imps[list(imps)[0] if by is None else by]
    return importance_bars(importance_table(imps), ref.method, ref.level, stem, top, by=ref.fidelity.label,
                           unit=ref.method in SHARES)


def importance_table(imps: dict) -> pd.DataFrame:
    """One row per fidelity x hyperparameter (fidelity label, hp, value, lower, upper), as drawn (`interval`)."""
    return pd.concat([pd.DataFrame(dict(zip(("value", "lower", "upper"), interval(imp)), fidelity=f.label,
                                        hp=imp.names)) for f, imp in imps.items()], ignore_index=True)


def bar_order(table: pd.DataFrame, by: str | None = None, top: int | None = None) -> list[str]:
    """The hyperparameters of an importance table in `importance_bars`' order: by their value at the
    fidelity labelled `by` (default: the last, most expensive), largest first, ties in the table's
    order; the first `top` of them."""
    fids = list(dict.fromkeys(table["fidelity"]))
    ref = table[table["fidelity"] == (fids[-1] if by is None else by)]
    names = ref["hp"].tolist()
    return [names[i] for i in np.argsort(-ref["value"].to_numpy(), kind="stable")[: top or len(names)]]


def importance_bars(table: pd.DataFrame, method: str, level: float, stem: Path, top: int | None = None,
                    by: str | None = None, unit: bool = False) -> list[Path]:
    """The bars of `importance` from a table of one row per fidelity x hyperparameter (columns fidelity,
    hp, value, lower, upper; other columns are ignored), fidelities in the order they first appear, each
    with the same hyperparameters in the same order; `method` and `level` name the x axis. Sorted by the
    value at the fidelity labelled `by` (named in the title; default: the last, most expensive, one);
    unit: the x axis spans [0, 1] (shares of variance, clipped to it by `importance_table`)."""
    groups = dict(tuple(table.groupby("fidelity", sort=False)))
    fids = list(groups)
    shown = bar_order(table, by, top)
    h = 0.8 / len(fids)
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(shown) * max(1, len(fids) / 2) + 1.5))
    for k, f in enumerate(fids):
        rows = groups[f].set_index("hp").loc[shown]
        v, lo, hi = (rows[c].to_numpy(float) for c in ("value", "lower", "upper"))
        y = np.arange(len(shown)) + k * h
        err = np.vstack([np.clip(v - lo, 0, None), np.clip(hi - v, 0, None)])
        ax.barh(y, v, height=h, xerr=err, capsize=2, label=f, error_kw={"lw": 0.8})
    ax.set_yticks(np.arange(len(shown)) + h * (len(fids) - 1) / 2)
    ax.set_yticklabels(shown)
    ax.invert_yaxis()
    if unit:
        ax.set_xlim(0, 1)
    ax.set_xlabel({"fanova": "fANOVA: share of variance", "ped-anova": "PED-ANOVA: top-quantile variance",
                   "ablation": "ablation: predicted gain"}.get(method, method)
                  + f" ({int(level * 100)}% bootstrap interval)")
    if by is not None:
        ax.set_title(f"sorted by the share at {by}", fontsize=8)
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


def marginals(imp, space, stem: Path, top: int = 4, names: list[str] | None = None, n_boot: int = 30,
              level: float = 0.9, seed: int = 0, draws: int = 64) -> list[Path]:
    """Marginal curves of hyperparameters with bootstrap bands and the observed points.

    imp: an fANOVA Importance, or a list of them (one per fidelity, overlaid in their colours).
    names: the hyperparameters (default: the `top` most important at the first Importance).
    Each curve is the mean prediction of the surrogate the decision uses (`tunability.fit_all`:
    boosted trees on the fidelity's configurations) with the hyperparameter set to each value and
    the others drawn uniformly where it is active (`draws` draws); the band is the central `level`
    of the same curve on the `n_boot` surrogates refitted on bootstrap resamples of the
    configurations (the decision's resamples for the same `n_boot` and `seed`). Dots: the observed
    configurations' metric against the hyperparameter's value.
    """
    from hpobench.analysis import tunability
    imps = list(imp) if isinstance(imp, (list, tuple)) else [imp]
    for i in imps:
        if "encoded" not in i.extra or i.method != "fanova":
            raise errors.AnalysisError("marginal curves need a fANOVA importance (a tree-ensemble surrogate)")
    first = imps[0]
    if names is None:
        names = [first.names[j] for j in np.argsort(-first.value, kind="stable")[:top]]
    names = list(names)
    cols = min(4, max(1, len(names)))
    rows = -(-len(names) // cols) if names else 1
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 3.1 * rows), squeeze=False)
    for ax in axes.flat[len(names):]:
        ax.axis("off")
    metric = first.extra["encoded"].metric
    for k, i in enumerate(imps):
        enc = i.extra["encoded"]
        surs = tunability.fitted(i, n_boot, seed)
        colour = f"C{k}"
        for ax, n in zip(axes.flat, names):
            kind, x, grid = _axis(enc.space, n)
            lines = [marginal(s, enc.space, n, grid, draws, seed) for s in surs]
            mean = metric.sign * np.asarray(lines[0]) if lines else np.full(len(grid), np.nan)
            u = enc.X[:, enc.names.index(n)]
            ok = np.isfinite(u)
            ox = _positions(enc.space, n, u[ok], kind, seed)
            ax.scatter(ox, metric.sign * enc.y[ok], s=9, alpha=0.45, color=colour, lw=0)
            if len(lines) > 1:
                q = (1 - level) / 2
                band = metric.sign * np.quantile(np.asarray(lines[1:]), [q, 1 - q], axis=0)
                if kind == "discrete":
                    ax.errorbar(x, mean, np.clip(np.abs(band - mean), 0, None), fmt="none", color=colour, capsize=3)
                else:
                    ax.fill_between(x, band.min(0), band.max(0), color=colour, alpha=0.25, lw=0)
            style = "o-" if kind == "discrete" else "-"
            ax.plot(x, mean, style, color=colour, label=i.fidelity.label, ms=4)
    for ax, n in zip(axes.flat, names):
        kind, x, grid = _axis(space, n)
        if kind == "discrete":
            ax.set_xticks(x)
            ax.set_xticklabels([str(spaces.from_unit(space, n, g)) for g in grid], rotation=45, fontsize=7)
        elif getattr(space[n], "log", False):
            ax.set_xscale("log")
        ax.set_title(f"{n} (" + ", ".join(f"share {i.share[i.names.index(n)]:.2f}" for i in imps) + ")", fontsize=9)
        ax.set_xlabel(n, fontsize=8)
        ax.tick_params(labelsize=7)
    what = f"{metric.name} ({metric.direction})"
    for r in range(rows):
        axes[r][0].set_ylabel(f"marginal {what}", fontsize=8)
    axes.flat[0].legend(fontsize=7, title=f"fidelity; band {level:.0%} of {n_boot} bootstrap surrogates",
                        title_fontsize=7)
    fig.tight_layout()
    return save(fig, stem)


def marginal(sur, space, name: str, grid: np.ndarray, draws: int = 64, seed: int = 0) -> np.ndarray:
    """The surrogate's mean prediction (larger is better) with `name` at each unit code of `grid`, the
    others drawn uniformly (ConfigSpace's sampling, activity applied) among draws where `name` is active."""
    from hpobench.analysis import tunability
    geo = tunability.Geometry.of(space)
    j = geo.names.index(name)
    U = geo.uniform(draws, seed)
    U = U[np.isfinite(geo.activate(U)[:, j])]  # raw draws: a child of `name` takes its draw where it turns active
    if not len(U):
        return np.full(len(grid), np.nan)
    X = np.repeat(U[None], len(grid), 0)
    X[:, :, j] = np.asarray(grid)[:, None]
    y = sur(geo.activate(X.reshape(-1, X.shape[-1])))
    return y.reshape(len(grid), len(U)).mean(1)


def _axis(space, name: str):
    """("discrete", positions, unit codes of the levels) or ("numeric", values, unit codes) for a marginal."""
    k = spaces.cells(space, name)
    if k is not None and k <= 32:
        return "discrete", np.arange(k), (np.arange(k) + 0.5) / k
    grid = np.linspace(0.0, 1.0, 25)
    return "numeric", np.array([spaces.from_unit(space, name, g) for g in grid], float), grid


def _positions(space, name: str, u: np.ndarray, kind: str, seed: int = 0) -> np.ndarray:
    """Where observed unit codes go on a marginal's x axis (levels jittered a little)."""
    if kind == "discrete":
        k = spaces.cells(space, name)
        jitter = np.random.default_rng(seed).uniform(-0.12, 0.12, len(u))
        return np.minimum((u * k).astype(int), k - 1) + jitter
    return np.array([spaces.from_unit(space, name, g) for g in u], float)


def pair_shares(imp, names: list[str]) -> pd.DataFrame:
    """fANOVA's pure interaction shares V_ij / Var of every pair of `names` (a square table, NaN on the
    diagonal, for a parent with its own child and for a hyperparameter that does not vary), from the
    Importance's point surrogate, as `fanova.fanova` computes its top pairs."""
    part, live = imp.extra.get("partition"), imp.extra.get("live")
    if part is None:
        raise errors.AnalysisError("interactions need a fANOVA importance (a tree-ensemble surrogate)")
    col = {imp.names[j]: c for c, j in enumerate(live)}
    out = pd.DataFrame(np.nan, index=names, columns=names)
    cand = [(a, b) for a in names for b in names if a < b and a in col and b in col
            and col[b] not in part.regions.get(col[a], {}) and col[a] not in part.regions.get(col[b], {})]
    if not cand:
        return out
    idx = [(col[a], col[b]) for a, b in cand]
    if part.kind == "boost":
        var = fanova.low_order_variance(part)
        var = fanova.forest_variance(part) if var is None else var
        pv = fanova.pair_effects(fanova.merged(part), idx)[0] / var if var > 0 else np.zeros(len(idx))
    else:
        var = part.variance
        ok = var > 0
        pv = np.mean(fanova.pair_effects(part, idx)[ok] / var[ok, None], 0) if ok.any() else np.zeros(len(idx))
    for (a, b), v in zip(cand, pv):
        out.loc[a, b] = out.loc[b, a] = float(v)
    return out


def interactions(imps, names: list[str], stem: Path) -> list[Path]:
    """Heatmaps of the pair interaction shares (`pair_shares`) among `names`, one per Importance (fidelity)."""
    imps = list(imps) if isinstance(imps, (list, tuple)) else [imps]
    tables = [pair_shares(i, names) for i in imps]
    vmax = max([np.nanmax(t.to_numpy()) for t in tables if np.isfinite(t.to_numpy()).any()] + [0.01])
    n = len(names)
    fig, axes = plt.subplots(1, len(imps), figsize=(1.0 + (0.6 * n + 1.6) * len(imps), 0.6 * n + 1.6),
                             squeeze=False)
    for ax, i, t in zip(axes[0], imps, tables):
        M = t.to_numpy()
        im = ax.imshow(M, vmin=0, vmax=vmax, cmap="Purples")
        for a in range(n):
            for b in range(n):
                ax.text(b, a, "" if a == b else "n/a" if not np.isfinite(M[a, b]) else f"{M[a, b]:.3f}",
                        ha="center", va="center", fontsize=7,
                        color="white" if np.isfinite(M[a, b]) and M[a, b] > 0.6 * vmax else "black")
        ax.set_xticks(range(n))
        ax.set_xticklabels(names, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(n))
        ax.set_yticklabels(names, fontsize=7)
        ax.set_title(f"pair interaction share at\n{i.fidelity.label}", fontsize=8)
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label="share of variance")
    return save(fig, stem)


def parallel(imp, space, stem: Path, order: list[str] | None = None, top: int = 12) -> list[Path]:
    """Parallel coordinates of the configurations evaluated at `imp`'s fidelity: one axis per
    hyperparameter (unit codes; the values at the ends and middle, or the levels, written on it),
    ordered by `order` (default: `imp`'s share, largest first; at most `top` axes), one line per
    configuration coloured by its metric, the best drawn last. A line stops where a hyperparameter is
    inactive."""
    enc = imp.extra.get("encoded")
    if enc is None:
        raise errors.AnalysisError("parallel coordinates need the Importance's encoded table")
    varying = {n for n, v in zip(enc.names, enc.varying) if v}
    if order is None:
        order = [imp.names[j] for j in np.argsort(-imp.share, kind="stable")]
    axes_ = [n for n in order if n in varying][:top]
    metric = enc.metric
    value = metric.sign * enc.y
    rank = np.argsort(enc.y, kind="stable")  # worst first: the best on top
    X = enc.X[:, [enc.names.index(n) for n in axes_]]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(axes_) + 2), 4.2))
    cmap = plt.get_cmap("viridis" if metric.maximize else "viridis_r")
    norm = matplotlib.colors.Normalize(np.nanmin(value), np.nanmax(value))
    for r in rank:
        ax.plot(np.arange(len(axes_)), X[r], color=cmap(norm(value[r])), lw=0.9, alpha=0.75)
    for a, n in enumerate(axes_):
        ax.axvline(a, color="0.6", lw=0.6, zorder=0)
        k = spaces.cells(space, n)
        ticks = (np.arange(k) + 0.5) / k if k is not None and k <= 6 else np.array([0.0, 0.5, 1.0])
        for t in ticks:
            v = spaces.from_unit(space, n, float(t))
            ax.text(a + 0.04, t, f"{v:.3g}" if isinstance(v, float) else str(v), fontsize=6, va="center",
                    color="0.25")
    ax.set_xticks(np.arange(len(axes_)))
    ax.set_xticklabels(axes_, rotation=30, ha="right", fontsize=8)
    ax.set_yticks([])
    ax.set_xlim(-0.2, len(axes_) - 0.5)
    ax.set_ylim(-0.04, 1.04)
    ax.set_title(f"{len(enc.y)} configurations at {imp.fidelity.label}; axes by importance, left first", fontsize=8)
    fig.colorbar(matplotlib.cm.ScalarMappable(norm, cmap), ax=ax, label=f"{metric.name} ({metric.direction})")
    return save(fig, stem)


def rankings(low, probe, stem: Path) -> list[Path]:
    """The cheap fidelity against the probe: each hyperparameter's importance share at both, and each
    configuration's metric at both (configurations evaluated at both; their Spearman in the titles)."""
    from scipy.stats import spearmanr
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4.3))
    a1.plot([0, 1], [0, 1], color="0.7", lw=0.8, ls="--")
    a1.scatter(low.share, probe.share, s=18)
    for n, x, y in zip(low.names, low.share, probe.share):
        if max(x, y) > 0.02:
            a1.annotate(n, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    r = spearmanr(low.share, probe.share).statistic
    a1.set_title(f"importance shares (Spearman {r:.2f}, {len(low.names)} hyperparameters)", fontsize=9)
    a1.set_xlabel(f"share at {low.fidelity.label}", fontsize=8)
    a1.set_ylabel(f"share at {probe.fidelity.label}", fontsize=8)
    ea, eb = low.extra["encoded"], probe.extra["encoded"]
    m = ea.metric
    ya = pd.Series(m.sign * ea.y, index=ea.keys).groupby(level=0).mean()
    yb = pd.Series(m.sign * eb.y, index=eb.keys).groupby(level=0).mean()
    common = ya.index.intersection(yb.index)
    a2.scatter(ya[common], yb[common], s=18, color="C1")
    r = spearmanr(ya[common], yb[common]).statistic if len(common) >= 3 else np.nan
    a2.set_title(f"{m.name} of the configurations at both (Spearman {r:.2f}, {len(common)} configurations)",
                 fontsize=9)
    a2.set_xlabel(f"{m.name} at {low.fidelity.label}", fontsize=8)
    a2.set_ylabel(f"{m.name} at {probe.fidelity.label}", fontsize=8)
    for ax in (a1, a2):
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return save(fig, stem)


def decision(dec, stem: Path) -> list[Path]:
    """Shares at the cheap fidelity, coloured by action, and their running sum on the same axis (both
    are shares of the variance, so one scale)."""
    t = dec.table()
    colour = {"tune": "tab:green", "fix": "tab:gray", "held": "tab:blue", "removed": "lightgray"}
    fig, ax = plt.subplots(figsize=(8, 0.3 * len(t) + 2))
    y = np.arange(len(t))
    ax.barh(y, t.share, color=[colour[a] for a in t.action])
    ax.plot(np.cumsum(t.share), y, "k.-", lw=0.8, label="running sum of the shares, top down")
    ax.set_yticks(y)
    ax.set_yticklabels([f"{h} ({a}{'=' + repr(v) if a == 'fix' else ''})" for h, a, v in
                        zip(t.hp, t.action, t.value)], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.02)
    ax.legend(fontsize=7, loc="lower right")
    a = dec.agreement
    agr = f"{a['estimate']:.2f} [{a['lower']:.2f}, {a['upper']:.2f}]" if "estimate" in a else "no probe"
    fig.suptitle(f"{dec.verdict}: tune {len(dec.tune)}, fix {len(dec.fix)}, removed {len(dec.removed)}"
                 f" | {a['statistic']} {agr}", fontsize=9, y=1.0)
    ax.set_xlabel("share of explained variance at the cheap fidelity")
    ax.grid(axis="x", alpha=0.3)
    return save(fig, stem)
