"""How often the narrowed ranges hold the full-fidelity best configurations, on study v2 (issue 31, item 3).

Study v2 (results/cifar10_cpu_v2: 401 configurations, the default included, each trained at 10
fidelities, the full one among them) is read once (`load`). For each rung (the 9 cheap ones, and the
full one as the reference), each sample size n in (40, 100) and each resample r < 20:

- n configurations are drawn as `experiments/studies/strategies.py` draws a seed's (`_chosen`): the
  default and n - 1 others at random (`numpy.random.default_rng(r)`: the same configurations at every
  rung);
- the anchor is the best of them at that rung, S = `tunability.choose(enc, anchor, 10)` (the set to
  tune with 10 full trainings, `n_boot` resamples) and its narrowed ranges
  `tunability.ranges(point surrogate, space, anchor, S)`;
- a configuration is inside the narrowed space when each hyperparameter of S is inside its range (a
  numeric one between the bounds, a categorical one among the kept levels; inactive in that
  configuration, or left whole by `ranges`, counts as inside).

Measured, with the full fidelity known for all 401: coverage, the share of the full-fidelity top 10
inside; chance, the share of all 401 inside (the narrowed space's volume as the recorded
configurations sample it); enrichment = mean coverage / mean chance. An empty S narrows nothing
(coverage = chance = 1).

Outputs (--out, default results/scope_ranges/): runs.csv (one row per rung, n and resample, appended
as they finish: an interrupted run resumes with the same command), settings.json, summary.md (per rung
and n, and per hyperparameter: how often its range narrowed and what its range alone holds).

    nice -n 15 .venv/bin/python -m hpobench.experiments.studies.scope_ranges
    .venv/bin/python -m hpobench.experiments.studies.scope_ranges --quick --out /tmp/sr  # ~1 min
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from ConfigSpace.hyperparameters import IntegerHyperparameter

from hpobench import records, spaces
from hpobench.analysis import encode, paired, trials, tunability
from hpobench.fidelity import Fidelity

OUT = Path("results/scope_ranges")
RECORD = Path("results/cifar10_cpu_v2")
TOP = 10  # the full-fidelity best configurations the narrowed space should hold


@dataclass(frozen=True)
class Setup:
    sizes: tuple = (40, 100)  # configurations drawn per resample (the default included)
    resamples: int = 20
    budget: int = 10  # `choose`'s n: full trainings the user will tune with
    n_boot: int = 10
    rungs: int | None = None  # the first k cheap rungs (cheapest first); None: all


QUICK = Setup(sizes=(40,), resamples=2, n_boot=3, rungs=1)


def load(record: Path = RECORD):
    """The study's trials and space: the one place the record is read."""
    df, space, _ = records.read(record)
    return df, space


def rungs(df: pd.DataFrame) -> tuple[list[dict], dict]:
    """The cheap fidelities (cheapest first) and the full one (the costliest)."""
    fids = trials.fidelities(df)
    cost = [trials.at(df, f)["cost"].median() for f in fids]
    order = np.argsort(cost, kind="stable")
    return [fids[i] for i in order[:-1]], fids[order[-1]]


def drawn(ids: list[int], n: int, resample: int) -> list[int]:
    """The default (id 0) and n - 1 other ids at random (strategies.py's `_chosen`)."""
    if n > len(ids):
        raise ValueError(f"{n} configurations asked of a study holding {len(ids)}")
    rest = [i for i in ids if i != 0]
    return ([0] if 0 in ids else []) + np.random.default_rng(resample).choice(rest, n - (0 in ids),
                                                                               replace=False).tolist()


def inside(space, configs: pd.DataFrame, ranges: dict) -> np.ndarray:
    """Whether each configuration (rows of `config.<hp>` columns) lies in the narrowed ranges."""
    ok = np.ones(len(configs), bool)
    for name, r in ranges.items():
        u = encode.to_unit(space, name, configs[trials.CONFIG + name].to_numpy(object))
        active = np.isfinite(u)
        if isinstance(r, tuple):
            x = pd.to_numeric(configs[trials.CONFIG + name], errors="coerce").to_numpy(float)
            hit = (x >= r[0]) & (x <= r[1])
        else:
            hit = np.isin(u, encode.to_unit(space, name, np.array(r, dtype=object)))
        ok &= ~active | hit
    return ok


