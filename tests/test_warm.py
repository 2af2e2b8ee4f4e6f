"""Warm-starting a tune from a scope or tune folder (`hpobench.optimizers.warm`): projection,
the choice of configurations, what each optimizer is told, the errors before compute, resume."""

import json
import shutil
from dataclasses import replace

import pandas as pd
import pytest
from ConfigSpace import Categorical, ConfigurationSpace, Float

import hpobench
from hpobench import records, spaces
from hpobench.experiments import cli, grid
from hpobench.experiments.spec import Cell, cell_key
from hpobench.optimizers import warm
from hpobench.optimizers.warm import WarmStartError

FULL = 81
LOW = {"epochs": 9, "data_fraction": 0.25}
PROBE = {"epochs": 27, "data_fraction": 0.5}


def _scope_folder(out, name="synthetic/agree", n_low=24, n_probe=8, seed=0):
    """A scope folder as `hpobench scope` records one (the same cells through the same grid runner)."""
    bench = hpobench.get(name)
    configs = spaces.sample(bench.config_space, n_low - 1, seed)
    cells = [Cell(cell_key(name, {}, c, bench.fidelity(f), seed), i, c, bench.fidelity(f), seed)
             for i, c in enumerate(configs) for f, n in ((LOW, n_low), (PROBE, n_probe)) if i < n]
    grid.run_cells(bench, name, {}, cells, out, {"scope": {"benchmark": name, "bench_kwargs": {}, "seed": seed}},
                   progress=False)
    return out


@pytest.fixture(scope="module")
def scope_dir(tmp_path_factory):
    return _scope_folder(tmp_path_factory.mktemp("scope") / "scope")


def _scoped(bench):
    return spaces.fix(bench.config_space, ["x0", "x2", "cat", "branch"])


# --- projection -------------------------------------------------------------------------------------

def test_projection_takes_constants_clips_ranges_fills_inactive_and_drops_bad_categories():
    full = spaces.resnet()
    scoped = spaces.fix(full, {"optimizer": "sgd", "weight_decay": 1e-3})
    cfg = warm.project(scoped, {"optimizer": "adamw", "adamw_beta1": 0.85, "learning_rate": 5.0, "weight_decay": 1e-5,
                                "batch_size": 64, "schedule": "step", "step_drops": 7.0, "sgd_momentum": None})
    assert cfg["optimizer"] == "sgd" and cfg["weight_decay"] == 1e-3  # the scoped space's constants
    assert cfg["learning_rate"] == 1.0 and cfg["step_drops"] == 3  # clipped into the range (int kept int)
    assert cfg["sgd_momentum"] == 0.9 and "adamw_beta1" not in cfg  # inactive in the record: its default
    assert cfg["batch_size"] == 64 and cfg["schedule"] == "step"
    narrow = ConfigurationSpace({"schedule": Categorical("schedule", ["cosine", "constant"])})
    assert warm.project(narrow, {"schedule": "step"}) is None  # a category the space does not allow
    assert warm.project(narrow, {"schedule": "constant"}) == {"schedule": "constant"}
    ordinal = spaces.fix(full, {"optimizer": "sgd"})
    assert warm.project(ordinal, {"batch_size": 100})["batch_size"] == 128  # ordinal: the nearest value


def test_load_from_a_scope_folder(scope_dir):
    bench = hpobench.get("synthetic/agree")
    space = _scoped(bench)
    ws = warm.load(scope_dir, bench, space, k=4)
    assert len(ws.configs) == 4 and len({json.dumps(c, sort_keys=True) for c in ws.configs}) == 4
    for c in ws.configs:
        assert c["x0"] == 0.5 and c["cat"] == "a" and c["branch"] == "left" and "right_x" not in c
        assert c != spaces.typed(space, dict(space.get_default_configuration()))
    # cost-equivalent budgets on the epochs axis: 81 x (9 x 0.25) / 81 and 81 x (27 x 0.5) / 81
    assert sorted({o.budget for o in ws.observations}) == [2.25, 13.5]
    assert len(ws.observations) <= 24 + 8
    # round robin, highest fidelity first: the best probe configuration, then the best low one
    default = spaces.typed(space, dict(space.get_default_configuration()))  # trial 0 already: never again
    probe = sorted((o for o in ws.observations if o.budget == 13.5 and o.ok and o.config != default),
                   key=lambda o: o.loss)
    low = sorted((o for o in ws.observations if o.budget == 2.25 and o.ok and o.config != default),
                 key=lambda o: o.loss)
    assert ws.configs[0] == probe[0].config
    assert ws.configs[1] == (low[0] if low[0].config != probe[0].config else low[1]).config


