"""What tuning the chosen subset buys, against exact truth on the synthetic family (issue 31).

Instances: `hpobench.get("synthetic", agreement=a, seed=s)` for designed agreements 1 and 0.5 and
seeds 0-9 (12 hyperparameters, two of them conditional on `branch`; the top 3% of the learning
rate's range diverges). Per instance:

- the scope's data, sampled as the main job samples it (`experiments/scope.py`): the default plus
  `n_low - 1` random configurations (`spaces.sample`, the instance's seed) at the low fidelity
  `scope.plan` picks for a scope budget of 300 with `n_low` configurations, evaluated with the
  instance's noise; the anchor is the best of them there (observed F1);
- for each budget N in (10, 30, 100), the set S = `tunability.choose(enc, anchor, N)` (one bagged
  set of surrogates, fitted once, serves the three budgets);
- the truth: the instance made with noise=0 (`synthetic.noise_free`, full fidelity; a diverged run
  scores 0, the metric's worst value) on `draws` draws common to every set, each hyperparameter's
  unit code uniform (`tunability.Geometry.uniform`, ConfigSpace's sampling), the rest at the anchor
  (an anchor's inactive hyperparameter at its default, as `Geometry.compose`):

      V(S, N) = E[best of N draws],  exact for the draws' empirical distribution (`expected_max`),

  for every one of the 2^12 = 4096 subsets, so the best subset of each size and the best overall
  are exact for these draws. Tuning everything: `all (random)` = V(all 12, N), where the anchor
  plays no part; `all (anchor)` = E[max(f(a), best of N - 1 random configurations)], the anchor
  spending one of the N trainings; the chosen set is scored that way too (`chosen (anchor)`), for a
  like-for-like comparison.

Outputs (--out, default results/tunability_synthetic/): runs.csv (one row per instance and N,
appended per instance: an interrupted run resumes with the same command), paths.csv (the true V of
every set on each greedy path: whether the regret is the path's or the choice's), settings.json,
summary.md.
Nothing is tuned on the evaluation instances (no calibration stage).

    nice -n 15 .venv/bin/python -m hpobench.experiments.studies.tunability_synthetic
    .venv/bin/python -m hpobench.experiments.studies.tunability_synthetic --quick --out /tmp/ts  # seconds
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

import hpobench
from hpobench import spaces
from hpobench.analysis import encode, paired, sample, trials, tunability
from hpobench.benchmarks import synthetic
from hpobench.experiments import scope

OUT = Path("results/tunability_synthetic")
TOLERANCES = (0.0, 0.05, 0.1, 0.2, 0.3)  # `tolerances`: the rule's parameter, measured on the same paths
TIE = 1e-3  # |difference| in F1 below which two arms tie: several Monte Carlo sds of a difference (README)


@dataclass(frozen=True)
class Setup:
    agreements: tuple = (1.0, 0.5)
    seeds: tuple = tuple(range(10))
    budgets: tuple = (10, 30, 100)  # N: full-fidelity trainings the user tunes with
    scope_budget: float = 300.0  # cost units; `scope.plan` picks the low fidelity from it
    n_low: int = 80
    n_boot: int = 20
    draws: int = 20_000  # truth: Monte Carlo draws common to every subset


QUICK = Setup(agreements=(1.0,), seeds=(0,), n_low=40, n_boot=4, draws=2000)


def instance(agreement: float, seed: int):
    """The instance as registered (noisy) and the same instance made with noise=0 (the truth)."""
    return (hpobench.get("synthetic", agreement=agreement, seed=seed),
            hpobench.get("synthetic", agreement=agreement, seed=seed, noise=0.0))


def scope_data(bench, s: Setup, seed: int):
    """The main job's low-fidelity sample (module docstring): the table, its encoding, the anchor."""
    p = scope.plan(bench, s.scope_budget, n_low=s.n_low)
    df = sample.table(bench, s.n_low, [p.low], seed=seed, eval_seed=seed)
    ok = df[df["status"] == "ok"]
    best = ok.loc[ok["f1"].idxmax()]
    anchor = spaces.typed(bench.config_space, {n: best[trials.CONFIG + n] for n in trials.config_columns(df)})
    return p.low, df, encode.encode(df, bench.config_space, fidelity=p.low), anchor


def columns(space, U: np.ndarray) -> dict[str, np.ndarray]:
    """Unit codes (one column per hyperparameter, space order) as value arrays: floats, or labels."""
    out = {}
    for j, name in enumerate(space):
        v = [spaces.from_unit(space, name, u) for u in U[:, j]]
        out[name] = np.array(v, dtype=str if isinstance(v[0], str) else float)
    return out


