"""Study v2's analysis (analysis/study.py, experiments/studies/agreement_study.py) on small real and partial records."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import hpobench
from hpobench import records
from hpobench.analysis import agreement, bootstrap, encode, errors, sample, study, trials
from hpobench.analysis.importance import Importance
from hpobench.experiments.studies import agreement_study, slope_stability
from hpobench.fidelity import Fidelity

ROOT = Path(__file__).resolve().parents[1] / "results"
V2 = ROOT / "cifar10_cpu_v2"
LOW, FULL = {"epochs": 1, "data_fraction": 0.05}, {"epochs": 81, "data_fraction": 1.0}


def _seeded(noise, n=24, seeds=(0, 1)):
    """A synthetic study (agreement 1) with seed replicates: the same configurations, each seed's noise."""
    b = hpobench.get("synthetic", agreement=1.0, seed=3, noise=noise)
    df = pd.concat([sample.table(b, n, [LOW, FULL], seed=3, eval_seed=s) for s in seeds], ignore_index=True)
    return b, df


def _rows(b, df, n_boot=3):
    fids = [Fidelity.of(b.fidelity(LOW)), Fidelity.of(b.fidelity(FULL))]
    t = study.recorded(df, b.config_space, fids, sorted(df["seed"].unique()))
    by_seed = {s: g for s, g in t.groupby("seed")}
    draws = bootstrap.resamples(encode.config_keys(by_seed[0], b.config_space), n_boot, 0)
    imps = {s: study.importances(g, b.config_space, fids, n_boot) for s, g in by_seed.items()}
    ys = {s: {f: study.metric_by_config(g, b.config_space, f) for f in fids} for s, g in by_seed.items()}
    return study.rows(imps, ys, draws, study.costs(t, fids), fids[1], table="t")


def _one(rows, **eq):
    m = np.ones(len(rows), bool)
    for k, v in eq.items():
        m &= rows[k].eq(v).to_numpy()
    assert m.sum() == 1, eq
    return rows[m].iloc[0]


def test_noise_ceiling_is_one_without_seed_noise_and_drops_with_it():
    full = Fidelity.of(hpobench.get("synthetic", agreement=1.0, seed=3).fidelity(FULL)).label
    quiet, noisy = _rows(*_seeded(0.0)), _rows(*_seeded(0.08))
    for view in study.VIEWS:
        q = _one(quiet, view=view, kind="ceiling", a=full, statistic="spearman")
        n = _one(noisy, view=view, kind="ceiling", a=full, statistic="spearman")
        assert q["estimate"] == pytest.approx(1.0) and q["seeds"] == 2
        assert n["estimate"] < 0.99 and n["lower"] <= n["estimate"] <= n["upper"]
    # every kind is there, the same configurations throughout, intervals hold their estimate
    assert set(noisy["kind"]) == {"ceiling", "cross", "cross_seed"}
    assert set(noisy["statistic"]) == set(study.STATISTICS) and noisy["n_configs"].nunique() == 1
    assert ((noisy["lower"] <= noisy["estimate"] + 1e-12) & (noisy["estimate"] <= noisy["upper"] + 1e-12)).all()
    cross = _one(noisy, view="performance", kind="cross_seed", statistic="spearman")
    assert cross["cost_ratio"] < 1 and cross["b"] == full


def test_recorded_keeps_only_configurations_at_every_fidelity_and_seed():
    df, cs, _ = records.read(V2)
    df = df[df["config_id"] < 12]
    fids = trials.fidelities(df)
    cut = df.drop(df.index[(df["config_id"] == 5) & (df["fidelity.epochs"] == 1)])
    t = study.recorded(cut, cs, fids, [0])
    assert sorted(t["config_id"].unique()) == [i for i in range(12) if i != 5]
    assert len(t) == 11 * len(fids)
    assert study.recorded(cut, cs, fids, [0, 1]).empty  # no configuration has seed 1
    with pytest.raises(errors.AnalysisError, match="seed"):
        study.recorded(cut.drop(columns="seed"), cs, fids, [0])