def test_load_from_a_tune_folder(tmp_path):
    bench = hpobench.get("synthetic/agree")
    hpobench.tune(bench, "hyperband", budget=6 * FULL, seed=0, out=tmp_path / "hb")
    ws = warm.load(tmp_path / "hb", bench, k=3)
    trials = pd.read_parquet(tmp_path / "hb" / "trials.parquet")
    assert len(ws.configs) == 3 and {o.budget for o in ws.observations} == set(trials["budget"].astype(float))
    top = max(o.budget for o in ws.observations if o.ok and o.config != _config(trials.iloc[0], bench))
    best = min((o for o in ws.observations if o.budget == top and o.ok), key=lambda o: o.loss)
    assert ws.configs[0] == best.config  # the best at the highest recorded fidelity comes first


def _config(row, bench):
    return spaces.typed(bench.config_space, {k[len("config."):]: v for k, v in row.items() if k.startswith("config.")})


# --- what the optimizers are told --------------------------------------------------------------------

def test_a_warm_started_smac_proposes_the_warm_configurations_first(scope_dir):
    bench = hpobench.get("synthetic/agree")
    space = _scoped(bench)
    ws = warm.load(scope_dir, bench, space)
    run = hpobench.tune(bench, "smac", budget=8 * FULL, seed=3, space=space, warm_start=scope_dir)
    first = run.trials.sort_values("trial").iloc[1: 1 + len(ws.configs)]
    assert [_config(r, bench) for _, r in first.iterrows()] == ws.configs
    assert all("smac" in json.loads(i) for i in first["opt_info"])  # proposed by SMAC (its initial design)
    assert all(first["full"])
    assert run.meta["warm_start"]["configs"] == ws.configs
    cold = hpobench.tune(bench, "smac", budget=8 * FULL, seed=3, space=space)
    assert [_config(r, bench) for _, r in cold.trials.iloc[1:5].iterrows()] != ws.configs


def test_smac_with_the_prior_fits_its_model_on_the_records_at_full_fidelity_before_its_first_ask(scope_dir):
    from hpobench.optimizers import smac
    from hpobench.optimizers.base import Problem
    bench = hpobench.get("synthetic/agree")
    space = _scoped(bench)
    ws = replace(warm.load(scope_dir, bench, space, k=0), prior=True)
    full_cost = bench.cost(bench.full_fidelity)
    assert {o.budget for o in ws.observations} == {FULL * bench.cost(bench.fidelity(f)) / full_cost
                                                  for f in (LOW, PROBE)}
    told = warm.aligned(ws.observations, FULL)
    assert not told  # no configuration at full fidelity: nothing places the cheap records
    full = pd.DataFrame([{**{f"config.{n}": v for n, v in c.items()},
                          **{f"fidelity.{n}": v for n, v in bench.full_fidelity.items()},
                          "status": "ok", "value": bench.evaluate(c).value(bench.metric)}
                         for c in [o.config for o in ws.observations[:3]]])
    obs = ws.observations + warm.observations(full, bench, space)[0]
    told = warm.aligned(obs, FULL)
    assert {o.budget for o in told} == {FULL} and len(told) == len({json.dumps(o.config) for o in obs})
    ws = replace(ws, observations=obs)
    opt = smac.make_hpo(Problem.make(bench, space, seed=0, budget=10 * FULL, warm=ws), n_trials=10)
    default = dict(space.get_default_configuration())
    assert len(opt.facade.runhistory) == len([o for o in told if o.config != default])
    opt.ask()
    assert "initial" not in opt.pending[0].config.origin.lower()  # from the model: no random design
    cold = smac.make_hpo(Problem.make(bench, space, seed=0, budget=10 * FULL), n_trials=10)
    assert len(cold.facade.runhistory) == 0
    cold.ask()
    assert "initial" in cold.pending[0].config.origin.lower()
    run = hpobench.tune(bench, "smac", budget=4 * FULL, seed=0, space=space, warm_start=ws)
    assert run.meta["warm_start"]["prior"] is True and len(run.trials) == 4


@pytest.mark.parametrize("name", ["bohb", pytest.param("smac-mf", marks=pytest.mark.slow)])  # SMAC-MF: ~5 s
def test_bohb_and_smac_mf_evaluate_the_warm_configurations_first_and_bohb_models_at_once(name, scope_dir):
    bench = hpobench.get("synthetic/agree")
    space = _scoped(bench)
    ws = warm.load(scope_dir, bench, space, k=2)
    run = hpobench.tune(bench, name, budget=6 * FULL, seed=1, space=space, warm_start=scope_dir, warm_k=2)
    t = run.trials.sort_values("trial")
    assert [json.loads(i) for i in t["opt_info"].iloc[1:3]] == [{"origin": "warm", "rank": 0},
                                                              {"origin": "warm", "rank": 1}]
    assert [_config(r, bench) for _, r in t.iloc[1:3].iterrows()] == ws.configs and t["full"].iloc[1:3].all()
    if name == "bohb":  # the scope's records already make a model: no random-only start
        sampled = [json.loads(i).get("sampled", "") for i in t["opt_info"].iloc[3:]]
        assert any(s.startswith("model@") for s in sampled[:6])
        cold = hpobench.tune(bench, "bohb", budget=6 * FULL, seed=1, space=space)
        sampled = [json.loads(i).get("sampled", "") for i in cold.trials["opt_info"].iloc[1:7]]
        assert not any(s.startswith("model@") for s in sampled)


