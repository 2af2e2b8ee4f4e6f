"""Scoping strategies at equal cost, on a synthetic study (recorded table + its surrogate)."""

import functools
import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import hpobench
from hpobench import spaces
from hpobench.analysis import compare, trials
from hpobench.benchmarks import tabular
from hpobench.experiments.studies import strategies

LOW, PROBE, SCREEN = {"epochs": 1, "data_fraction": 0.05}, {"epochs": 9, "data_fraction": 0.2}, {"epochs": 3}
SETUP = strategies.Setup(budget=6, k=2, low=LOW, probe=PROBE, screen=SCREEN, n_low=20, n_probe=15, n_boot=10,
                         expert=("lr", "n"))


@pytest.fixture(scope="module")
def study():
    live = hpobench.get("synthetic/agree")
    rows = []
    for i, c in enumerate(spaces.sample(live.config_space, 29, seed=0)):
        for f in (LOW, PROBE, SCREEN, live.full_fidelity):
            f = live.fidelity(f)
            rows.append(hpobench.trial_row(live.name, c, f, 0, live.evaluate(c, f), live.config_space)
                        | {"config_id": i})
    return live, pd.DataFrame(rows)


@pytest.mark.slow
def test_every_strategy_scopes_validly_and_charges_its_scoping(study):
    live, table = study
    got = {name: strategies.scope_for(name, table, live, SETUP, seed=0)
           for name in sorted(set(strategies.STRATEGIES) - {"one-epoch", *strategies.CONFIRMED})}  # these train
    for name, sc in got.items():
        spaces.check_subspace(sc.space, live.config_space)
        assert set(sc.tuned) <= set(sc.space)
        assert (sc.cost > 0) == (name in ("low-topk", "tool", "tool-budget")), name
    assert got["expert"].tuned == ["lr", "n"]
    low = got["low-topk"]
    assert low.cost == pytest.approx(20 * live.cost(live.fidelity(LOW)))  # n_low runs at the low fidelity
    tool = got["tool"]
    assert tool.cost == pytest.approx(low.cost + 15 * live.cost(live.fidelity(PROBE)))
    assert tool.verdict in ("scope", "scope-conservative", "higher-fidelity-needed")
    budget = got["tool-budget"]  # the best at low also at the probe
    extra = round((budget.cost - tool.cost) / live.cost(live.fidelity(PROBE)))
    assert 0 <= extra <= strategies.CONFIRM and budget.cost == pytest.approx(tool.cost + extra * live.cost(
        live.fidelity(PROBE)))
    assert budget.verdict.startswith("scope")
    r1, r2 = (strategies.scope_for("random-k", table, live, SETUP, s).tuned for s in (1, 2))
    assert r1 != r2  # seeds draw different hyperparameters


def test_too_few_recorded_configurations_fail_before_running(study):
    live, table = study
    with pytest.raises(ValueError, match="--n-low 40 needs more"):
        setup = strategies.Setup(n_low=40, low=LOW, probe=PROBE)
        strategies._draw(table, live, setup, __import__("numpy").random.default_rng(0))


@pytest.mark.slow  # runs the harness's runs (BOHB, random)
def test_a_run_spends_the_budget_minus_scoping_and_resumes(study, tmp_path):
    live, table = study
    sur = tabular.surrogate(table, live)
    row, curve = strategies.run_one("low-topk", "bohb", 0, table, live, sur, SETUP)
    total = SETUP.budget * live.cost(live.full_fidelity)
    assert row["scoping_cost"] > 0 and curve["total"].max() <= total + 1e-9
    assert row["final_f1"] >= row["default_f1"] and row["f1_at_1"] == row["final_f1"]
    assert json.loads(row["incumbent"])  # the incumbent configuration, as JSON
    assert row["n_tuned"] < len(live.config_space)
    scopes = {}
    first, _ = strategies.run_one("low-topk", "random", 0, table, live, sur, SETUP, scopes)
    scopes[("low-topk", 0)] = (strategies.Scope(live.config_space, 0.0, list(live.config_space)), None, [])
    cached, _ = strategies.run_one("low-topk", "random", 0, table, live, sur, SETUP, scopes)
    assert first["scoping_cost"] == row["scoping_cost"] and cached["scoping_cost"] == 0  # read from the cache