def test_importances_round_trip_through_their_table():
    df, cs, _ = records.read(V2)
    df = df[df["config_id"] < 14]
    fids = trials.fidelities(df)[-2:]
    imps = study.importances(df, cs, fids, n_boot=5)
    back = study.from_frame(study.to_frame(imps), json.loads(json.dumps(study.meta_of(imps), default=str)))
    assert list(back) == fids and [i.fidelity for i in back.values()] == fids  # keyed by Fidelity again
    a, b = (list(x.values()) for x in (imps, back))
    for name in study.STATISTICS:
        e0, r0 = agreement.paired(*a, name)
        e1, r1 = agreement.paired(*b, name)
        assert e0 == e1 and np.array_equal(r0, r1, equal_nan=True)
    assert np.isnan(a[0].reliability)  # reliability=False: no split-half refits


def test_curve_recovers_a_known_line_and_the_transfer_test_sees_a_shift():
    ratio = np.array([0.01, 0.03, 0.1, 0.3])
    z = 0.9 + 0.5 * np.log10(ratio)
    rng = np.random.default_rng(0)
    reps = np.tanh(z + 0.05 * rng.standard_normal((100, 4)))
    c = study.fit_curve(ratio, np.tanh(z), reps)
    assert c["slope"] == pytest.approx(0.5) and c["intercept"] == pytest.approx(0.9)
    assert c["slope_ci"][0] < 0.5 < c["slope_ci"][1] and c["n_boot"] == 100
    assert all(lo <= f <= hi for lo, f, hi in zip(c["lower"], c["fit"], c["upper"]))
    assert study.predict(c, 0.1) == pytest.approx(np.tanh(0.4))
    same = study.transfer(ratio, np.tanh(z), reps, ratio, np.tanh(z), reps[::-1], at=0.05)
    shifted = study.transfer(ratio, np.tanh(z), reps, ratio, np.tanh(z - 0.5), np.tanh(np.arctanh(reps) - 0.5),
                             at=0.05)
    assert same["same"] and not shifted["same"] and shifted["difference"] < 0
    assert same["same_slope"] and shifted["same_slope"]  # a shift of level only
    tilt = 0.3 * np.log10(ratio / 0.05)  # a steeper line through the same point at 0.05
    steeper = study.transfer(ratio, np.tanh(z), reps, ratio, np.tanh(z + tilt), np.tanh(np.arctanh(reps) + tilt),
                             at=0.05)
    assert steeper["same"] and not steeper["same_slope"]
    assert steeper["slope_difference"] == pytest.approx(0.3) and steeper["slope_lower"] > 0
    gapped_a, gapped_b = reps.copy(), np.tanh(np.arctanh(reps) + tilt)
    gapped_a[0, 0] = gapped_b[1, 2] = np.nan  # shared draws: a lost resample must not shift the pairing
    paired = study.transfer(ratio, np.tanh(z), gapped_a, ratio, np.tanh(z + tilt), gapped_b, at=0.05)
    assert paired["slope_lower"] == pytest.approx(0.3) and paired["slope_upper"] == pytest.approx(0.3)
    with pytest.raises(errors.AnalysisError, match="two distinct"):
        study.fit_curve(np.array([0.1, 0.1]), np.array([0.5, 0.6]), reps[:, :2])


def test_knobs_compares_rungs_of_equal_cost_pair_by_pair():
    rungs = pd.DataFrame({"a": ["data", "epochs", "dear"], "cost_ratio": [0.1, 0.125, 0.5],
                          "estimate": [0.6, 0.7, 0.9]})
    rng = np.random.default_rng(0)
    base = rng.uniform(0.3, 0.8, 50)  # shared resamples: epochs is data + 0.1 in every one
    reps = np.column_stack([base, base + 0.1, rng.uniform(0, 1, 50)])
    reps[3, 0] = reps[7, 1] = np.nan
    k = study.knobs(rungs, reps)
    assert k[["a", "b"]].values.tolist() == [["data", "epochs"]]  # 0.5 is not within 1.25x of either
    assert k["difference"].iloc[0] == pytest.approx(0.1) and k["decided"].iloc[0]
    assert k["lower"].iloc[0] == pytest.approx(0.1) and k["upper"].iloc[0] == pytest.approx(0.1)
    unpaired = study.knobs(rungs, np.column_stack([base, rng.permutation(base) + 0.1, base]))
    assert not unpaired["decided"].iloc[0]  # the same spread, unpaired, decides nothing