class Truth:
    """V(S, N) on the noise-free instance for every subset S (bit j: the j-th hyperparameter),
    the anchor and the draws fixed (module docstring)."""

    def __init__(self, clean, anchor: dict, draws: int, seed: int):
        self.clean, space = clean, clean.config_space
        self.names = list(space)
        geo = tunability.Geometry.of(space)
        self.draw = columns(space, geo.uniform(draws, seed))
        fixed = {n: anchor.get(n, space[n].default_value) for n in self.names}
        self.fixed = {n: np.full(draws, v, dtype=self.draw[n].dtype) for n, v in fixed.items()}
        self.f_anchor = self.values(0)[0]

    def mask(self, names) -> int:
        return sum(1 << self.names.index(n) for n in names)

    def values(self, mask: int) -> np.ndarray:
        cols = {n: self.draw[n] if mask >> j & 1 else self.fixed[n] for j, n in enumerate(self.names)}
        return np.nan_to_num(synthetic.noise_free(self.clean, cols), nan=0.0)  # diverged: 0, the worst F1

    def every(self, budgets) -> np.ndarray:
        """V of every subset (rows: masks 0 .. 2^d - 1) at each budget (columns)."""
        V = np.empty((1 << len(self.names), len(budgets)))
        for m in range(len(V)):
            v = self.values(m)
            V[m] = [tunability.expected_max(v, n) for n in budgets]
        return V

    def from_anchor(self, mask: int, n: int) -> float:
        """E[max(f(a), best of n - 1 draws)]: the anchor spends one of the n trainings."""
        return tunability.expected_max(np.maximum(self.values(mask), self.f_anchor), n - 1) if n > 1 \
            else self.f_anchor


def one(agreement: float, seed: int, s: Setup) -> list[dict]:
    """One instance's rows, one per budget N."""
    t0 = time.perf_counter()
    bench, clean = instance(agreement, seed)
    low, df, enc, anchor = scope_data(bench, s, seed)
    names = trials.config_columns(df)
    configs = [spaces.typed(bench.config_space, dict(zip(names, r)))
               for r in df[[trials.CONFIG + n for n in names]].itertuples(index=False)]
    ok = (df["status"] == "ok").to_numpy()
    observed = df["f1"].to_numpy(float)
    clean_low = np.array([r.f1 if r.status == "ok" else np.nan for r in (clean.evaluate(c, low) for c in configs)])
    check = float(np.nanmax(np.abs(synthetic.noise_free(clean, pd.DataFrame(configs), low) - clean_low)))
    if not check < 1e-9:
        raise RuntimeError(f"synthetic.noise_free differs from the noise-free instance by {check:.3g}")
    sur = tunability.fit_all(enc, s.n_boot, seed)
    chosen = {n: tunability.choose(enc, anchor, n, surrogates=sur, seed=seed) for n in s.budgets}
    t_choose = time.perf_counter() - t0
    truth = Truth(clean, anchor, s.draws, 10_000 + seed)
    V = truth.every(s.budgets)
    size = np.array([bin(m).count("1") for m in range(len(V))])
    everything = len(V) - 1
    rows = []
    for i, n in enumerate(s.budgets):
        ch = chosen[n]
        m = truth.mask(ch.tune)
        best_by_size = [int(np.flatnonzero(size == k)[np.argmax(V[size == k, i])]) for k in range(size.max() + 1)]
        best = int(np.argmax(V[:, i]))
        rows.append(dict(
            agreement=agreement, seed=seed, instance=bench.name, n=n, low=json.dumps(low), n_ok=int(ok.sum()),
            resid_sd=float(np.std(observed[ok] - clean_low[ok])), check=check,
            anchor=json.dumps(anchor, default=str), f_anchor=truth.f_anchor,
            chosen=json.dumps(ch.tune), size=len(ch.tune), path=json.dumps([list(st.added) for st in ch.steps]),
            est_gain=ch.gain, est_lower=ch.lower, est_upper=ch.upper,
            path_est=json.dumps([ch.anchor_value] + [st.value for st in ch.steps]),  # bagged V per path set
            path_lower=json.dumps([st.lower for st in ch.steps]),  # interval of each step's rise
            v_chosen=V[m, i], v_same=V[best_by_size[len(ch.tune)], i],
            same=json.dumps(_names(truth, best_by_size[len(ch.tune)])),
            v_best=V[best, i], best=json.dumps(_names(truth, best)), best_size=int(size[best]),
            v_all=V[everything, i], v_chosen_anchor=truth.from_anchor(m, n),
            v_all_anchor=truth.from_anchor(everything, n),
            by_size=json.dumps([round(float(V[b, i]), 6) for b in best_by_size]),
            seconds_choose=t_choose, seconds=time.perf_counter() - t0))
    return rows


