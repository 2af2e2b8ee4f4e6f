"""What tuning one hyperparameter from the anchor gains, read at the scope's cheap fidelities and at full fidelity.

The budget-aware scope (`hpobench.analysis.decision`) keeps the hyperparameters whose tuning from the anchor
pays on a surrogate of the scope's cheap trainings (`tunability.value`). Whether that transfers is a question
about those anchored gains, not about importance rankings: an anchor chosen at 2 epochs and 8 px can sit at a
learning rate or a label smoothing that is best there and not at full fidelity. Per seed, from the recorded
study alone (no training), with the draw of `strategies` (`_draw`) and tool-confirm's anchor (of the
`CONFIRM_FULL` best at the probe, the one with the best recorded full-fidelity F1), this measures each
hyperparameter's gain V({x}, n) - f(anchor) for the n trainings tool-confirm tunes with, on four surrogates:

    low         the seed's `n_low` configurations at the low fidelity (what the scope chooses from)
    probe       the seed's configurations at the probe
    full_drawn  the same `n_low` configurations' recorded full-fidelity trainings (fidelity alone changes)
    full        every configuration the study recorded at full fidelity (the best estimate of the truth)

    python -m hpobench.experiments.studies.anchored_gains --budget 30 --out results/strategies_live_b30
    for n in 40 100 200; do     # study v2's 401 configurations: a larger scope, independent draws per seed
      python -m hpobench.experiments.studies.anchored_gains --table results/cifar10_cpu_v2/evaluations.parquet \
          --n-low $n --out results/strategies_live_b30/anchored_gains_v2_n$n
    done

Outputs: anchored_gains.csv (seed, source, hp, gain), anchored_gains_agreement.csv (`agreement`: per seed,
Spearman of the hyperparameters' gains between sources: low and the probe against full_drawn, fidelity
alone; full against full_drawn, the sample alone; low against full, the scope's estimate against the best one) and
anchored_gains.md (both summarised).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

import hpobench
from hpobench.analysis import decision, importance, trials, tunability
from hpobench.benchmarks import tabular
from hpobench.experiments.studies import strategies
from hpobench.fidelity import Fidelity

SOURCES = ("low", "probe", "full_drawn", "full")
BOOT = 5  # importance resamples: only its encoded data is used; a few so that one degenerate resample cannot fail it
# Spearman pairs: fidelity alone (same 40 configurations), the sample alone (same fidelity), and the scope's
# estimate against the best one
PAIRS = (("low", "full_drawn"), ("probe", "full_drawn"), ("full", "full_drawn"), ("low", "full"))


def gains(sur, space, anchor: dict, n: int) -> dict:
    """Each hyperparameter's anchored gain with n draws (`tunability.value`); inactive at the anchor: left out."""
    base = tunability.value(sur, space, anchor, [], 1)
    return {x: tunability.value(sur, space, anchor, [x], n) - base for x in space if x in anchor}


def surrogate(study: pd.DataFrame, live):
    """The surrogate of every configuration the study recorded at full fidelity."""
    full = Fidelity.of(live.full_fidelity)
    imp = importance.per_fidelity(trials.at(study, live.full_fidelity), live.config_space, [full], n_boot=BOOT)[full]
    return tunability.surrogate(imp.extra["encoded"], seed=0)