def one(df: pd.DataFrame, space, fid: dict, full: pd.DataFrame, n: int, resample: int, s: Setup) -> dict:
    """One rung, sample size and resample: the chosen set, its ranges and what they hold."""
    t0 = time.process_time()
    at = trials.at(df, fid)
    sub = at[at["config_id"].isin(drawn(sorted(at["config_id"].unique()), n, resample))]
    ok = sub[sub["status"] == "ok"]
    best = ok.loc[ok["f1"].idxmax()]
    anchor = spaces.typed(space, {k: best[trials.CONFIG + k] for k in trials.config_columns(sub)})
    enc = encode.encode(sub, space, fidelity=fid)
    sur = tunability.fit_all(enc, s.n_boot, resample)
    ch = tunability.choose(enc, anchor, s.budget, surrogates=sur, seed=resample)
    r = tunability.ranges(sur[0], space, anchor, ch.tune, seed=resample) if ch.tune else {}
    hold = inside(space, full, r)
    top = full.sort_values(["f1", "config_id"], ascending=[False, True]).index[:TOP]
    f1 = full["f1"].to_numpy(float)
    anchor_full = f1[full["config_id"].to_numpy() == best["config_id"]][0]
    return dict(rung=Fidelity.of(fid).label, n=n, resample=resample, tuned=json.dumps(ch.tune), size=len(ch.tune),
                ranges=json.dumps(r, default=str), anchor_id=int(best["config_id"]),
                anchor_full_rank=int((f1 > anchor_full).sum()) + 1,
                coverage=float(hold[full.index.get_indexer(top)].mean()), chance=float(hold.mean()),
                best_inside=float(f1[hold].max()), best=float(f1.max()), cpu_s=time.process_time() - t0)


def run(s: Setup, out: Path, record: Path = RECORD, limit: int | None = None, progress: bool = True) -> pd.DataFrame:
    """Every (rung, n, resample) not yet in out/runs.csv (at most `limit`), then the summary."""
    df, space = load(record)
    cheap, full_fid = rungs(df)
    cheap = cheap[: s.rungs] if s.rungs is not None else cheap
    full = trials.at(df, full_fid).reset_index(drop=True)
    if full["status"].ne("ok").any() or full["config_id"].duplicated().any():
        raise ValueError(f"{record}: the full fidelity must hold one successful training per configuration")
    out.mkdir(parents=True, exist_ok=True)
    settings = {"setup": asdict(s), "record": str(record), "rows": len(df), "top": TOP,
                "tunability": {"DRAWS": tunability.DRAWS, "QUANTILE": tunability.QUANTILE,
                               "SLACK": tunability.SLACK, "PAIR": tunability.PAIR,
                               "FILLS": tunability.FILLS}}
    f = out / "settings.json"
    if f.exists() and json.loads(f.read_text()) != json.loads(json.dumps(settings)):
        raise SystemExit(f"error: {out} holds a run with other settings ({f}); use another --out")
    f.write_text(json.dumps(settings, indent=1))
    path = out / "runs.csv"
    done = set()
    if path.exists():
        old = pd.read_csv(path)
        done = set(zip(old["rung"], old["n"], old["resample"]))
    for r in range(s.resamples):  # resample-major: a partial run covers every rung
        for n in s.sizes:
            for fid in [*cheap, full_fid]:
                if (Fidelity.of(fid).label, n, r) in done:
                    continue
                if limit is not None and limit <= 0:
                    break
                row = one(df, space, fid, full, n, r, s)
                pd.DataFrame([row]).to_csv(path, mode="a", header=not path.exists(), index=False)
                limit = None if limit is None else limit - 1
                if progress:
                    print(f"{row['rung']} n={n} r={r}: {row['size']} tuned, coverage {row['coverage']:.2f}, "
                          f"chance {row['chance']:.3f}, {row['cpu_s']:.0f} CPU-s", flush=True)
    out_df = pd.read_csv(path)
    (out / "summary.md").write_text(summary(out_df, s, Fidelity.of(full_fid).label, full, space))
    (out / "summary.json").write_text(json.dumps(figures(out_df, full, space), indent=1))
    return out_df


def figures(df: pd.DataFrame, full: pd.DataFrame, space) -> dict:
    """What the paper quotes: over the (rung, n) cells, the range of mean coverage, chance, enrichment and
    set size; per hyperparameter the share of runs tuning it whose range was narrowed."""
    g = df.groupby(["rung", "n"])
    cov, chance, size = g["coverage"].mean(), g["chance"].mean(), g["size"].mean()
    span = {k: [float(v.min()), float(v.max())] for k, v in
            {"coverage": cov, "chance": chance, "enrichment": cov / chance, "size": size}.items()}
    narrowed = {r["hyperparameter"]: float(r["narrowed"]) for _, r in per_hp(df, full, space).iterrows()}
    return {"cells": len(cov), "resamples": int(g.size().max()), "top": TOP, "configurations": len(full),
            **span, "narrowed": narrowed}