def _names(truth: Truth, mask: int) -> list[str]:
    return [n for j, n in enumerate(truth.names) if mask >> j & 1]


def run(s: Setup, out: Path, limit: int | None = None, progress: bool = True) -> pd.DataFrame:
    """Every instance not yet in out/runs.csv (at most `limit` of them), then the summary."""
    out.mkdir(parents=True, exist_ok=True)
    settings = {"setup": asdict(s), "draws_seed": "10000 + instance seed",
                "tunability": {"DRAWS": tunability.DRAWS, "PAIR": tunability.PAIR,
                               "FILLS": tunability.FILLS, "TOLERANCE": tunability.TOLERANCE}}
    f = out / "settings.json"
    if f.exists() and json.loads(f.read_text()) != json.loads(json.dumps(settings)):
        raise SystemExit(f"error: {out} holds a run with other settings ({f}); use another --out")
    f.write_text(json.dumps(settings, indent=1))
    path = out / "runs.csv"
    for a in s.agreements:
        for seed in s.seeds:
            done = pd.read_csv(path) if path.exists() else pd.DataFrame(columns=["agreement", "seed"])
            if ((done["agreement"] == a) & (done["seed"] == seed)).any():
                continue
            if limit is not None and limit <= 0:
                break
            rows = one(a, seed, s)
            pd.DataFrame(rows).to_csv(path, mode="a", header=not path.exists(), index=False)
            limit = None if limit is None else limit - 1
            if progress:
                print(f"agreement {a:g} seed {seed}: sizes {[r['size'] for r in rows]}, regret vs best "
                      f"{[round(float(r['v_best'] - r['v_chosen']), 4) for r in rows]}, {rows[-1]['seconds']:.0f} s",
                      flush=True)
    df = pd.read_csv(path)
    (out / "summary.md").write_text(summary(df, s, paths(df, s, out)))
    (out / "summary.json").write_text(json.dumps(figures(df), indent=1))
    return df


def _interval(x) -> dict:
    m, lo, hi = paired.mean_interval(np.asarray(x, float))
    return {"mean": m, "lower": lo, "upper": hi}


def figures(df: pd.DataFrame) -> dict:
    """What the paper quotes: per N the mean chosen and true best sizes, the regret against the best
    subset and the gain over tuning everything (90% paired intervals over instances, wins/ties/losses),
    and the chosen size at the largest N minus at the smallest."""
    per_n = {}
    for n, g in df.groupby("n"):
        t = paired.sign_test(np.asarray(g.v_chosen - g.v_all, float), TIE)
        per_n[str(n)] = {"instances": len(g), "size": g["size"].mean(), "best_size": g["best_size"].mean(),
                         "regret": _interval(g.v_best - g.v_chosen), "versus_all": _interval(g.v_chosen - g.v_all),
                         "wins_ties_losses": [t["above"], t["ties"], t["below"]]}
    sizes = df.pivot_table(index=["agreement", "seed"], columns="n", values="size")
    lo, hi = sizes.columns.min(), sizes.columns.max()
    return {"per_n": per_n, "grows": {"from": int(lo), "to": int(hi), **_interval(sizes[hi] - sizes[lo])}}


def paths(df: pd.DataFrame, s: Setup, out: Path) -> pd.DataFrame:
    """The true V of every set on each greedy path (where a regret comes from: a path that misses the
    best sets, or the choice along it), computed once per instance into out/paths.csv."""
    f = out / "paths.csv"
    old = pd.read_csv(f) if f.exists() else pd.DataFrame(columns=["agreement", "seed"])
    for (a, seed), g in df.groupby(["agreement", "seed"]):
        if ((old["agreement"] == a) & (old["seed"] == seed)).any():
            continue
        _, clean = instance(a, seed)
        truth = Truth(clean, json.loads(g["anchor"].iloc[0]), s.draws, 10_000 + seed)
        rows = []
        for r in g.itertuples():
            for k, S in enumerate(_sets(r.path)):
                rows.append(dict(agreement=a, seed=seed, n=r.n, step=k, size=len(S), chosen=len(S) == r.size,
                                 v_true=tunability.expected_max(truth.values(truth.mask(S)), r.n)))
        pd.DataFrame(rows).to_csv(f, mode="a", header=not f.exists(), index=False)
    return pd.read_csv(f)