def test_budget_table_picks_the_best_affordable_rung():
    rungs = pd.DataFrame({"a": ["cheap", "mid", "dear"], "cost_ratio": [0.01, 0.1, 0.5],
                          "estimate": [0.5, 0.8, 0.7], "lower": [0.3, 0.6, 0.5], "upper": [0.7, 0.9, 0.9]})
    curve = study.fit_curve(rungs["cost_ratio"].to_numpy(), rungs["estimate"].to_numpy(), np.zeros((0, 3)))
    t = study.budget_table(rungs, curve, n_scope=100, shares=(0.005, 0.05, 0.5), budgets=(100,))
    assert t["max cost ratio"].tolist() == pytest.approx([0.005, 0.05, 0.5])
    assert t["fidelity"].iloc[0].startswith("none") and t["fidelity"].tolist()[1:] == ["cheap", "mid"]
    assert t["curve"].iloc[2] == pytest.approx(study.predict(curve, 0.1))


def _imp(value, reps):
    names = ["learning_rate", "batch_size", "width", "depth"]
    return Importance("fanova", {"epochs": 8}, names, np.array(value), np.zeros(4), np.ones(4), 0.9,
                      np.array(reps), 50, notes={"depth": "never varied"})


def test_hierarchy_verdicts():
    holds = study.hierarchy(_imp([0.8, 0.08, 0.06, 0.0], [[0.8, 0.07, 0.05, 0], [0.75, 0.06, 0.06, 0]] * 10))
    assert [r["verdict"] for r in holds] == ["holds", "holds"]
    assert holds[0]["ratio"] == pytest.approx(10) and holds[1]["ratio"] == pytest.approx(0.8 / 0.07)
    refuted = study.hierarchy(_imp([0.3, 0.4, 0.2, 0.0], [[0.3, 0.4, 0.2, 0]] * 20))
    assert refuted[0]["verdict"] == "refuted" and refuted[0]["rank"] == 2 and refuted[0]["top"] == "batch_size"
    wide = study.hierarchy(_imp([0.6, 0.06, 0.06, 0.0], [[0.6, 0.06, 0.06, 0], [0.6, 0.3, 0.2, 0]] * 10))
    assert wide[0]["verdict"] == "undecided"
    with pytest.raises(errors.AnalysisError, match="momentum"):
        study.hierarchy(_imp([0.6, 0.06, 0.06, 0.0], [[0.6, 0.06, 0.06, 0]]), hp="momentum")


@pytest.fixture
def partial_results(tmp_path):
    """Study v2's first 20 recorded configurations at three of its fidelities, and a seed-replicate
    folder cut from the same records (its rows relabelled seed 1: real numbers, not a second training)."""
    res = tmp_path / "results"
    meta = records.read_meta(V2)
    meta["spec"]["path"] = "no/such/spec.yaml"  # planned cells unknown: the summary says so
    records.write_meta(res / "cifar10_cpu_v2", meta)
    df = pd.read_parquet(V2 / "evaluations.parquet")
    keep = df["fidelity.epochs"].isin([1, 8]) & (df["fidelity.data_fraction"] == 0.1) & (df["fidelity.resolution"]
                                                                                       == 16)
    keep |= (df["fidelity.epochs"] == 8) & (df["fidelity.resolution"] == 8)
    df[keep & (df["config_id"] < 20)].to_parquet(res / "cifar10_cpu_v2" / "evaluations.parquet")
    return res


def test_the_experiment_writes_every_output_and_resumes(partial_results, tmp_path):
    out = tmp_path / "sv2"
    s = agreement_study.run(partial_results, out, n_boot=3)
    assert s["tables"] == {"cifar10-1x-main": {"n_configs": 20, "seeds": 1}}
    assert s["grids"]["cifar10_cpu_v2"]["cells"] == 60 and s["grids"]["cifar10_cpu_v2"]["complete"] is False
    assert any("cifar10_5x" in n for n in s["notes"]) and any("fashion_mnist_cpu" in n for n in s["notes"])
    agr = pd.read_csv(out / "agreement.csv")
    assert len(agr) == 2 * 2 * 2  # 2 low fidelities x 2 views x 2 statistics, kind cross only
    assert (agr["kind"] == "cross").all() and agr["cost_ratio"].between(0, 1).all()
    curves = json.loads((out / "curves.json").read_text())
    assert set(curves["curves"]) == {"cifar10 1x importance", "cifar10 1x performance"}
    assert len(pd.read_csv(out / "hierarchy.csv")) == 2 and len(pd.read_csv(out / "budget.csv")) == 8
    first = {f: (out / f).read_bytes() for f in ("agreement.csv", "curves.json", "budget.csv", "hierarchy.csv",
                                                 "knobs.csv")}
    piece = agreement_study.piece_path(out, "cifar10-1x-main-seed0", "data_fraction=0.1,epochs=8,resolution=16",
                                       ".parquet")
    assert len(list(piece.parent.glob("*.parquet"))) == 3  # one piece per fidelity
    stamp = piece.stat().st_mtime_ns
    agreement_study.run(partial_results, out, n_boot=3)  # resumed: the piece is read back, outputs identical
    assert piece.stat().st_mtime_ns == stamp
    assert all((out / f).read_bytes() == b for f, b in first.items())
    agreement_study.run(partial_results, out, n_boot=4)  # other settings: recomputed
    assert piece.stat().st_mtime_ns != stamp