def table(df: pd.DataFrame, full_label: str) -> pd.DataFrame:
    """Per rung and n: coverage of the top 10 with its interval over resamples, chance, enrichment."""
    rows = []
    for (rung, n), g in df.groupby(["rung", "n"], sort=False):
        cov, lo, hi = paired.mean_interval(g["coverage"])
        d = paired.mean_interval(g["coverage"] - g["chance"])
        rows.append({"rung": rung + (" (full: reference)" if rung == full_label else ""), "n": n,
                     "resamples": len(g), "tuned (mean)": f"{g['size'].mean():.1f}",
                     "coverage of top 10": f"{cov:.3f} [{lo:.3f}, {hi:.3f}]" if np.isfinite(lo) else f"{cov:.3f}",
                     "chance": f"{g['chance'].mean():.3f}", "enrichment": f"{cov / g['chance'].mean():.2f}",
                     "coverage - chance": f"{d[0]:+.3f} [{d[1]:+.3f}, {d[2]:+.3f}]" if np.isfinite(d[1])
                     else f"{d[0]:+.3f}",
                     "best inside / best": f"{(g['best_inside'] / g['best']).mean():.3f}"})
    return pd.DataFrame(rows).sort_values(["n"], kind="stable")


def summary(df: pd.DataFrame, s: Setup, full_label: str, full: pd.DataFrame, space) -> str:
    n_configs = len(full)
    lines = [f"# Narrowed ranges against the full-fidelity top {TOP}, study v2 ({n_configs} configurations)", "",
             f"Per rung and sample size n: {df.groupby(['rung', 'n']).size().max()} resamples of n configurations "
             f"(the default + n - 1 at random, the same at every rung); anchor = the best at the rung; "
             f"S = `tunability.choose(n={s.budget})` ({s.n_boot} resamples); ranges = `tunability.ranges` for S. "
             f"coverage: share of the full-fidelity top {TOP} inside S's ranges (90% bootstrap interval over "
             f"resamples); chance: share of all {n_configs} inside (the narrowed volume); enrichment = coverage / "
             f"chance; best inside / best: the best full-fidelity F1 inside the narrowed ranges over the best of all. "
             f"An empty S narrows nothing (coverage = chance = 1).", "",
             table(df, full_label).to_markdown(index=False, disable_numparse=True), "",
             "## Per hyperparameter", "",
             "Over the runs (all rungs and n) that tuned it: how often its range was narrowed (some recorded "
             f"configuration outside it), and the share of the top {TOP} and of all {n_configs} inside its range "
             "alone (inactive counts as inside).", "",
             per_hp(df, full, space).to_markdown(index=False, disable_numparse=True), "",
             f"CPU: {df['cpu_s'].sum() / 60:.1f} min.", ""]
    return "\n".join(lines)


def parse(space, ranges: str) -> dict:
    """A row's ranges as `tunability.ranges` gave them: (low, high) for a numeric hp, levels otherwise."""
    return {k: v if spaces.cells(space, k) is not None and not isinstance(space[k], IntegerHyperparameter)
            else tuple(v) for k, v in json.loads(ranges).items()}


def per_hp(df: pd.DataFrame, full: pd.DataFrame, space) -> pd.DataFrame:
    """Per tuned hyperparameter: runs that tuned it, share narrowed, mean coverage and chance of its range alone."""
    top = full.sort_values(["f1", "config_id"], ascending=[False, True]).index[:TOP]
    stats = {}
    for tuned, r in zip(df["tuned"], df["ranges"]):
        rng = parse(space, r)
        for name in json.loads(tuned):
            hold = inside(space, full, {name: rng[name]} if name in rng else {})
            stats.setdefault(name, []).append((hold.mean() < 1, hold[full.index.get_indexer(top)].mean(), hold.mean()))
    rows = []
    for k, v in sorted(stats.items(), key=lambda kv: -len(kv[1])):
        narrowed, cov, chance = np.mean(v, axis=0)
        rows.append({"hyperparameter": k, "tuned in": f"{len(v) / len(df):.2f}", "narrowed": f"{narrowed:.2f}",
                     "coverage of top 10": f"{cov:.3f}", "chance": f"{chance:.3f}"})
    return pd.DataFrame(rows)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=None, help=f"results folder (default {OUT}; --quick: required)")
    p.add_argument("--record", type=Path, default=RECORD, help="the study's grid folder")
    p.add_argument("--quick", action="store_true", help="the cheapest rung and the full one, 2 resamples of 40")
    p.add_argument("--limit", type=int, default=None, help="at most this many new (rung, n, resample) runs")
    a = p.parse_args(argv)
    if a.quick and a.out is None:
        p.error("--quick needs --out (it must not write into the recorded results)")
    run(QUICK if a.quick else Setup(), a.out or OUT, a.record, a.limit)
    print(((a.out or OUT) / "summary.md").read_text())


if __name__ == "__main__":
    main()
