"""Surrogate v2 (issue 13, item 6): the random-forest surrogate refitted on study v2's CPU grid,
and kept only for what it is shown to predict, each test against real trainings:

    configurations  held out 5-fold over configurations (`tabular.holdout`), every fidelity; at full
                    fidelity also as the grid grows (its first 24, 48, ... configurations)
    incumbents      the live runs' incumbents (results/strategies_live_v2): the surrogate's F1 for
                    them against the measured one, where the optimizers went
    strategies      the live comparison's strategies, budget and seeds run on the surrogate
                    (`strategies --table`), against the live runs: the order of the optimizer x
                    strategy means (Kendall, seeds resampled) and every comparison with `all`
                    decided the same way or not

A use is kept when the 90% interval of its rank agreement with real trainings lies above 0 (and,
for strategies, every comparison the live runs decide is decided the same way on the surrogate).

    .venv/bin/python -m hpobench.experiments.studies.surrogate_check
        # 90 surrogate runs, resumable; the tool's scoping,
        # once per seed, ~10 s each (it took 86 of 88 min beside a grid before fANOVA's boosting ran on one thread)
    .venv/bin/python -m hpobench.experiments.studies.surrogate_check --seeds 1 --out /tmp/s   # smoke test

Writes --out (results/surrogate_v2/): strategies/ (the surrogate runs, holdout.parquet), size.csv,
incumbents.parquet, decisions.csv, summary.json, summary.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

import hpobench
from hpobench.analysis import agreement, compare, trials
from hpobench.benchmarks import tabular
from hpobench.experiments.studies import strategies

GRID, LIVE_RUNS = Path("results/cifar10_cpu_v2"), Path("results/strategies_live_v2")
SIZES = (24, 48, 96, 200, 400)  # nested prefixes of the grid's configurations, plus all of them


def error(hold: pd.DataFrame, n_boot: int = 200) -> pd.DataFrame:
    """Held-out error per fidelity: RMSE beside the SD of F1 (RMSE = SD predicts nothing), and the
    Spearman of predicted against recorded F1 with its 90% interval over configurations."""
    knobs, rows = trials.fidelity_columns(hold), []
    for fid, g in hold.groupby([trials.FIDELITY + k for k in knobs]):
        e = g["pred"] - g["f1"]
        rho, lo, hi = agreement.pairs(g["f1"], g["pred"], n_boot=n_boot)
        rows.append({**dict(zip(knobs, fid)), "n": len(g), "rmse": float(np.sqrt((e ** 2).mean())),
                     "sd": float(g["f1"].std()), "spearman": rho, "lower": lo, "upper": hi})
    return pd.DataFrame(rows)


def size_curve(table: pd.DataFrame, live, sizes=SIZES, n_boot: int = 200,
               hold: pd.DataFrame | None = None) -> pd.DataFrame:
    """Held-out error at full fidelity refitted on the grid's first n configurations (sizes under 90% of
    the grid, then the whole grid): whether more configurations make the surrogate better, and by how
    much. `hold`: the whole grid's holdout, if already made (`tabular.holdout(table, live)`)."""
    ids = np.sort(table["config_id"].unique())
    rows = []
    for n in sorted({s for s in sizes if s < 0.9 * len(ids)} | {len(ids)}):  # nearly all: the whole grid's row
        whole = n == len(ids) and hold is not None
        h = hold if whole else tabular.holdout(table[table["config_id"].isin(ids[:n])], live)
        e = error(trials.at(h, live.full_fidelity), n_boot)
        rows.append({"configs": n, **e.iloc[0][["rmse", "sd", "spearman", "lower", "upper"]].to_dict()})
    return pd.DataFrame(rows)