def test_seed_replicates_give_the_ceiling_rows(partial_results, tmp_path):
    res, out = partial_results, tmp_path / "sv2"
    shutil.copytree(res / "cifar10_cpu_v2", res / "cifar10_cpu_seeds")
    df = pd.read_parquet(res / "cifar10_cpu_seeds" / "evaluations.parquet").assign(seed=1)
    df.assign(key=df["key"] + "s1").to_parquet(res / "cifar10_cpu_seeds" / "evaluations.parquet")
    s = agreement_study.run(res, out, n_boot=3)
    assert s["tables"]["cifar10-1x-seeds"] == {"n_configs": 20, "seeds": 2}
    agr = pd.read_csv(out / "agreement.csv")
    seeds = agr[agr["table"] == "cifar10-1x-seeds"]
    assert set(seeds["view"]) == set(study.VIEWS) and set(seeds["kind"]) == {"ceiling", "cross", "cross_seed"}
    assert np.allclose(seeds.loc[seeds["kind"] == "ceiling", "estimate"], 1.0)  # identical numbers at both "seeds"
    # pieces recomputed beside pieces read back: they still pair, and nothing changes
    for p in (out / "pieces" / "cifar10-1x-seeds-seed1").glob("*epochs1*.parquet"):
        p.unlink()
    agreement_study.run(res, out, n_boot=3)
    assert pd.read_csv(out / "agreement.csv").equals(agr)
    # too few seed-replicated configurations for fANOVA: performance rows only, and a note
    df[df["config_id"] < 5].to_parquet(res / "cifar10_cpu_seeds" / "evaluations.parquet")
    s = agreement_study.run(res, tmp_path / "few", n_boot=3)
    assert any("fANOVA needs at least 10" in n for n in s["notes"])
    few = pd.read_csv(tmp_path / "few" / "agreement.csv")
    assert set(few.loc[few["table"] == "cifar10-1x-seeds", "view"]) == {"performance"}
    with pytest.raises(ValueError, match="n_boot"):
        agreement_study.run(res, tmp_path / "x", n_boot=1)
    with pytest.raises(SystemExit):
        agreement_study.main(["--results", str(res), "--out", str(tmp_path / "x"), "--n-boot", "5"])


def test_resamples_are_named_alike_in_every_process():
    """Stored pieces pair with fresh ones only if a set of resamples has one name everywhere
    (`hash` is salted per process: the cause of 'not bootstrapped together' on a resumed study)."""
    import subprocess
    import sys
    code = ("import numpy as np; from hpobench.analysis import bootstrap; "
            "print(bootstrap.identity(bootstrap.resamples(np.array(list('abcdefg')), 5, 0)))")
    names = {subprocess.run([sys.executable, "-c", code], env={"PYTHONHASHSEED": str(s)}, capture_output=True,
                            text=True, check=True).stdout for s in (1, 2)}
    here = bootstrap.identity(bootstrap.resamples(np.array(list("abcdefg")), 5, 0))
    assert names == {here + "\n"}
    assert here != bootstrap.identity(bootstrap.resamples(np.array(list("abcdefg")), 5, 1))


def test_a_piece_from_other_resamples_is_recomputed(partial_results, tmp_path):
    out = tmp_path / "sv2"
    agreement_study.run(partial_results, out, n_boot=3)
    js = agreement_study.piece_path(out, "cifar10-1x-main-seed0", "data_fraction=0.1,epochs=8,resolution=16", ".json")
    meta = json.loads(js.read_text())
    for m in meta["importances"].values():
        m["resamples"] = "4162839834074011857"  # as a salted hash named them before
    js.write_text(json.dumps(meta))
    agreement_study.run(partial_results, out, n_boot=3)  # would raise 'not bootstrapped together' if read back
    assert json.loads(js.read_text())["importances"] != meta["importances"]


