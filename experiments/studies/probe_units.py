"""The scope's probe in whole programs: what it costs the agreement estimate, on recorded studies.

`hpobench.experiments.scope.probed` trains at the probe whole units of the low fidelity's programs (K
configurations sharing depth, width and batch size) instead of one configuration per unit, so that
the probe builds no program anew. Its n_probe configurations then hold about n_probe / K independent
draws of those three. This study measures what that does to the guard's statistic, Spearman's rho
between the low fidelity and the probe on the probe's configurations, and to rho between the probe
and the full fidelity, on recorded studies where every configuration has every fidelity: per table,
`--draws` samples of n_probe configurations, either independent (`iid`) or in units of K sharing the
static part (`units of K`: n_probe // K units of distinct static parts, the rest one more unit's
members), each rho compared with its value on all the table's configurations (`truth`).

    python -m hpobench.experiments.studies.probe_units --out results/probe_units

The fidelities are the live strategies' (`strategies.Setup`: low 2 epochs on 2.5% of the data, probe
4 epochs on 5%, both at the table's smallest resolution; full: the table's largest fidelity).
Writes `summary.json` and `summary.md` (per table and design: the mean, standard deviation and root
mean squared error of each rho against its truth).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from hpobench import spaces
from hpobench.analysis import encode, trials
from hpobench.benchmarks import tabular
from hpobench.experiments.studies.strategies import LIVES, Setup

TABLES = ("results/cifar10_cpu_v2/evaluations.parquet", LIVES["resnet/fashion_mnist-cpu"][0])
STATIC = ("depth", "width", "batch_size")


def matrix(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Per configuration: F1 at the low fidelity, the probe and the full fidelity (columns low, probe,
    full; configurations with all three), and its static part."""
    res = int(df["fidelity.resolution"].min())
    s = Setup()
    fids = {"low": s.low | {"resolution": res}, "probe": s.probe | {"resolution": res},
            "full": trials.fidelities(df)[-1]}
    df = df.assign(key=encode.config_keys(df, spaces.resnet()))
    m = pd.DataFrame({name: trials.at(df, f).groupby("key")["f1"].mean() for name, f in fids.items()}).dropna()
    static = df.drop_duplicates("key").set_index("key").loc[m.index, [f"config.{x}" for x in STATIC]]
    return m, static.astype(str).agg("/".join, axis=1)


def draws(static: pd.Series, n: int, k: int, count: int, seed: int = 0) -> list[np.ndarray]:
    """`count` samples of `n` positions: independent (k = 1), or n // k units of k from distinct static
    parts and the rest from one more (each unit's members drawn without replacement)."""
    rng = np.random.default_rng(seed)
    if k == 1:
        return [rng.choice(len(static), n, replace=False) for _ in range(count)]
    members = [np.flatnonzero(static.values == s) for s in static.unique()]
    members = [g for g in members if len(g) >= k]
    units, rest = divmod(n, k)
    out = []
    for _ in range(count):
        parts = rng.choice(len(members), units + bool(rest), replace=False)
        sizes = [k] * units + ([rest] if rest else [])
        out.append(np.concatenate([rng.choice(members[p], size, replace=False) for p, size in zip(parts, sizes)]))
    return out


def rho(a: np.ndarray, b: np.ndarray) -> float:
    return float(stats.spearmanr(a, b)[0])


def summarise(m: pd.DataFrame, static: pd.Series, n: int, ks: list[int], count: int) -> list[dict]:
    truth = {"low~probe": rho(m["low"], m["probe"]), "probe~full": rho(m["probe"], m["full"])}
    rows = []
    for k in [1, *ks]:
        est = {name: np.array([rho(m[a].values[i], m[b].values[i]) for i in draws(static, n, k, count, seed=k)])
               for name, (a, b) in {"low~probe": ("low", "probe"), "probe~full": ("probe", "full")}.items()}
        for name, e in est.items():
            rows.append({"design": "iid" if k == 1 else f"units of {k}", "rho": name, "truth": truth[name],
                         "mean": float(np.nanmean(e)), "sd": float(np.nanstd(e)),
                         "rmse": float(np.sqrt(np.nanmean((e - truth[name]) ** 2)))})
    return rows


def markdown(out: dict, argv, seconds: float) -> str:
    lines = ["# The probe in whole programs: Spearman's rho from n_probe configurations", "",
             f"`python -m hpobench.experiments.studies.probe_units {' '.join(argv)}` ({seconds:.0f} s)", ""]
    for table, t in out.items():
        lines += [f"## {table} ({t['configs']} configurations, {t['static_parts']} static parts, "
                  f"n_probe = {t['n']}, {t['draws']} draws)", "",
                  "| design | rho | truth | mean | sd | rmse |", "|---|---|---|---|---|---|"]
        lines += ["| " + " | ".join([r["design"], r["rho"], *(f"{r[x]:.3f}" for x in ("truth", "mean", "sd", "rmse"))])
                  + " |" for r in t["rows"]]
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tables", nargs="+", default=list(TABLES))
    p.add_argument("--n", type=int, default=Setup().n_probe, help="configurations at the probe")
    p.add_argument("--k", type=int, nargs="+", default=[2, 3], help="unit sizes (the scope's K)")
    p.add_argument("--draws", type=int, default=2000)
    p.add_argument("--out", type=Path, default=Path("results/probe_units"))
    args = p.parse_args(argv)
    if args.n < 3 or args.draws < 1 or any(k < 2 or k > args.n for k in args.k):
        p.error("need --n >= 3, --draws >= 1 and every --k in [2, n]")
    args.out.mkdir(parents=True, exist_ok=True)
    t0, out = time.perf_counter(), {}
    for table in args.tables:
        m, static = matrix(tabular.read(table))
        out[table] = {"configs": len(m), "static_parts": int(static.nunique()), "n": args.n, "draws": args.draws,
                      "rows": summarise(m, static, args.n, args.k, args.draws)}
    (args.out / "summary.json").write_text(json.dumps(out, indent=1))
    text = markdown(out, argv if argv is not None else sys.argv[1:], time.perf_counter() - t0)
    (args.out / "summary.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