def _sets(path: str) -> list[list[str]]:
    """The sets along a recorded greedy path (`runs.csv`'s `path`: what each step added), the empty one first."""
    sets = [[]]
    for added in json.loads(path):
        sets.append(sets[-1] + added)
    return sets


def sources(df: pd.DataFrame, p: pd.DataFrame) -> pd.DataFrame:
    """Per N: the regret split into the path's (best overall - best on the path) and the choice's (best
    on the path - chosen), and how often the chosen set is larger or smaller than the path's best."""
    on = p.groupby(["agreement", "seed", "n"]).apply(
        lambda g: pd.Series({"v_path": g["v_true"].max(), "path_size": int(g.loc[g["v_true"].idxmax(), "size"])}),
        include_groups=False).reset_index()
    m = df.merge(on, on=["agreement", "seed", "n"])
    rows = []
    for n, g in m.groupby("n"):
        rows.append({"N": n, "regret of the path (best - best on path)": _ci(g.v_best - g.v_path),
                     "regret of the choice (best on path - chosen)": _ci(g.v_path - g.v_chosen),
                     "chosen larger / equal / smaller than the path's best": f"{int((g['size'] > g.path_size).sum())}"
                     f"/{int((g['size'] == g.path_size).sum())}/{int((g['size'] < g.path_size).sum())}",
                     "estimated gain (bagged)": f"{g.est_gain.mean():.4f}",
                     "true gain (chosen - anchor)": f"{(g.v_chosen - g.f_anchor).mean():.4f}"})
    return pd.DataFrame(rows)


def tolerances(df: pd.DataFrame, p: pd.DataFrame, levels=TOLERANCES) -> pd.DataFrame:
    """Per tolerance of `tunability.choose` and N: the set it would choose on the same greedy path (from
    the bagged values recorded in `path_est`) and that set's true V (`paths.csv`): how much a smaller
    set costs against the best subset and against tuning everything."""
    v = p.set_index(["agreement", "seed", "n", "step"])["v_true"]
    rows = []
    for t in levels:
        got = []
        for r in df.itertuples():
            k = tunability.smallest(json.loads(r.path_est), t)
            got.append((r.n, len(_sets(r.path)[k]), r.v_best - v[r.agreement, r.seed, r.n, k],
                        v[r.agreement, r.seed, r.n, k] - r.v_all))
        g = pd.DataFrame(got, columns=["n", "size", "regret", "versus_all"])
        for n, h in g.groupby("n"):
            rows.append({"tolerance": t, "N": n, "size": round(h["size"].mean(), 2), "regret vs best": _ci(h.regret),
                         "chosen - all (random)": _ci(h.versus_all), "W/T/L vs all": _wtl(h.versus_all)})
    return pd.DataFrame(rows)


def _ci(x) -> str:
    i = _interval(x)
    m = f"{i['mean']:+.4f}"
    return f"{m} [{i['lower']:+.4f}, {i['upper']:+.4f}]" if np.isfinite(i["lower"]) else m


def _wtl(d) -> str:
    t = paired.sign_test(np.asarray(d, float), TIE)
    return f"{t['above']}/{t['ties']}/{t['below']}"


def table(df: pd.DataFrame) -> pd.DataFrame:
    """Per budget N: sizes, regrets and the comparisons with tuning everything (summary.md)."""
    rows = []
    for n, g in df.groupby("n"):
        rows.append({
            "N": n, "instances": len(g), "chosen size": round(g["size"].mean(), 2),
            "best size (truth)": round(g["best_size"].mean(), 2),
            "best gain over anchor": f"{(g.v_best - g.f_anchor).mean():.4f}",
            "regret vs best of its size": _ci(g.v_same - g.v_chosen),
            "regret vs best overall": _ci(g.v_best - g.v_chosen),
            "chosen - all (random)": _ci(g.v_chosen - g.v_all), "W/T/L (random)": _wtl(g.v_chosen - g.v_all),
            "chosen - all, from the anchor": _ci(g.v_chosen_anchor - g.v_all_anchor),
            "W/T/L (anchor)": _wtl(g.v_chosen_anchor - g.v_all_anchor)})
    return pd.DataFrame(rows)


