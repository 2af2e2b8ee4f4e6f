"""Scoping strategies at equal cost, on a synthetic study (recorded table + its surrogate)."""

import json

import pandas as pd
import pytest

import hpobench
from hpobench import spaces
from hpobench.benchmarks import tabular
from hpobench.experiments import strategies

LOW, PROBE = {"epochs": 1, "data_fraction": 0.05}, {"epochs": 9, "data_fraction": 0.2}
SETUP = strategies.Setup(budget=6, k=2, low=LOW, probe=PROBE, n_low=20, n_probe=15, n_boot=10,
                         expert=("lr", "n"))


@pytest.fixture(scope="module")
def study():
    live = hpobench.get("synthetic/agree")
    rows = []
    for i, c in enumerate(spaces.sample(live.config_space, 29, seed=0)):
        for f in (LOW, PROBE, live.full_fidelity):
            f = live.fidelity(f)
            rows.append(hpobench.trial_row(live.name, c, f, 0, live.evaluate(c, f), live.config_space)
                        | {"config_id": i})
    return live, pd.DataFrame(rows)


@pytest.mark.slow
def test_every_strategy_scopes_validly_and_charges_its_scoping(study):
    live, table = study
    for name in strategies.STRATEGIES:
        sc = strategies.scope_for(name, table, live, SETUP, seed=1)
        spaces.check_subspace(sc.space, live.config_space)
        assert set(sc.tuned) <= set(sc.space)
        assert (sc.cost > 0) == (name in ("low-topk", "tool")), name
    assert strategies.scope_for("expert", table, live, SETUP, 0).tuned == ["lr", "n"]
    low = strategies.scope_for("low-topk", table, live, SETUP, 0)
    assert low.cost == pytest.approx(20 * live.cost(live.fidelity(LOW)))  # n_low runs at the low fidelity
    tool = strategies.scope_for("tool", table, live, SETUP, 0)
    assert tool.cost == pytest.approx(low.cost + 15 * live.cost(live.fidelity(PROBE)))
    assert tool.verdict in ("scope", "scope-conservative", "higher-fidelity-needed")
    r1, r2 = (strategies.scope_for("random-k", table, live, SETUP, s).tuned for s in (1, 2))
    assert r1 != r2  # seeds draw different hyperparameters


def test_too_few_recorded_configurations_fail_before_running(study):
    live, table = study
    with pytest.raises(ValueError, match="--n-low 40 needs more"):
        setup = strategies.Setup(n_low=40, low=LOW, probe=PROBE)
        strategies._draw(table, live, setup, __import__("numpy").random.default_rng(0))


def test_a_run_spends_the_budget_minus_scoping_and_resumes(study, tmp_path):
    live, table = study
    sur = tabular.surrogate(table, live)
    row, curve = strategies.run_one("low-topk", "bohb", 0, table, live, sur, SETUP)
    total = SETUP.budget * live.cost(live.full_fidelity)
    assert row["scoping_cost"] > 0 and curve["total"].max() <= total + 1e-9
    assert row["final_f1"] >= row["default_f1"] and row["f1_at_1"] == row["final_f1"]
    assert json.loads(row["incumbent"])  # the incumbent configuration, as JSON
    assert row["n_tuned"] < len(live.config_space)



def test_landscape_compares_predicted_and_recorded_chances_to_beat_the_default(study):
    live, table = study
    L = strategies.landscape(table, live, live, n=300)  # the live benchmark as its own perfect "surrogate"
    full = table[table["fidelity.epochs"] == live.full_fidelity["epochs"]]
    default = full.loc[full["config_id"] == 0, "f1"].iloc[0]
    assert L["recorded_configs"] == len(full) == 30 and L["default_recorded"] == default == L["default_predicted"]
    assert L["share_above_default_recorded"] == (full["f1"] > default).mean()
    assert abs(L["share_above_default_predicted"] - L["share_above_default_recorded"]) < 0.25
    sur = strategies.landscape(table, live, tabular.surrogate(table, live), n=300)
    assert sur["sd_predicted"] < L["sd_predicted"]  # a forest on 29 configurations shrinks to the mean


def test_live_runs_are_set_beside_the_surrogates_predictions(study):
    live, table = study
    row, _ = strategies.run_one("expert", "random", 0, table, live, live, SETUP)  # live: the benchmark itself
    live.config(json.loads(row["incumbent"]))  # the incumbent round-trips through its JSON, types intact
    vs = strategies.versus_surrogate(pd.DataFrame([row]), table, live)
    assert vs.loc[0, "final_f1"] == row["final_f1"] and vs.loc[0, "default_f1"] == row["default_f1"]
    sur = tabular.surrogate(table, live)
    inc = spaces.typed(live.config_space, json.loads(row["incumbent"]))
    assert vs.loc[0, "final_predicted"] == sur.evaluate(inc, live.full_fidelity).f1
    assert abs(vs.loc[0, "default_predicted"] - row["default_f1"]) < 0.1  # the default is in the table