# --- bad input: clear errors before compute ----------------------------------------------------------

def _fails(tmp_path, match, source, bench="synthetic/agree", space=None, **kw):
    out = tmp_path / "never"
    with pytest.raises(WarmStartError, match=match):
        hpobench.tune(bench, "smac", budget=5 * FULL, space=space, out=out, warm_start=source, **kw)
    assert not out.exists()


def test_another_benchmark_is_refused(tmp_path, scope_dir):
    _fails(tmp_path, "records are of synthetic/agree, not of synthetic/reversed", scope_dir, bench="synthetic/reversed")


def test_an_incompatible_space_is_refused(tmp_path, scope_dir):
    from hpobench.benchmarks.base import Benchmark
    live = hpobench.get("synthetic/agree")
    other = ConfigurationSpace({"lr": Categorical("lr", ["low", "high"]), "zz": Float("zz", (0, 1))})
    fake = Benchmark(live.name, other, live.fidelity_space, live.fn, cost_fn=live.cost)
    _fails(tmp_path, r"(?s)does not match.*lr: categorical here, float.*zz: not in the recorded space", scope_dir,
           bench=fake)


def test_missing_empty_and_failed_records_are_refused(tmp_path, scope_dir):
    _fails(tmp_path, "not a scope or tune run folder", tmp_path / "nowhere")
    empty = tmp_path / "empty"
    shutil.copytree(scope_dir, empty)
    df = pd.read_parquet(empty / "evaluations.parquet")
    df.iloc[:0].to_parquet(empty / "evaluations.parquet")
    _fails(tmp_path, "no records", empty)
    (empty / "evaluations.parquet").unlink()
    _fails(tmp_path, "no evaluations.parquet", empty)
    failed = tmp_path / "failed"
    shutil.copytree(scope_dir, failed)
    df.assign(status="crashed").to_parquet(failed / "evaluations.parquet")
    _fails(tmp_path, "every record failed", failed)
    unfinished = tmp_path / "unfinished"
    shutil.copytree(scope_dir, unfinished)
    (unfinished / "journal.jsonl").write_text(json.dumps({"key": "k", "row": {}}) + "\n")
    _fails(tmp_path, "still in its journal", unfinished)


def test_nothing_left_after_projection_and_bad_k_are_refused(tmp_path, scope_dir):
    live = hpobench.get("synthetic/agree")
    only_b = ConfigurationSpace({"cat": Categorical("cat", ["b"])})  # not a sub-space: checked as such first
    with pytest.raises(spaces.SpaceError):
        hpobench.tune(live, "smac", budget=5 * FULL, space=only_b, warm_start=scope_dir)
    with pytest.raises(WarmStartError, match="none of its"):
        warm.load(scope_dir, live, ConfigurationSpace({"cat": Categorical("cat", ["zz"])}))
    _fails(tmp_path, "0 or more", scope_dir, warm_k=-1)
    with pytest.raises(hpobench.optimizers.OptimizerError, match="goes with warm_start"):
        hpobench.tune(live, "smac", budget=5 * FULL, warm_k=3)
    with pytest.raises(hpobench.optimizers.OptimizerError, match=r"warm_prior \(--warm-prior\) goes with"):
        hpobench.tune(live, "smac", budget=5 * FULL, warm_prior=True)


def test_cli_error_exits_2(capsys, tmp_path, scope_dir):
    code = cli.main(["tune", "synthetic/reversed", "--optimizer", "bohb", "--budget", "405", "--out",
                     str(tmp_path / "t"), "--warm-start", str(scope_dir), "--quiet"])
    assert code == 2 and "not of synthetic/reversed" in capsys.readouterr().err
    assert not (tmp_path / "t").exists()
    code = cli.main(["tune", "synthetic/agree", "--optimizer", "smac", "--budget", "243", "--out",
                     str(tmp_path / "p"), "--warm-start", str(scope_dir), "--warm-k", "0", "--warm-prior", "--quiet"])
    assert code == 0 and records.read_meta(tmp_path / "p")["warm_start"]["prior"] is True
    # nothing at full fidelity places the scope's records: SMAC's own random design, as without them
    assert records.read_meta(tmp_path / "p")["warm_start"]["configs"] == []
    t = pd.read_parquet(tmp_path / "p" / "trials.parquet").sort_values("trial")
    cold = hpobench.tune("synthetic/agree", "smac", budget=243, seed=0)
    assert t["f1"].tolist() == pytest.approx(cold.trials.sort_values("trial")["f1"].tolist())


