"""fANOVA speed and agreement vs Optuna, and the PED-ANOVA cross-check (Optuna is a bench extra).

1. fANOVA on 1,000 configurations x 15 hyperparameters (floats, log floats,
   integers, categoricals; additive terms plus one interaction, known shares):
   ours vs Optuna's FanovaImportanceEvaluator with the *same forest settings*
   (64 trees, max_depth 64, min_samples_leaf 1, all features per split: Optuna's),
   wall time (median of `--repeats`) and rank agreement (Spearman, Kendall) between
   the two and of each with the truth.
   Where the definitions coincide (uniform floats only) the values are compared too.
2. PED-ANOVA on the synthetic conditional benchmark (several instances, two
   fidelities): ours vs Optuna's PedAnovaImportanceEvaluator (gamma' = 0.1,
   region = all), rank agreement between the two.

    nice -n 10 .venv/bin/python -m hpobench.experiments.studies.fanova_speed
        # -> results/analysis_synthetic/fanova_speed.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from ConfigSpace import Categorical, ConfigurationSpace, Float, Integer
from scipy import stats

import hpobench
from hpobench.analysis import encode, fanova, ped_anova, sample
from hpobench.fidelity import Fidelity

OUT = Path("results/analysis_synthetic")


def flat_problem(n: int = 1000, seed: int = 0):
    """A 15-hp space and an objective with known variance shares (under uniform sampling)."""
    rng = np.random.default_rng(seed)
    cs = ConfigurationSpace(seed=seed)
    hps = [Float(f"f{i}", (0.0, 1.0)) for i in range(7)] + [Float("lr", (1e-5, 1.0), log=True),
                                                           Float("wd", (1e-6, 1e-1), log=True)]
    hps += [Integer(f"i{i}", (1, 8)) for i in range(3)] + [Categorical(f"c{i}", ["a", "b", "c", "d"]) for i in range(3)]
    cs.add(hps)
    names = list(cs)
    weights = dict(zip(rng.permutation(names), 0.7 ** np.arange(len(names))))
    levels = {n: rng.standard_normal(8 if n.startswith("i") else 4) for n in names if n[0] in "ic"}
    configs = cs.sample_configuration(n)
    X = np.column_stack([encode.to_unit(cs, k, [c[k] for c in configs]) for k in names])

    def term(k, u):
        if k in levels:
            lv = levels[k]
            z = (lv - lv.mean()) / lv.std()
            return z[np.minimum((u * len(lv)).astype(int), len(lv) - 1)]
        return np.sqrt(12) * (u - 0.5)  # zero mean, unit variance

    y = sum(np.sqrt(weights[k]) * term(k, X[:, j]) for j, k in enumerate(names))
    a, b = names.index("lr"), names.index("f0")
    y = y + 0.5 * term("lr", X[:, a]) * term("f0", X[:, b]) + 0.05 * rng.standard_normal(n)
    truth = {k: weights[k] for k in names}
    return cs, configs, X, y, truth


def optuna_study(cs, configs, y, direction="maximize"):
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
    dist = {}
    for k in cs:
        hp = cs[k]
        if hasattr(hp, "choices"):
            dist[k] = CategoricalDistribution(list(hp.choices))
        elif type(hp).__name__.startswith("UniformInteger"):
            dist[k] = IntDistribution(hp.lower, hp.upper, log=hp.log)
        else:
            dist[k] = FloatDistribution(hp.lower, hp.upper, log=hp.log)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction=direction)
    trials = []
    for c, v in zip(configs, y):
        params = {k: (c[k].item() if hasattr(c[k], "item") else c[k]) for k in dict(c)}
        trials.append(optuna.trial.create_trial(params=params, distributions={k: dist[k] for k in params},
                                                value=float(v)))
    study.add_trials(trials)
    return study


def speed(repeats: int) -> dict:
    import optuna
    from optuna.importance import FanovaImportanceEvaluator
    cs, configs, X, y, truth = flat_problem()
    names = list(cs)
    enc = encode.Encoded(names, X, y, np.arange(len(y)).astype(str), cs)
    same = dict(n_trees=64, min_samples_leaf=1, max_features=1.0, pairs=0, decomposition="trees",
                surrogate="forest")  # Optuna's definition
    ours_t, theirs_t, ours_def_t = [], [], []
    for r in range(repeats):
        t = time.perf_counter()
        ours = fanova.fanova(enc, seed=r, **same)
        ours_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        ours_def = fanova.fanova(enc, seed=r, pairs=0)  # our default (the boosted surrogate)
        ours_def_t.append(time.perf_counter() - t)
        study = optuna_study(cs, configs, y)
        t = time.perf_counter()
        theirs = optuna.importance.get_param_importances(
            study, evaluator=FanovaImportanceEvaluator(n_trees=64, max_depth=64, seed=r), normalize=False)
        theirs_t.append(time.perf_counter() - t)
    tv = np.array([truth[k] for k in names])
    ov = ours.value
    thv = np.array([theirs[k] for k in names])
    dv = ours_def.value
    lin = [k for k in names if k not in ("lr", "wd")]  # Optuna measures log hps on the raw scale
    li = [names.index(k) for k in lin]

    def agree(a, b):
        return {"spearman": float(stats.spearmanr(a, b).statistic), "kendall": float(stats.kendalltau(a, b).statistic)}
    return {
        "configs": len(y), "hps": len(names), "trees": 64, "repeats": repeats,
        "ours_s_median": float(np.median(ours_t)), "optuna_s_median": float(np.median(theirs_t)),
        "speedup": float(np.median(theirs_t) / np.median(ours_t)),
        "ours_default_forest_s_median": float(np.median(ours_def_t)),
        "ours_vs_optuna": agree(ov, thv), "ours_vs_optuna_without_log_hps": agree(ov[li], thv[li]),
        "ours_vs_truth": agree(ov, tv), "optuna_vs_truth": agree(thv, tv), "ours_default_vs_truth": agree(dv, tv),
        "importance": {k: {"truth_weight": truth[k], "ours": float(o), "optuna": float(t), "ours_default": float(d)}
                       for k, o, t, d in zip(names, ov, thv, dv)},
    }


def same_definition(n: int = 1000, d: int = 8, seed: int = 1) -> dict:
    """Where both definitions coincide (uniform floats, no log scale, no levels): values should match."""
    import optuna
    from optuna.importance import FanovaImportanceEvaluator
    rng = np.random.default_rng(seed)
    cs = ConfigurationSpace(seed=seed)
    cs.add([Float(f"f{i}", (0.0, 1.0)) for i in range(d)])
    configs = cs.sample_configuration(n)
    names = list(cs)
    X = np.array([[c[k] for k in names] for c in configs])
    w = 0.6 ** np.arange(d)
    y = np.sin(3 * X) @ w + X[:, 0] * X[:, 1] + 0.05 * rng.standard_normal(n)
    enc = encode.Encoded(names, X, y, np.arange(n).astype(str), cs)
    ours = fanova.fanova(enc, n_trees=64, min_samples_leaf=1, max_features=1.0, pairs=0, seed=0,
                         decomposition="trees", surrogate="forest").value
    theirs = optuna.importance.get_param_importances(
        optuna_study(cs, configs, y), evaluator=FanovaImportanceEvaluator(n_trees=64, max_depth=64, seed=0),
        normalize=False)
    tv = np.array([theirs[k] for k in names])
    return {"hps": d, "configs": n, "spearman": float(stats.spearmanr(ours, tv).statistic),
            "max_abs_diff": float(np.abs(ours - tv).max()), "ours": ours.tolist(), "optuna": tv.tolist()}


def ped_crosscheck(instances: int) -> dict:
    import optuna
    from optuna.importance import PedAnovaImportanceEvaluator
    rows = []
    for seed in range(instances):
        b = hpobench.get("synthetic", agreement=[1.0, 0.5, 0.0, -0.5, -1.0][seed % 5], seed=seed)
        for fid in ({"epochs": 1, "data_fraction": 0.05}, b.full_fidelity):
            df = sample.table(b, 400, [fid], seed=seed)
            enc = encode.encode(df, b.config_space)
            ours = ped_anova.ped_anova(enc).value
            ok = df[df.status == "ok"]
            cfgs = [{k[7:]: v for k, v in r.items() if k.startswith("config.") and v is not None
                     and not (isinstance(v, float) and np.isnan(v))} for r in ok.to_dict("records")]
            cfgs = [_Cfg(c) for c in cfgs]
            study = optuna_study(b.config_space, cfgs, ok.f1.to_numpy())
            theirs = optuna.importance.get_param_importances(
                study, evaluator=PedAnovaImportanceEvaluator(), normalize=False)
            tv = np.array([theirs.get(k, 0.0) for k in enc.names])
            rows.append({"seed": seed, "fidelity": Fidelity.of(fid).label,
                         "spearman": float(stats.spearmanr(ours, tv).statistic),
                         "kendall": float(stats.kendalltau(ours, tv).statistic),
                         "top3_overlap": len(set(np.argsort(-ours)[:3]) & set(np.argsort(-tv)[:3])) / 3})
    df = pd.DataFrame(rows)
    return {"instances": instances, "tables": len(df),
            "spearman_mean": float(df.spearman.mean()), "spearman_min": float(df.spearman.min()),
            "kendall_mean": float(df.kendall.mean()), "top3_overlap_mean": float(df.top3_overlap.mean()),
            "rows": rows}


class _Cfg(dict):
    """A plain dict that behaves like a Configuration for `optuna_study`."""


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--ped-instances", type=int, default=10)
    args = p.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    res = {"fanova_speed": speed(args.repeats), "fanova_same_definition": same_definition(),
           "ped_anova_crosscheck": ped_crosscheck(args.ped_instances)}
    (OUT / "fanova_speed.json").write_text(json.dumps(res, indent=1))
    s = res["fanova_speed"]
    print(f"fANOVA {s['configs']} configs x {s['hps']} hps, {s['trees']} trees (Optuna's forest settings):")
    print(f"  ours {s['ours_s_median']:.2f} s, Optuna {s['optuna_s_median']:.2f} s: {s['speedup']:.1f}x faster"
          f" (ours with our default surrogate: {s['ours_default_forest_s_median']:.2f} s)")
    for k in ("ours_vs_optuna", "ours_vs_optuna_without_log_hps", "ours_vs_truth", "optuna_vs_truth",
              "ours_default_vs_truth"):
        print(f"  {k}: spearman {s[k]['spearman']:.3f}, kendall {s[k]['kendall']:.3f}")
    q = res["fanova_same_definition"]
    print(f"  uniform floats only ({q['hps']} hps, same definition): spearman {q['spearman']:.3f}, "
          f"max |ours - Optuna| {q['max_abs_diff']:.4f}")
    c = res["ped_anova_crosscheck"]
    print(f"PED-ANOVA ours vs Optuna on {c['tables']} tables: spearman mean {c['spearman_mean']:.3f} "
          f"(min {c['spearman_min']:.3f}), kendall mean {c['kendall_mean']:.3f}, "
          f"top-3 overlap {c['top3_overlap_mean']:.2f}")


if __name__ == "__main__":
    main()