def order(sur: pd.DataFrame, live: pd.DataFrame, n_boot: int = 200, level: float = 0.9,
          seed: int = 0) -> dict:
    """Kendall between the optimizer x strategy mean final F1 on the surrogate and live, with its
    centred interval over seeds resampled (the same seeds on both: scoping draws are per seed)."""
    keys = ["optimizer", "strategy"]
    seeds = np.intersect1d(sur["seed"].unique(), live["seed"].unique())

    def means(runs, draw):
        w = pd.Series(draw).value_counts()
        r = runs[runs.seed.isin(w.index)].assign(w=lambda d: d["seed"].map(w))
        return r.groupby(keys).apply(lambda g: np.average(g["final_f1"], weights=g["w"]), include_groups=False)

    both = means(sur, seeds).to_frame("surrogate").join(means(live, seeds).to_frame("live"), how="inner")
    rng = np.random.default_rng(seed)
    reps = []
    for _ in range(n_boot):
        d = rng.choice(seeds, len(seeds))
        b = means(sur, d).to_frame("s").join(means(live, d).to_frame("l"), how="inner")
        reps.append(agreement.statistic("kendall", b["s"].to_numpy(), b["l"].to_numpy()))
    est = agreement.statistic("kendall", both["surrogate"].to_numpy(), both["live"].to_numpy())
    lo, hi = agreement.centred(est, np.array(reps), level, "kendall")
    return {"kendall": est, "lower": lo, "upper": hi, "seeds": len(seeds), "means": both.reset_index()}


def decisions(sur: pd.DataFrame, live: pd.DataFrame) -> pd.DataFrame:
    """Every comparison with `all`, live beside the surrogate: the sign of a decided difference
    (+/-) or `undecided`, and whether the two say the same."""
    def verdict(v):
        return np.where(~v["decided"], "undecided", np.where(v["mean_diff"] > 0, "+", "-"))
    keys = ["strategy", "optimizer", "versus"]
    a, b = compare.versus_all(live), compare.versus_all(sur)
    m = a.assign(live=verdict(a))[keys + ["mean_diff", "live"]].merge(
        b.assign(surrogate=verdict(b))[keys + ["mean_diff", "surrogate"]], on=keys, suffixes=("_live", "_surrogate"))
    return m.assign(same=m["live"] == m["surrogate"])


def summarise(size: pd.DataFrame, inc: pd.DataFrame, rank: dict, dec: pd.DataFrame, land: dict,
              n_boot: int) -> dict:
    """The three tests and the uses kept (module docstring's rule); `size`'s last row is the whole grid."""
    full = size.iloc[-1]
    rho, lo, hi = agreement.pairs(inc["final_f1"], inc["final_predicted"], n_boot=n_boot)
    live_decided = dec[dec["live"] != "undecided"]
    kept = {"ranking configurations at full fidelity": bool(full["lower"] > 0),
            "ranking the live incumbents": bool(lo > 0),
            "ranking strategies": bool(rank["lower"] > 0 and live_decided["same"].all())}
    return {"configs": int(full["configs"]),
            "holdout_full": {k: float(full[k]) for k in ("rmse", "sd", "spearman", "lower", "upper")},
            "incumbents": {"runs": len(inc), "spearman": rho, "lower": lo, "upper": hi,
                           "bias": float((inc["final_predicted"] - inc["final_f1"]).mean()),
                           "beats_default_live": int((inc["final_f1"] > inc["default_f1"]).sum()),
                           "beats_default_predicted": int((inc["final_predicted"] > inc["default_predicted"]).sum())},
            "strategies": {k: rank[k] for k in ("kendall", "lower", "upper", "seeds")} | {
                "comparisons": len(dec), "same": int(dec["same"].sum()),
                "live_decided": len(live_decided), "live_decided_same": int(live_decided["same"].sum())},
            "landscape": land, "size": size.to_dict("records"), "kept": kept}


