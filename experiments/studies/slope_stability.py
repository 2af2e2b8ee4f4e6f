"""How stable is study v2's importance slope? The slope of importance agreement against cost ratio
(`study.fit_curve`, point estimates) refitted on nested prefixes of the 1x grid's configurations and
on random subsets of a fixed share of them. Its bootstrap interval covers configuration sampling as
the bootstrap sees it; subsets test that against the estimator itself: for a smooth statistic, subsets
holding a share f of the configurations scatter with SD ~ SE x sqrt(1/f - 1) (SE from the interval).

    .venv/bin/python -m hpobench.experiments.studies.slope_stability    # 28 fits of 10 fidelities, ~1 CPU-min at 401

Writes --out (results/study_v2/): stability.csv (kind, configs, slope per subset), stability.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import norm

from hpobench.analysis import agreement, study
from hpobench.experiments.studies import agreement_study
from hpobench.fidelity import Fidelity


def slope(table: pd.DataFrame, space, fids: list[Fidelity], full: Fidelity) -> float:
    """The importance curve's slope per decade of cost ratio on `table`'s configurations (no resamples)."""
    imps = study.importances(table, space, fids, n_boot=0, seed=0)  # point estimates: one fit per fidelity
    cost = study.costs(table, fids)
    low = [f for f in imps if f != full]
    est = [agreement.paired(imps[f], imps[full])[0] for f in low]
    ratio = np.array([cost[f] / cost[full] for f in low])
    return study.fit_curve(ratio, np.array(est), np.empty((0, len(low))))["slope"]


def subsets(ids: np.ndarray, first: int = 101, step: int = 50, n_random: int = 20, share: float = 0.8,
            seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """Nested prefixes (first, first + step, ..., all) and `n_random` random subsets of `share` of `ids`."""
    ids = np.sort(ids)
    rng = np.random.default_rng(seed)
    sizes = sorted({*range(first, len(ids), step), len(ids)})
    return ([("prefix", ids[:n]) for n in sizes]
            + [("random", np.sort(rng.choice(ids, round(share * len(ids)), replace=False))) for _ in range(n_random)])


def run(results: str | Path = "results", out: str | Path | None = None, n_random: int = 20, share: float = 0.8) -> dict:
    results = Path(results)
    out = Path(out) if out is not None else results / "study_v2"
    got = agreement_study.tables(agreement_study.STUDIES[0], results, notes := [])
    if got is None:
        raise SystemExit("; ".join(notes))
    space, fids, full, main, _, _ = got
    t = main[0]
    rows = [{"kind": kind, "configs": len(ids), "slope": slope(t[t["config_id"].isin(ids)], space, fids, full)}
            for kind, ids in subsets(t["config_id"].unique(), n_random=n_random, share=share)]
    df = pd.DataFrame(rows)
    cv = out / "curves.json"
    curve = json.loads(cv.read_text())["curves"]["cifar10 1x importance"] if cv.exists() else None
    rnd = df[df["kind"] == "random"]["slope"]
    summ = {"configs": int(t["config_id"].nunique()), "share": share, "n_random": int(len(rnd)),
            "prefix": df[df["kind"] == "prefix"][["configs", "slope"]].to_dict("records"),
            "random_min": float(rnd.min()), "random_median": float(rnd.median()),
            "random_max": float(rnd.max()), "random_sd": float(rnd.std()),
            "random_positive": int((rnd > 0).sum())}
    if curve is not None:  # the SD subsets would show if the bootstrap interval held for a smooth statistic
        se = (curve["slope_ci"][1] - curve["slope_ci"][0]) / (2 * norm.ppf(0.95))  # a 90% interval
        summ |= {"slope": curve["slope"], "slope_ci": curve["slope_ci"],
                 "expected_sd": float(se * np.sqrt(1 / share - 1))}
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "stability.csv", index=False, float_format="%.4f")
    (out / "stability.json").write_text(json.dumps(summ, indent=1) + "\n")
    return summ


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--results", default="results")
    p.add_argument("--out", default=None, help="default: <results>/study_v2 (next to curves.json)")
    p.add_argument("--n-random", type=int, default=20)
    p.add_argument("--share", type=float, default=0.8)
    a = p.parse_args(argv)
    print(json.dumps(run(a.results, a.out, a.n_random, a.share), indent=1))


if __name__ == "__main__":
    main()