# --- resume --------------------------------------------------------------------------------------------

def _events(out):
    return [{k: v for k, v in e.items() if k not in ("started", "wall_s")} | (
        {"result": {k: v for k, v in e["result"].items() if k not in ("info", "cost_s")}} if "result" in e else {})
        for e in records.read_journal(out / "journal.jsonl")]


@pytest.mark.parametrize("name", ["smac", "bohb"])
def test_a_killed_warm_run_resumes_without_evaluating_anything_twice(name, tmp_path, scope_dir):
    bench = hpobench.get("synthetic/agree")
    space = _scoped(bench)
    kw = dict(budget=8 * FULL, seed=2, space=space, warm_start=scope_dir)
    ref = hpobench.tune(bench, name, out=tmp_path / "ref", **kw)
    killed = tmp_path / "killed"
    killed.mkdir()
    shutil.copy(tmp_path / "ref" / "meta.json", killed / "meta.json")
    lines = (tmp_path / "ref" / "journal.jsonl").read_text().splitlines(keepends=True)
    n = 5  # the default and the first warm trials are told; the rest is lost
    (killed / "journal.jsonl").write_text("".join(lines[:n]))
    run = hpobench.tune(bench, name, out=killed, **kw)
    after = _events(killed)
    assert after[:n] == _events(tmp_path / "ref")[:n] and after == _events(tmp_path / "ref")
    tells = [e["trial"] for e in after if e["event"] == "tell"]
    assert len(tells) == len(set(tells))  # nothing evaluated twice
    pd.testing.assert_series_equal(run.trials["f1"], ref.trials["f1"])


def test_resuming_with_another_or_changed_warm_start_is_refused(tmp_path, scope_dir):
    bench = hpobench.get("synthetic/agree")
    space = _scoped(bench)
    hpobench.tune(bench, "bohb", budget=3 * FULL, seed=0, space=space, out=tmp_path / "t", warm_start=scope_dir)
    with pytest.raises(records.RecordError, match="warm_start"):
        hpobench.tune(bench, "bohb", budget=3 * FULL, seed=0, space=space, out=tmp_path / "t")
    with pytest.raises(records.RecordError, match="warm_start"):
        hpobench.tune(bench, "bohb", budget=3 * FULL, seed=0, space=space, out=tmp_path / "t", warm_start=scope_dir,
                      warm_k=2)
    with pytest.raises(WarmStartError, match="own --out"):
        hpobench.tune(bench, "bohb", budget=3 * FULL, seed=0, space=space, out=tmp_path / "t",
                      warm_start=tmp_path / "t")


def test_the_anchor_trained_fully_is_replayed_as_trial_0_not_trained_again(tmp_path, scope_dir):
    bench = hpobench.get("synthetic/agree")
    src = tmp_path / "scope"
    shutil.copytree(scope_dir, src)
    anchor = spaces.sample(bench.config_space, 3, 0)[3]  # the scope's 4th configuration, now trained fully
    full = bench.fidelity(None)
    grid.run_cells(bench, bench.name, {}, [Cell(cell_key(bench.name, {}, anchor, full, 2), 3, anchor, full, 2)],
                   src, {"scope": {"benchmark": bench.name, "bench_kwargs": {}, "seed": 0}}, progress=False)
    fixed = {k: v for k, v in anchor.items() if k in ("x0", "x2", "cat", "branch")}
    space = spaces.narrow(bench.config_space, fixed, {}, {k: v for k, v in anchor.items() if k not in fixed})
    ws = warm.load(src, bench, space, k=0)
    assert ws.configs == [] and list(ws.anchor) == [2] and ws.identity()["anchor_seeds"] == [2]
    assert ws.anchor[2].f1 == pytest.approx(bench.evaluate(anchor, full, seed=2).f1)
    calls = []
    counted = replace(bench, fn=lambda c, f, s: calls.append(c) or bench.fn(c, f, s))
    run = hpobench.tune(counted, "smac", budget=3 * FULL, seed=2, space=space, warm_start=src, warm_k=0)
    t0 = run.trials.iloc[0]
    assert t0["f1"] == pytest.approx(ws.anchor[2].f1) and run.trajectory["spent"].iloc[0] == 0  # charged nothing
    assert len(calls) == len(run.trials) - 1 == 3  # the budget buys 3 new trainings; the anchor is not one
    other = hpobench.tune(counted, "smac", budget=3 * FULL, seed=1, space=space, warm_start=src, warm_k=0)
    assert len(other.trials) == 3  # recorded with seed 2 only: seed 1 trains it
    assert not warm.load(src, bench, _scoped(bench), k=1).anchor  # its default is not the recorded configuration