def summary(df: pd.DataFrame, s: Setup, p: pd.DataFrame) -> str:
    budgets = sorted(df["n"].unique())
    sizes = df.pivot_table(index=["agreement", "seed"], columns="n", values="size")
    truth_sizes = df.pivot_table(index=["agreement", "seed"], columns="n", values="best_size")
    lo, hi = budgets[0], budgets[-1]
    monotone = int((sizes.diff(axis=1).iloc[:, 1:] >= 0).all(axis=1).sum())
    grows = (f"Chosen size, N = {hi} minus N = {lo}: {_ci(sizes[hi] - sizes[lo])} (paired over instances; "
             f"larger at N = {hi} on {int((sizes[hi] > sizes[lo]).sum())}, equal on "
             f"{int((sizes[hi] == sizes[lo]).sum())}, smaller on {int((sizes[hi] < sizes[lo]).sum())}); "
             f"non-decreasing over N = {', '.join(map(str, budgets))} on {monotone} of {len(sizes)} instances. "
             f"The true best size, N = {hi} minus N = {lo}: {_ci(truth_sizes[hi] - truth_sizes[lo])}.")
    by = df.assign(regret=df.v_best - df.v_chosen, versus_all=df.v_chosen - df.v_all).pivot_table(
        index="agreement", columns="n", values=["size", "best_size", "regret", "versus_all"], aggfunc="mean")
    by = by[[(v, n) for v in ("size", "best_size", "regret", "versus_all") for n in budgets]]
    by.columns = [f"{a} N={b}" for a, b in by.columns]
    per = df.groupby(["agreement", "seed"])[["seconds", "seconds_choose"]].first()
    missing = [(a, sd) for a in s.agreements for sd in s.seeds
               if not ((df.agreement == a) & (df.seed == sd)).any()]
    lines = [
        f"# Tunability on the synthetic family: the chosen set's true best-of-N value ({len(sizes)} instances)", "",
        f"Designed agreements {', '.join(f'{a:g}' for a in sorted(df.agreement.unique()))}, seeds "
        f"{', '.join(map(str, sorted(df.seed.unique())))}; scope data: {s.n_low} configurations at "
        f"`{df['low'].iloc[0]}` (the main job's plan for budget {s.scope_budget:g}); `tunability.choose` with "
        f"{s.n_boot} resamples; truth: the noise-free instance at full fidelity on {s.draws} draws common to "
        f"all 4096 subsets (every size: exhaustive). F1 values; 90% paired bootstrap intervals over instances; "
        f"W/T/L = chosen better / within {TIE:g} / worse.", "",
        *([f"Not yet run (resume with the same command): {missing}.", ""] if missing else []),
        "regret: V(best subset) - V(chosen), >= 0. all (random): every hyperparameter drawn, N draws; from the "
        "anchor: the anchor is one of the N trainings, for the chosen set and for all.", "",
        table(df).to_markdown(index=False, disable_numparse=True), "",
        "## Does the chosen set grow with N?", "", grows, "",
        "## By designed agreement (means)", "", by.reset_index().to_markdown(index=False, floatfmt=".4f"), "",
        "## Where the regret comes from", "",
        "The greedy path (`tunability.choose`, point surrogate) and the set chosen on it (bagged surrogate), "
        "each path set's true V from `paths.csv`; gains over the anchor's true F1 (the bagged estimate is "
        "over the surrogate's value of the anchor, at the low fidelity).", "",
        sources(df, p).to_markdown(index=False, disable_numparse=True), "",
        *(["## The tolerance", "",
           f"The smallest set on the same greedy path whose bagged gain reaches 1 - tolerance of the path's largest "
           f"(`tunability.TOLERANCE` = {tunability.TOLERANCE:g} is the default; 0 keeps the largest bagged V); each "
           "set's true V from `paths.csv`.", "",
           tolerances(df, p).to_markdown(index=False, disable_numparse=True), ""] if "path_est" in df else []),
        f"Check: `synthetic.noise_free` equals the noise-free instance's evaluate on every scope configuration "
        f"(max |difference| {df['check'].max():.1e}); observed minus true F1 at the low fidelity has sd "
        f"{df['resid_sd'].mean():.4f} (the noise). Wall time: {per['seconds'].sum() / 60:.1f} min, of which "
        f"choosing {per['seconds_choose'].sum() / 60:.1f}.", ""]
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=None, help=f"results folder (default {OUT}; --quick: required)")
    p.add_argument("--quick", action="store_true", help="one instance, 40 configurations, 4 resamples, 2000 draws")
    p.add_argument("--limit", type=int, default=None, help="at most this many new instances (pieces)")
    a = p.parse_args(argv)
    if a.quick and a.out is None:
        p.error("--quick needs --out (it must not write into the recorded results)")
    print(table(run(QUICK if a.quick else Setup(), a.out or OUT, a.limit)).to_string(index=False))


if __name__ == "__main__":
    main()