def per_seed(study: pd.DataFrame, live, s: strategies.Setup, seed: int, full_sur) -> pd.DataFrame:
    space, full = live.config_space, Fidelity.of(live.full_fidelity)
    rows = strategies._draw(study, live, s, np.random.default_rng(seed), strategies.CONFIRM)
    cheap = strategies._cheap(live, s)
    at_full, f1 = trials.at(study, live.full_fidelity), strategies.full_f1(study, live)
    tops = decision.top(rows, space, cheap[::-1], live.metric, k=strategies.CONFIRM_FULL)
    anchor = max(tops, key=lambda t: f1.get(t["config_id"], -np.inf))["config"]
    n = strategies.left(live, s, rows["cost"].sum())
    imps = importance.per_fidelity(rows, space, list(cheap), n_boot=BOOT, seed=seed)
    same = at_full[at_full["config_id"].isin(rows["config_id"])]
    surs = {"low": imps[cheap[0]], "probe": imps[cheap[1]],
            "full_drawn": importance.per_fidelity(same, space, [full], n_boot=BOOT, seed=seed)[full]}
    surs = {k: tunability.surrogate(v.extra["encoded"], seed=seed) for k, v in surs.items()} | {"full": full_sur}
    return pd.DataFrame([{"seed": seed, "n": n, "source": k, "hp": x, "gain": g}
                         for k, sur in surs.items() for x, g in gains(sur, space, anchor, n).items()])


def agreement(df: pd.DataFrame, watch: str = "learning_rate") -> pd.DataFrame:
    """Per seed, Spearman of the hyperparameters' gains between the sources of each of `PAIRS`; `watch`: a
    hyperparameter whose rank by gain is shown at low and full_drawn (where it exists)."""
    rows = []
    for seed, g in df.groupby("seed"):
        w = g.pivot(index="hp", columns="source", values="gain")
        rows.append({"seed": seed, "n": int(g["n"].iloc[0]),
                     **{f"{a} vs {b}": stats.spearmanr(w[a], w[b]).statistic for a, b in PAIRS},
                     **({f"{watch} rank {k}": int(w[k].rank(ascending=False)[watch]) for k in ("low", "full_drawn")}
                        if watch in w.index else {})})
    return pd.DataFrame(rows)


def summarise(df: pd.DataFrame, rho: pd.DataFrame) -> str:
    """The markdown summary of the gains and their agreement (`agreement`)."""
    mean = df.pivot_table(index="hp", columns="source", values="gain", aggfunc="mean")[list(SOURCES)]
    mean = mean.sort_values("full_drawn", ascending=False)
    return ("# Anchored gains at the cheap fidelities and at full fidelity\n\n"
            + "\n\n".join(__doc__.split("\n\n")[1:3]) + "\n\n## Mean gain per hyperparameter (over seeds)\n\n"
            f"{mean.round(4).to_markdown()}\n\n## Per seed: Spearman of the gains between sources\n\n"
            f"{rho.round(2).to_markdown(index=False)}\n\nMeans: " +
            ", ".join(f"{a} vs {b} {rho[f'{a} vs {b}'].mean():.2f}" for a, b in PAIRS) +
            " (full vs full_drawn: the same fidelity, only the sample differs)\n")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--budget", type=float, default=30, help="full-fidelity trainings (as in strategies)")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--n-low", type=int, default=strategies.Setup.n_low,
                   help="configurations a seed's scope draws (as in strategies)")
    p.add_argument("--table", default=None,
                   help="recorded study trials, Parquet (default: benchmarks.study(), 101 configurations; study v2: "
                        "results/cifar10_cpu_v2/evaluations.parquet, 401)")
    p.add_argument("--out", default="results/strategies_live_b30")
    a = p.parse_args(argv)
    live = hpobench.get(strategies.LIVE)
    s = strategies.Setup(a.budget, strategies.Setup.k, n_low=a.n_low)
    px = strategies.LIVES[strategies.LIVE][1]
    s = replace(s, low=s.low | {"resolution": px}, probe=s.probe | {"resolution": px})
    study = tabular.read(a.table or strategies.study_table())
    full_sur = surrogate(study, live)
    df = pd.concat([per_seed(study, live, s, seed, full_sur) for seed in range(a.seeds)], ignore_index=True)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "anchored_gains.csv", index=False)
    rho = agreement(df)
    rho.to_csv(out / "anchored_gains_agreement.csv", index=False)
    (out / "anchored_gains.md").write_text(text := summarise(df, rho))
    print(text)


if __name__ == "__main__":
    main()