def report(s: dict, err: pd.DataFrame, rank: dict, dec: pd.DataFrame) -> str:
    h, i, st = s["holdout_full"], s["incumbents"], s["strategies"]
    means = rank["means"].assign(order_live=lambda d: d["live"].rank(ascending=False),
                                 order_surrogate=lambda d: d["surrogate"].rank(ascending=False))
    return "\n".join([
        f"# Surrogate v2: refitted on {s['configs']} configurations of cifar10_cpu_v2", "",
        "## Held-out configurations (5-fold), every fidelity", "", err.to_markdown(index=False, floatfmt=".3f"), "",
        f"At full fidelity: RMSE {h['rmse']:.3f} against an SD of {h['sd']:.3f}; Spearman {h['spearman']:.2f} "
        f"[{h['lower']:.2f}, {h['upper']:.2f}].", "",
        "## As the grid grows (full fidelity, held out)", "",
        pd.DataFrame(s["size"]).to_markdown(index=False, floatfmt=".3f"), "",
        f"## The {i['runs']} live incumbents", "",
        f"Spearman of predicted against measured F1 {i['spearman']:.2f} [{i['lower']:.2f}, {i['upper']:.2f}]; "
        f"mean bias (predicted - measured) {i['bias']:+.3f}. Beat the default: {i['beats_default_live']} measured, "
        f"{i['beats_default_predicted']} predicted.", "",
        f"Random configurations predicted to beat the default: {s['landscape']['share_above_default_predicted']:.1%} "
        f"(recorded configurations: {s['landscape']['share_above_default_recorded']:.0%}).", "",
        f"## Strategies on the surrogate against live ({st['seeds']} paired seeds)", "",
        means.to_markdown(index=False, floatfmt=".3f"), "",
        f"Kendall of the means {st['kendall']:.2f} [{st['lower']:.2f}, {st['upper']:.2f}]; comparisons with `all` "
        f"decided the same way: {st['same']} of {st['comparisons']} ({st['live_decided_same']} of the "
        f"{st['live_decided']} the live runs decide).", "", dec.to_markdown(index=False, floatfmt="+.3f"), "",
        "## Kept for", "", *[f"- {k}: {'yes' if v else 'no'}" for k, v in s["kept"].items()], ""])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--grid", default=str(GRID), help="study v2's grid folder (evaluations.parquet)")
    p.add_argument("--live", default=str(LIVE_RUNS), help="the live comparison's folder (runs.parquet, settings.json)")
    p.add_argument("--seeds", type=int, default=None, help="surrogate seeds (default: the live runs')")
    p.add_argument("--n-boot", type=int, default=200)
    p.add_argument("--out", default="results/surrogate_v2")
    a = p.parse_args(argv)
    out, grid, live_dir = Path(a.out), Path(a.grid), Path(a.live)
    table = tabular.read(grid / "evaluations.parquet")
    live_runs = pd.read_parquet(live_dir / "runs.parquet")
    setup = json.loads((live_dir / "settings.json").read_text())["setup"]
    live = hpobench.get(strategies.LIVE)
    seeds = a.seeds or int(live_runs["seed"].nunique())
    strategies.main(["--table", str(grid / "evaluations.parquet"), "--out", str(out / "strategies"),
                     "--seeds", str(seeds), "--budget", f"{setup['budget']:g}", "--k", str(setup["k"]),
                     "--n-low", str(setup["n_low"]), "--n-probe", str(setup["n_probe"]),
                     "--optimizers", *sorted(set(live_runs.optimizer) - {compare.NO_OPTIMIZER}),
                     "--strategies", *live_runs.strategy.unique()])
    sur_runs = pd.read_parquet(out / "strategies" / "runs.parquet")
    hold = pd.read_parquet(out / "strategies" / "holdout.parquet")
    err, size = error(hold, a.n_boot), size_curve(table, live, n_boot=a.n_boot, hold=hold)
    inc = strategies.versus_surrogate(live_runs, table, live)
    rank, dec = order(sur_runs, live_runs, a.n_boot), decisions(sur_runs, live_runs)
    land = json.loads((out / "strategies" / "landscape.json").read_text())
    s = summarise(size, inc, rank, dec, land, a.n_boot)
    size.to_csv(out / "size.csv", index=False, float_format="%.4f")
    inc.to_parquet(out / "incumbents.parquet")
    dec.to_csv(out / "decisions.csv", index=False, float_format="%.4f")
    (out / "summary.json").write_text(json.dumps(s, indent=1, default=float) + "\n")
    (out / "summary.md").write_text(report(s, err, rank, dec))
    print((out / "summary.md").read_text())


if __name__ == "__main__":
    main()