@pytest.mark.slow  # runs the harness's one-epoch run
def test_one_epoch_fully_trains_the_best_screened_configurations_of_the_tools_draw(study):
    live, table = study
    row, curve = strategies.run_one("one-epoch", "smac", 3, table, live, live, SETUP)
    full, screen = live.cost(live.full_fidelity), live.cost(live.fidelity(SCREEN))
    assert row["optimizer"] == "none" and row["scoping_cost"] == pytest.approx(20 * screen)
    k = int((SETUP.budget * full - 20 * screen) // full)
    assert row["trials"] == k and curve["total"].max() <= SETUP.budget * full + 1e-9
    ids = strategies._chosen(table, live, SETUP, np.random.default_rng(3))
    drawn = strategies._draw(table, live, SETUP, np.random.default_rng(3))
    assert set(ids) == set(drawn["config_id"])  # the same configurations the tool scopes from
    at = table[(table["fidelity.epochs"] == 3) & table["config_id"].isin(ids)].sort_values("f1", ascending=False)
    top = tabular.configs(at.head(k), live)
    want = max(live.evaluate(c, live.full_fidelity, seed=3).f1 for c in top)
    assert row["final_f1"] == pytest.approx(want) and row["f1_at_1"] == row["final_f1"]
    assert spaces.typed(live.config_space, json.loads(row["incumbent"])) in top
    with pytest.raises(ValueError, match="no full training after screening"):
        strategies.one_epoch(table, live, live, strategies.Setup(budget=1, low=LOW, probe=PROBE, screen=SCREEN,
                                                                 n_low=20), 0)


def test_strategies_are_paired_with_all_by_seed_and_one_epoch_with_every_optimizer():
    seeds = list(range(5))
    smac_all, bohb_all = [0.5, 0.6, 0.7, 0.5, 0.6], [0.4, 0.5, 0.6, 0.5, 0.5]
    runs = pd.DataFrame({"strategy": ["all"] * 10 + ["expert"] * 5 + ["one-epoch"] * 5,
                         "optimizer": ["smac"] * 5 + ["bohb"] * 5 + ["smac"] * 5 + ["none"] * 5,
                         "seed": seeds * 4,
                         "final_f1": smac_all + bohb_all + [f + 0.1 for f in smac_all] + [0.5] * 5})
    vs = compare.versus_all(runs).set_index(["strategy", "versus"])
    assert vs.loc[("expert", "all (smac)"), "mean_diff"] == pytest.approx(0.1)
    assert vs.loc[("expert", "all (smac)"), ["below", "above", "decided"]].tolist() == [0, 5, True]
    assert ("expert", "all (bohb)") not in vs.index  # expert ran with smac only
    assert vs.loc[("one-epoch", "all (smac)"), ["below", "above", "ties"]].tolist() == [3, 0, 2]
    assert vs.loc[("one-epoch", "all (bohb)"), "mean_diff"] == pytest.approx(0.0)
    assert not vs.loc[("one-epoch", "all (bohb)"), "decided"]  # its interval holds 0
    t = compare.table(runs.assign(**{"f1_at_0.25": 0.3, "f1_at_0.5": 0.4, "n_tuned": 2, "scoping_share": 0.1}))
    t = t.set_index("strategy")
    assert t.loc["one-epoch", "wins vs all"] == "0/5 (smac), 1/5 (bohb)"
    few = compare.versus_all(runs[runs.seed < 3]).set_index(["strategy", "versus"])
    assert not few.loc[("expert", "all (smac)"), "decided"]  # 3 seeds: too few to bound, however clear


def test_anytime_reads_each_seeds_incumbent_at_a_share_of_the_budget():
    curves = pd.concat([pd.DataFrame({"optimizer": "smac", "strategy": "all", "seed": s, "total": [2.0 + s, 6.0],
                                      "incumbent_trial": [0, 1], "incumbent_f1": [0.2 + s / 10, 0.5]})
                        for s in range(5)])
    at = compare.anytime(curves, 10.0, fractions=(0.1, 0.5, 1.0)).set_index("fraction")
    assert at.loc[0.1, "seeds"] == 0  # nothing trained fully yet
    assert at.loc[0.5, ["seeds", "mean"]].tolist() == [4, pytest.approx(0.35)]  # seed 4's first ends at 6
    assert at.loc[1.0, "mean"] == pytest.approx(0.5) and at.loc[1.0, "lower"] == at.loc[1.0, "upper"] == 0.5
    assert np.isnan(at.loc[0.5, "lower"])  # 4 seeds: too few for an interval


@pytest.mark.slow
def test_a_process_skips_runs_another_process_finished_with_the_same_settings(tmp_path, monkeypatch):
    # each call also summarises: the surrogate's landscape and holdout error on smaller samples (not checked here)
    monkeypatch.setattr(strategies, "landscape", functools.partial(strategies.landscape, n=200))
    monkeypatch.setattr(tabular, "holdout", functools.partial(tabular.holdout, folds=2))
    args = ["--seeds", "1", "--budget", "2", "--optimizers", "random", "--out", str(tmp_path)]
    strategies.main(args + ["--strategies", "expert"])
    strategies.main(args + ["--strategies", "expert", "all"])  # split differently: expert is done
    strategies.main(args + ["--strategies", "expert", "all", "--summarise"])  # reads both journals, runs nothing
    second = [json.loads(s) for s in (tmp_path / "runs-random-expert-all.jsonl").read_text().splitlines()]
    assert [e["row"]["strategy"] for e in second if "row" in e] == ["all"]
    assert sorted(pd.read_parquet(tmp_path / "runs.parquet")["strategy"]) == ["all", "expert"]
    assert second[-1]["env"]["cpu"]  # each run records where it ran
    strategies.main(args + ["--strategies", "expert", "--seeds", "2", "--first-seed", "1"])  # the upper seed only
    first = [json.loads(s) for s in (tmp_path / "runs-random-expert.jsonl").read_text().splitlines()]
    assert [e["row"]["seed"] for e in first if "row" in e] == [0, 1]


def test_summarise_runs_nothing_and_says_so_when_nothing_is_recorded(tmp_path):
    with pytest.raises(SystemExit, match="holds no runs made with these settings"):
        strategies.main(["--summarise", "--seeds", "1", "--budget", "2", "--optimizers", "random",
                         "--strategies", "expert", "--out", str(tmp_path)])
    assert not list(tmp_path.glob("runs-*.jsonl"))  # no journal opened, no run made


def test_anchors_score_where_tool_budget_and_one_epoch_start(study):
    live, table = study
    got = strategies.anchors(table, live, SETUP, 3)
    assert list(got["seed"]) == [0, 1, 2]
    full = dict(zip(table[table["fidelity.epochs"] == live.full_fidelity["epochs"]]["config_id"],
                    tabular.scored_f1(table[table["fidelity.epochs"] == live.full_fidelity["epochs"]])))
    for r in got.itertuples():
        assert r.anchor_full_f1 == pytest.approx(full[r.anchor])  # the anchor's own recorded full F1
        assert r.anchor_full_f1 <= r.best_full_f1 + 1e-12 and r.one_epoch_full_f1 <= r.best_full_f1 + 1e-12
        assert r.anchor_full_f1 <= r.confirm_full_f1 <= r.best_full_f1 + 1e-12  # the anchor is one it confirms
        assert r.sized_full_f1 == r.confirm_full_f1 and r.sized_top5_full_f1 == r.confirm_full_f1  # same design at 6


@pytest.mark.slow  # trains the confirming configurations and tunes (SMAC)
def test_tool_confirm_trains_the_best_at_the_probe_fully_and_tunes_around_the_best_reusing_it(study):
    live, table = study
    setup = strategies.Setup(budget=10, k=2, low=LOW, probe=PROBE, screen=SCREEN, n_low=20, n_probe=15, n_boot=10)
    sc, done, known = strategies.confirmed(table, live, live, setup, seed=1)
    full, k = live.cost(live.full_fidelity), strategies.CONFIRM_FULL
    scoping = strategies.scope_for("tool-budget", table, live, setup, seed=1).cost
    assert len(done) == len(known) == k and sc.cost == pytest.approx(scoping + k * full)
    f1 = [r["result"].f1 for r in known]
    assert done["f1"].tolist() == pytest.approx(f1) and done["spent"].iloc[-1] == pytest.approx(sc.cost)
    anchor = known[int(np.argmax(f1))]["config"]
    assert live.config(sc.space.get_default_configuration()) == live.config(anchor)  # the tuner starts there
    row, curve = strategies.run_one("tool-confirm", "smac", 1, table, live, live, setup)
    assert row["reused"] == 1  # the anchor's training was not repeated
    assert curve["total"].max() <= setup.budget * full + 1e-9 and curve["incumbent_f1"].is_monotonic_increasing
    assert row["final_f1"] >= max(f1) and row["scoping_cost"] == pytest.approx(sc.cost)
    assert row["trials"] == k + int((setup.budget * full - sc.cost) // full)  # each training once
    with pytest.raises(ValueError, match="tool-confirm needs more than 3"):
        strategies.confirmed(table, live, live, replace(setup, budget=4), seed=1)
    # tool-prior: the same scope and trainings; the tuner's model starts from the scope's records
    obs = strategies._trained(table, live, live, setup, 1, known, sc.space)
    budgets = {o.budget for o in obs}
    assert len(budgets) == 3 and sum(o.budget == max(budgets) for o in obs) == k  # low, probe and the confirmed
    # the same scope, from run_one's cache (what a harness process keeps per strategy and seed)
    prior, prior_curve = strategies.run_one("tool-prior", "smac", 1, table, live, live, setup,
                                            {("tool-prior", 1): (sc, done, known)})
    assert prior["reused"] == 1 and prior["trials"] == row["trials"] and prior["n_tuned"] == row["n_tuned"]
    assert prior_curve["incumbent_f1"].iloc[:k].tolist() == curve["incumbent_f1"].iloc[:k].tolist()
    assert prior["final_f1"] >= max(f1) and prior_curve["total"].max() <= setup.budget * full + 1e-9
    # tool-anchor: the same anchor, every hyperparameter tuned from it
    whole, whole_done, _ = strategies.confirmed(table, live, live, setup, seed=1, whole=True)
    assert whole.tuned == list(live.config_space) and whole.cost == sc.cost
    assert live.config(whole.space.get_default_configuration()) == live.config(anchor)
    spaces.check_subspace(whole.space, live.config_space)
    assert {n: (h.lower, h.upper) for n, h in whole.space.items() if hasattr(h, "lower")} == \
        {n: (h.lower, h.upper) for n, h in live.config_space.items() if hasattr(h, "lower")}
    got, _ = strategies.run_one("tool-anchor", "smac", 1, table, live, live, setup,
                                {("tool-anchor", 1): (whole, whole_done, known)})
    assert got["reused"] == 1 and got["n_tuned"] == len(list(live.config_space)) and got["final_f1"] >= max(f1)


def test_tool_sized_is_tool_confirm_at_10_and_spends_its_share_of_a_larger_budget_on_cheap_configurations(study):
    live, table = study
    at10 = replace(SETUP, budget=10)
    assert strategies.sized(live, at10) == (at10, strategies.CONFIRM) == strategies.design("tool-confirm", live, at10)
    c_low, c_full = live.cost(live.fidelity(LOW)), live.cost(live.full_fidelity)
    sizes = []
    for budget in (12, 20, 30):
        s, promote = strategies.sized(live, replace(SETUP, budget=budget))
        spend = strategies.SIZED_SHARE * (budget - strategies.SIZED_FROM) * c_full
        assert (s.n_low - SETUP.n_low) * c_low <= spend + 1e-9 < (s.n_low - SETUP.n_low + 1) * c_low
        assert promote == max(strategies.CONFIRM, s.n_low // 10) == strategies.scope.promoted(s.n_low)
        sizes.append(s.n_low)
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    # the promoted best at the low fidelity all run at the probe, beside the first n_probe
    s = replace(SETUP, n_low=29, n_probe=5)
    drawn = strategies._draw(table, live, s, np.random.default_rng(0), 12)
    low, probe = (trials.at(drawn, live.fidelity(f)) for f in (LOW, PROBE))
    best = low.assign(score=tabular.scored_f1(low)).sort_values("score", ascending=False)["config_id"].head(12)
    assert set(best) <= set(probe["config_id"]) and len(probe) <= 5 + 12


def test_a_baseline_joins_under_todays_optimizer_names_and_a_rerun_replaces_its_run(tmp_path):
    settings = {"setup": {"budget": 10}}
    (tmp_path / "settings.json").write_text(json.dumps(settings))
    key = pd.DataFrame({"strategy": ["all", "all"], "optimizer": ["bohb", "smac"], "seed": [0, 0]})
    key.assign(final_f1=[0.4, 0.5]).to_parquet(tmp_path / "runs.parquet")
    key.assign(spent=1.0).to_parquet(tmp_path / "curves.parquet")
    mine = pd.DataFrame({"strategy": ["all"], "optimizer": ["smac"], "seed": [0], "final_f1": [0.6]})
    runs, curves = strategies._with_baseline(tmp_path, settings, mine, mine[["strategy", "optimizer", "seed"]],
                                             {"bohb": "bohb-paper"})
    assert sorted(zip(runs["optimizer"], runs["final_f1"])) == [("bohb-paper", 0.4), ("smac", 0.6)]
    assert sorted(curves["optimizer"]) == ["bohb-paper", "smac"]
    with pytest.raises(SystemExit, match="other settings"):
        strategies._with_baseline(tmp_path, {"setup": {"budget": 30}}, mine, mine, {})


def test_a_baseline_drawn_from_another_table_lends_only_the_strategies_that_read_none(tmp_path):
    theirs = {"setup": {"budget": 30, "n_low": 40}, "table_rows": 1010}
    (tmp_path / "settings.json").write_text(json.dumps(theirs))
    key = pd.DataFrame({"strategy": ["all", "expert", "one-epoch", "tool-confirm"], "optimizer": "smac", "seed": 0})
    key.assign(final_f1=0.5).to_parquet(tmp_path / "runs.parquet")
    key.assign(spent=1.0).to_parquet(tmp_path / "curves.parquet")
    mine = pd.DataFrame({"strategy": ["tool-sized"], "optimizer": ["smac"], "seed": [0], "final_f1": [0.6]})
    ours = {"setup": {"budget": 30, "n_low": 40}, "table_rows": 4010}
    runs, curves = strategies._with_baseline(tmp_path, ours, mine, mine[["strategy", "optimizer", "seed"]])
    assert sorted(runs["strategy"]) == ["all", "expert", "tool-sized"] == sorted(curves["strategy"])
    with pytest.raises(SystemExit, match="other settings"):  # the budget changes every strategy
        strategies._with_baseline(tmp_path, ours | {"setup": {"budget": 10, "n_low": 40}}, mine, mine)


def test_bad_seed_ranges_and_renames_fail_before_any_run(tmp_path, capsys):
    for bad, says in ((["--first-seed", "3", "--seeds", "3"], "outside 0..2"),
                      (["--baseline-optimizer", "bohb"], "takes OLD=NEW")):
        with pytest.raises(SystemExit):
            strategies.main(bad + ["--out", str(tmp_path)])
        assert says in capsys.readouterr().err
    assert not list(tmp_path.glob("runs-*.jsonl"))


@pytest.mark.slow  # fits 4 surrogates a seed
def test_anchored_gains_read_each_hyperparameter_from_the_anchor_at_every_source(study):
    from hpobench.experiments.studies import anchored_gains
    live, table = study
    full, setup = anchored_gains.surrogate(table, live), replace(SETUP, budget=10)
    df = pd.concat([anchored_gains.per_seed(table, live, setup, seed, full) for seed in (0, 1)])
    assert set(df["source"]) == set(anchored_gains.SOURCES) and set(df["seed"]) == {0, 1}
    assert (df.groupby(["seed", "source"]).size() == df.groupby(["seed", "source"]).size().iloc[0]).all()
    assert df["gain"].notna().all() and (df["gain"] > 1e-4).any()
    n = setup.budget - strategies._draw(table, live, setup, np.random.default_rng(0), strategies.CONFIRM)[
        "cost"].sum() / live.cost(live.full_fidelity)
    assert df[df.seed == 0]["n"].iloc[0] == int(n + 1e-9) - strategies.CONFIRM_FULL > 0
    rho = anchored_gains.agreement(df, watch="lr")
    assert len(rho) == 2 and rho["full vs full_drawn"].between(-1, 1).all() and "lr rank full_drawn" in rho
    md = anchored_gains.summarise(df, rho)
    assert "| lr " in md and "Means: low vs full_drawn" in md