def _add_grid(res, name: str, keep) -> None:
    """A recorded grid's folder beside the fixture's, with the rows `keep(df)` selects."""
    (res / name).mkdir()
    shutil.copy(V2.parent / name / "meta.json", res / name / "meta.json")
    df = pd.read_parquet(V2.parent / name / "evaluations.parquet")
    df[keep(df)].to_parquet(res / name / "evaluations.parquet")


def test_the_5x_curve_is_tested_against_1x_on_its_own_configurations(partial_results, tmp_path):
    res, out = partial_results, tmp_path / "sv2"
    _add_grid(res, "cifar10_5x", lambda df: df["config_id"] < 16)  # fewer than 1x's 20
    s = agreement_study.run(res, out, n_boot=3)
    assert s["tables"]["cifar10-5x-main"]["n_configs"] == s["tables"]["cifar10-1x-nested-main"]["n_configs"] == 16
    agr = pd.read_csv(out / "agreement.csv")
    nested = agr[agr["table"] == "cifar10-1x-nested-main"]
    assert set(nested["b"]) == {"data_fraction=0.1,epochs=8,resolution=16"} and len(nested) == 2 * 2 * 2
    assert not (out / "pieces" / "cifar10-1x-nested-main-seed0").exists()  # the 5x table's pieces, read back
    cv = json.loads((out / "curves.json").read_text())
    t, curves = cv["transfer"]["importance"], cv["curves"]
    assert t["a"] != curves["cifar10 1x importance"]["fit"][0] and {"same", "same_slope"} <= set(t)


def test_the_datasets_are_compared_at_as_many_configurations(partial_results, tmp_path):
    """Agreement grows with the number of configurations: Fashion-MNIST (16 here) is tested against
    CIFAR-10 1x cut to its first 16 of 20, not against all 20."""
    res, out = partial_results, tmp_path / "sv2"
    _add_grid(res, "fashion_mnist_cpu", lambda df: (df["config_id"] < 16) & (
        (df["fidelity.data_fraction"] == 0.1) & df["fidelity.epochs"].isin([1, 8])
        | (df["fidelity.resolution"] == 7) & (df["fidelity.epochs"] == 8)))
    s = agreement_study.run(res, out, n_boot=3)
    n = {t: v["n_configs"] for t, v in s["tables"].items()}
    assert n["fashion_mnist-1x-main"] == n["cifar10-1x-matched-main"] == 16 and n["cifar10-1x-main"] == 20
    agr = pd.read_csv(out / "agreement.csv")
    cut = agr[agr["table"] == "cifar10-1x-matched-main"]
    assert len(cut) == 2 * 2 * 2 and set(cut["b"]) == {"data_fraction=0.1,epochs=8,resolution=16"}
    cv = json.loads((out / "curves.json").read_text())
    t, curves = cv["dataset"]["importance"], cv["curves"]
    assert t["a"] == pytest.approx(study.predict(curves["cifar10 1x-matched importance"], t["at"]))
    assert t["a"] != pytest.approx(study.predict(curves["cifar10 1x importance"], t["at"]))


def test_subsets_are_nested_prefixes_then_random_shares():
    got = slope_stability.subsets(np.arange(250), first=101, step=50, n_random=3, share=0.8, seed=0)
    assert [(k, len(i)) for k, i in got] == [("prefix", 101), ("prefix", 151), ("prefix", 201), ("prefix", 250),
                                             *[("random", 200)] * 3]
    assert (got[0][1] == np.arange(101)).all() and len({tuple(i) for _, i in got[4:]}) == 3


def test_slope_stability_refits_the_curve_the_study_fitted(partial_results, tmp_path):
    out = tmp_path / "sv2"
    agreement_study.run(partial_results, out, n_boot=3)
    s = slope_stability.run(partial_results, out, n_random=3)
    curve = json.loads((out / "curves.json").read_text())["curves"]["cifar10 1x importance"]
    assert s["prefix"] == [{"configs": 20, "slope": pytest.approx(curve["slope"])}]  # all of them: the study's slope
    assert s["n_random"] == 3 and s["random_min"] <= s["random_max"] and np.isfinite(s["expected_sd"])
    rows = pd.read_csv(out / "stability.csv")
    assert rows["kind"].tolist() == ["prefix", "random", "random", "random"] and (rows["configs"][1:] == 16).all()
