"""The main job, `hpobench scope`, end to end on a synthetic benchmark (seconds), and its grouped design
on a tiny ResNet (slow)."""

import dataclasses
import json

import optuna
import pandas as pd
import pytest
from ConfigSpace import Configuration

import hpobench
from hpobench import records, spaces
from hpobench.analysis import decision
from hpobench.experiments import scope
from optuna_training import EPOCHS, training

FEW = dict(n_boot=10, rule_settings=decision.Rule(n_boot=5))  # resamples: the importance's and the gains'


def test_ladder_and_plan_fit_the_budget():
    bench = hpobench.get("synthetic/partial")
    rungs = scope.ladder(bench)
    costs = [bench.cost(r) for r in rungs]
    assert rungs[0] == bench.full_fidelity and all(a > b for a, b in zip(costs, costs[1:]))
    p = scope.plan(bench, 600)
    assert p.cost <= 600 and bench.cost(p.probe) > bench.cost(p.low)
    assert (p.n_low, p.n_probe) == (40, 15)


def test_too_small_a_budget_fails_before_compute(tmp_path):
    with pytest.raises(ValueError, match="budget 1 is too small"):
        scope.run("synthetic/partial", 1, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_rounds_fit_the_budget_and_the_plan_cost_split():
    bench = hpobench.get("synthetic/partial")
    p = scope.plan(bench, 300)  # low costs 2.5, probe 10; the fixed design: 40 + 15, cost 250
    steps = scope.schedule(bench, p, 300)
    assert [(r.n_low, r.n_probe, r.cost) for r in steps] == [(20, 15, 200), (25, 17, 232.5), (30, 19, 265),
                                                             (35, 21, 297.5)]
    assert scope.schedule(bench, p, 300, rounds=2, first=(30, 20))[-1].cost <= 300


@pytest.mark.parametrize("kw, match", [
    (dict(rounds=1), "at least 2 rounds"),
    (dict(first=(10, 15)), "first round needs"),
    (dict(first=(20, 25)), "first round needs"),
    (dict(rounds=50), "50 rounds do not fit budget 300"),  # a step buys no low configuration
    (dict(first=(60, 15)), "4 rounds do not fit budget 300"),  # the first round takes it all
])
def test_round_settings_that_cannot_fit_fail_before_compute(tmp_path, kw, match):
    with pytest.raises(ValueError, match=match):
        scope.run("synthetic/partial", 300, tmp_path / "out", progress=False, adaptive=True, rule="variance", **kw)
    assert not (tmp_path / "out").exists()


def test_cli_rejects_bad_round_settings_before_compute(tmp_path, capsys):
    from hpobench.experiments import cli
    assert cli.main(["scope", "synthetic/partial", "--budget", "300", "--out", str(tmp_path / "o"),
                     "--adaptive", "--rule", "variance", "--rounds", "50"]) == 2
    assert "50 rounds do not fit budget 300" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="--first takes N_LOW,N_PROBE"):
        cli.main(["scope", "synthetic/partial", "--budget", "300", "--out", str(tmp_path / "o"), "--adaptive",
                  "--first", "20"])
    with pytest.raises(SystemExit, match="add --adaptive"):  # round settings without rounds
        cli.main(["scope", "synthetic/partial", "--budget", "300", "--out", str(tmp_path / "o"), "--rounds", "3"])
    assert cli.main(["scope", "synthetic/partial", "--budget", "300", "--out", str(tmp_path / "o"),
                     "--n-boot", "1"]) == 2
    assert "--n-boot 1: the decision reads bootstrap intervals" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_scope_writes_report_space_and_trials_and_resumes(tmp_path):
    out = tmp_path / "scope"
    dec = scope.run("synthetic/agree", 600, out, progress=False, adaptive=False, **FEW).decision
    for f in ("report.md", "scoped_space.json", "evaluations.parquet", "importance.png", "decision.json",
              "scoped_space_optuna.py", "scoped_space_wandb.yaml", "scoped_space_ray.py"):
        assert (out / f).exists(), f
    reduced = spaces.load(out / "scoped_space.json")
    spaces.check_subspace(reduced, hpobench.get("synthetic/agree").config_space)
    snippet: dict = {}  # the same space for Optuna (tests/test_export.py checks the three in depth)
    exec((out / "scoped_space_optuna.py").read_text(), snippet)
    study = optuna.create_study(direction=snippet["DIRECTION"])
    Configuration(reduced, values=snippet["suggest"](study.ask()))
    assert set(dec.tune) <= set(reduced)
    report = (out / "report.md").read_text()
    assert dec.verdict in report and "hpobench tune synthetic/agree" in report
    assert report.index("**Tune") < report.index("## How it was decided")  # the answer first
    for x in dec.tune:  # the scoped space holds the narrowed ranges, the anchor as defaults
        r = dec.ranges.get(x)
        if isinstance(r, tuple):
            assert reduced[x].lower == pytest.approx(max(r[0], reduced[x].lower)) and reduced[x].upper <= r[1] + 1e-9
    assert dict(reduced.get_default_configuration()).items() >= {k: v for k, v in dec.anchor.items()
                                                                  if k in reduced}.items() or dec.tune
    df = pd.read_parquet(out / "evaluations.parquet")
    assert 40 + 15 <= len(df) <= 40 + 15 + scope.CONFIRM and df["key"].is_unique  # the best at low confirmed
    before = df.copy()
    scope.run("synthetic/agree", 600, out, progress=False, adaptive=False, report=False, **FEW)  # resumes: no rerun
    pd.testing.assert_frame_equal(pd.read_parquet(out / "evaluations.parquet"), before)
    with pytest.raises(ValueError, match="other settings"):
        scope.run("synthetic/agree", 600, out, seed=1, progress=False, adaptive=False)
    assert records.read_meta(out)["scope"]["seed"] == 0


@pytest.mark.slow
def test_adaptive_scope_stops_when_settled_reports_rounds_and_resumes(tmp_path):
    out = tmp_path / "scope"
    res = scope.run("synthetic/agree", 600, out, n_boot=10, progress=False, adaptive=True, rule="variance")
    dec = res.decision
    rounds = records.read_rounds(out)
    assert rounds == res.rounds and [r["n_low"] for r in rounds] == [20, 25, 30, 35][:len(rounds)]
    assert all(not r["settled"] for r in rounds[:-1])  # it stopped at the first settled round, if any
    assert dec.settled == rounds[-1]["settled"] and (dec.settled or len(rounds) == 4)
    df = pd.read_parquet(out / "evaluations.parquet")
    assert df["cost"].sum() == pytest.approx(rounds[-1]["cost"]) and rounds[-1]["cost"] <= 600
    report = (out / "report.md").read_text()
    a = dec.agreement
    assert a["lower"] <= a["estimate"] <= a["upper"]
    for text in ("rounds: ", "stability: in", "noise reference:", "interval: the estimate plus",
                 f"{a['estimate']:.2f}, 90% interval [{a['lower']:.2f}, {a['upper']:.2f}]",
                 "decided after round" if dec.settled else "UNDECIDED when the budget ran out"):
        assert text in report, text
    before = df.copy()
    again = scope.run("synthetic/agree", 600, out, n_boot=10, progress=False, adaptive=True, rule="variance",
                      report=False)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "evaluations.parquet"), before)  # resumed: nothing re-run
    assert again.decision.tune == dec.tune and again.rounds == res.rounds
    every = scope.run("synthetic/agree", 600, out, n_boot=10, progress=False, adaptive=True, rule="variance",
                      stop=False, report=False)  # every round
    assert len(every.rounds) == 4 and every.rounds[:len(rounds)] == rounds
    with pytest.raises(ValueError, match="other settings"):
        scope.run("synthetic/agree", 600, out, rounds=3, progress=False, adaptive=True, rule="variance")


def test_the_adaptive_comparison_pairs_designs_by_instance():
    from hpobench.experiments.studies import scope_adaptive
    df = pd.DataFrame([dict(seed=s, design=d, recall=1.0, captured=c, tuned=t, cost=100.0)
                       for s, (ca, cf) in enumerate([(0.9, 1.0), (0.8, 1.0), (1.0, 1.0), (0.95, 0.9)])
                       for d, c, t in (("adaptive", ca, 8), ("fixed", cf, 10))])
    p = scope_adaptive.paired(df).set_index("measure")
    assert (p.loc["captured", ["higher", "lower", "ties"]] == [1, 2, 1]).all()
    assert p.loc["captured", "mean_difference"] == pytest.approx((-0.1 - 0.2 + 0 + 0.05) / 4)
    assert p.loc["tuned", "lower"] == 4 and p.loc["tuned", "sign_p"] == pytest.approx(0.125)
    assert p.loc["recall", "ties"] == 4 and p.loc["recall", "sign_p"] == 1.0


@pytest.mark.parametrize("kw, match", [
    (dict(tune_budget=0), "--tune-budget .* positive integer, got 0"),
    (dict(tune_budget=-3), "positive integer, got -3"),
    (dict(max_tune=13), "--max-tune must be between 1 and the 12 hyperparameters"),
    (dict(hold={"nope": 1}), "--hold names unknown hyperparameter"),
    (dict(hold={"x0": 7.0}), "--hold x0=7.0: not a legal value"),
    (dict(hold={n: hpobench.get("synthetic/partial").config_space[n].default_value
                for n in hpobench.get("synthetic/partial").config_space}), "holds every hyperparameter"),
    (dict(adaptive=True), "add --rule variance"),
    (dict(confirm_full=-1), "--confirm-full is a number"),
    (dict(confirm_full=20), "--confirm-full 20 spends all of --tune-budget 20"),
    (dict(confirm_full=2, rule="variance"), "the variance rule has no anchor"),
])
def test_bad_scope_settings_fail_before_any_training(tmp_path, kw, match):
    with pytest.raises(ValueError, match=match):
        scope.run("synthetic/partial", 300, tmp_path / "out", progress=False, **kw)
    assert not (tmp_path / "out").exists()


def test_cli_hold_and_tune_budget_errors_are_one_line(tmp_path, capsys):
    from hpobench.experiments import cli
    base = ["scope", "synthetic/partial", "--budget", "300", "--out", str(tmp_path / "o")]
    assert cli.main([*base, "--tune-budget", "0"]) == 2
    assert cli.main([*base, "--hold", "x0=2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "--tune-budget" in err[0] and "--hold x0=2" in err[1]
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_held_hyperparameters_stay_put_and_are_reported_as_held(tmp_path):
    res = scope.run("synthetic/partial", 300, tmp_path / "out", progress=False, hold={"lr": 0.01, "x5": 0.5},
                    tune_budget=5, **FEW)
    df = pd.read_parquet(tmp_path / "out" / "evaluations.parquet")
    assert (df["config.lr"] == 0.01).all() and (df["config.x5"] == 0.5).all()
    dec = res.decision
    assert dec.held == {"lr": 0.01, "x5": 0.5} and not {"lr", "x5"} & set(dec.tune)
    table = dec.table().set_index("hp")
    assert table.loc["lr", "action"] == "held" and "not assessed" in table.loc["lr", "reason"]
    assert "held by you while scoping (not judged): lr=0.01, x5=0.5" in (tmp_path / "out" / "report.md").read_text()
    spaces.check_subspace(spaces.load(tmp_path / "out" / "scoped_space.json"),
                          hpobench.get("synthetic/partial").config_space)


@pytest.mark.slow
def test_confirm_full_trains_the_best_fully_anchors_there_and_the_tune_replays_it(tmp_path):
    """A resume with --confirm-full adds the full trainings only; the tune command starts from the anchor's."""
    out, bench = tmp_path / "out", hpobench.get("synthetic/agree")
    scope.run(bench.name, 600, out, progress=False, tune_budget=6, **FEW)
    assert "rerun this scope with `--confirm-full 3` added" in (out / "report.md").read_text()  # the advice
    before = pd.read_parquet(out / "evaluations.parquet")
    res = scope.run(bench.name, 600, out, progress=False, tune_budget=6, confirm_full=2, **FEW)
    df = pd.read_parquet(out / "evaluations.parquet")
    full = df[df["fidelity.epochs"] == bench.full_fidelity["epochs"]]
    assert len(df) == len(before) + 2 and len(full) == 2  # the two best at the probe, trained fully
    probe = before[before["cost"] == before["cost"].max()].sort_values("f1", ascending=False)
    assert set(full["config_id"]) == set(probe["config_id"].head(2))
    dec = res.decision
    assert dec.n == 4 and "trained fully" in dec.anchored_at  # 6 trainings, 2 spent confirming
    best = full.loc[full["f1"].idxmax()]
    assert bench.config(dec.anchor) == bench.config({k[7:]: v for k, v in best.items() if k.startswith("config.")
                                                     and v == v})
    commands = [c.split("\n")[0] for c in (out / "report.md").read_text().split("hpobench tune ")[1:]]
    scoped = [c for c in commands if "scoped_space.json" in c]
    assert scoped and all(f"--warm-start {out} --warm-k 0" in c for c in scoped)  # each starts from the anchor's
    assert "--confirm-full 3` added" not in (out / "report.md").read_text()  # done: no longer advised
    run = hpobench.tune(bench, "smac", budget=dec.n * 81, seed=0, space=spaces.load(out / "scoped_space.json"),
                        warm_start=out, warm_k=0)
    assert run.trials["f1"].iloc[0] == pytest.approx(best["f1"]) and len(run.trials) == dec.n + 1  # replayed


@pytest.mark.slow
def test_more_tuning_trainings_never_choose_fewer_on_the_same_data(tmp_path):
    """The scope's trainings are reused when only --tune-budget changes (a resume)."""
    out = tmp_path / "out"
    small = scope.run("synthetic/agree", 600, out, progress=False, tune_budget=2, report=False, **FEW).decision
    before = pd.read_parquet(out / "evaluations.parquet")
    large = scope.run("synthetic/agree", 600, out, progress=False, tune_budget=200, report=False, **FEW).decision
    pd.testing.assert_frame_equal(pd.read_parquet(out / "evaluations.parquet"), before)
    assert len(small.tune) <= len(large.tune) and small.n == 2 and large.n == 200


@pytest.mark.slow
def test_a_scope_whose_trainings_all_fail_recommends_tuning_everything(tmp_path):
    import hpobench as hb
    bench = hb.get("synthetic/partial")
    broken = dataclasses.replace(bench, fn=lambda config, fidelity, seed: hb.Result("crashed", error="boom"))
    res = scope.run(broken, 300, tmp_path / "out", progress=False, n_boot=10)
    assert res.decision.verdict == "tune everything" and "cannot support a subset" in res.decision.guard
    assert "tune everything" in (tmp_path / "out" / "report.md").read_text()


# ---------------------------------------------------------------- an Optuna study, scoped without training

@pytest.fixture(scope="module")
def study_db(tmp_path_factory):
    """A study of 60 trials pruned by MedianPruner, in an SQLite file (made in memory, then copied)."""
    import warnings
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=10, n_warmup_steps=3))
    study.set_metric_names(["accuracy"])
    study.optimize(training, n_trials=60)
    db = tmp_path_factory.mktemp("optuna") / "study.db"
    storage = optuna.storages.RDBStorage(f"sqlite:///{db}")
    optuna.copy_study(from_study_name=study.study_name, from_storage=study._storage, to_storage=storage,
                      to_study_name="demo")
    storage.engine.dispose()
    return db, study


def _fingerprint(path):
    import hashlib
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


@pytest.mark.slow
def test_an_optuna_study_is_scoped_without_training(study_db, tmp_path, capsys):
    from hpobench.analysis import optuna_study
    from hpobench.experiments import cli
    db, study = study_db
    before = _fingerprint(db)
    out = tmp_path / "scope"
    assert cli.main(["scope", "--optuna", f"sqlite:///{db}", "--study", "demo", "--out", str(out),
                     "--tune-budget", "10", "--n-boot", "10"]) == 0
    assert "verdict:" in capsys.readouterr().out
    assert _fingerprint(db) == before  # nothing written to the study
    for f in ("report.md", "report.html", "scoped_space.json", "decision.json", "anchor.json", "evaluations.parquet",
              "scoped_space_optuna.py", "scoped_space_wandb.yaml", "scoped_space_ray.py", "importance.png",
              "marginals.png", "interactions.png", "parallel.png", "rankings.png"):
        assert (out / f).exists(), f
    dec = json.loads((out / "decision.json").read_text())
    best = max((t for t in study.trials if t.state.name == "COMPLETE"), key=lambda t: t.value)
    assert dec["anchor"].keys() == best.params.keys()  # the anchor is the best completed trial
    assert all(dec["anchor"][k] == pytest.approx(v) for k, v in best.params.items() if not isinstance(v, str))
    assert dec["n"] == 10 and dec["rule"]["n_boot"] == 10  # --n-boot: the gains' resamples too
    # the low step: the last one (nearly) every trial reached, below the final step
    read = optuna_study.read(db, "demo")
    counts = read.table[read.table["status"] == "ok"].groupby("fidelity.step")["config_id"].nunique()
    low = json.loads((out / "decision.json").read_text())["agreement"]["between"].split(" vs ")[0]
    k = int(low.removeprefix("step="))
    assert k < read.final_step == EPOCHS - 1 and counts[k] >= scope.STEP_SHARE * counts[counts.index < EPOCHS - 1].max()
    assert counts[k + 1] < scope.STEP_SHARE * counts.max() or k + 1 == read.final_step
    spaces.check_subspace(spaces.load(out / "scoped_space.json"), read.space)
    snippet: dict = {}  # the scoped space drives a new study
    exec((out / "scoped_space_optuna.py").read_text(), snippet)
    Configuration(spaces.load(out / "scoped_space.json"), values=snippet["suggest"](optuna.create_study().ask()))
    report = (out / "report.md").read_text()
    assert report.startswith("# Search-space scope for `optuna:demo`")
    assert report.index("**Tune") < report.index("Run it:") < report.index("## How it was decided")
    assert "No training: the optuna study 'demo'" in report and f"Low fidelity: step {k}" in report
    assert "study.optimize(objective, n_trials=10)" in report and "default configuration" not in report
    df = pd.read_parquet(out / "evaluations.parquet")
    assert len(df) == len(read.table) and set(df["config_id"]) == set(read.table["config_id"])


def test_optuna_scope_bad_input_is_one_line_before_any_work(study_db, tmp_path, capsys):
    from hpobench.experiments import cli
    db, _ = study_db
    out = tmp_path / "o"
    base = ["scope", "--optuna", f"sqlite:///{db}", "--out", str(out)]
    assert cli.main([*base, "--study", "nope"]) == 2
    assert cli.main([*base, "--study", "demo", "--low", "step=99"]) == 2
    assert cli.main([*base, "--study", "demo", "--low", "epochs=2"]) == 2
    assert cli.main([*base, "--study", "demo", "--low", f"step={EPOCHS - 1}"]) == 2
    assert cli.main(["scope", "--optuna", str(tmp_path / "missing.db"), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 5, err
    assert "no study 'nope'" in err[0] and "its studies: demo" in err[0]
    assert "step=99: no successful trial reported that step" in err[1]
    assert "is step=K" in err[2] and "must be below the probe" in err[3] and "no such file" in err[4]
    for extra in (["--budget", "3"], ["synthetic/partial"], ["--hold", "lr=0.1"], ["--rule", "variance"]):
        with pytest.raises(SystemExit, match="set new trainings"):
            cli.main([*base, "--study", "demo", *extra])
    few = tmp_path / "few.db"  # 5 completed trials, every one reporting its steps
    small = optuna.create_study(storage=f"sqlite:///{few}", study_name="few", direction="maximize",
                                sampler=optuna.samplers.RandomSampler(seed=1))
    small.optimize(training, n_trials=5)
    del small
    before = _fingerprint(few)
    assert cli.main(["scope", "--optuna", f"sqlite:///{few}", "--study", "few", "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip() == ("error: study 'few' has 5 completed trial(s); importance needs at "
                                               "least 10")
    assert _fingerprint(few) == before
    with pytest.raises(SystemExit, match="--study goes with --optuna"):
        cli.main(["scope", "synthetic/partial", "--budget", "300", "--study", "demo", "--out", str(out)])
    with pytest.raises(SystemExit, match="--budget is required"):
        cli.main(["scope", "synthetic/partial", "--out", str(out)])
    assert not out.exists()


def test_the_low_step_is_the_last_one_nearly_every_trial_reached():
    from hpobench.analysis.optuna_study import OptunaTable
    from hpobench.benchmarks import Metric

    def table(reached: dict) -> OptunaTable:  # step -> configurations that reported it
        rows = [dict(status="ok", config_id=i, **{"fidelity.step": s}) for s, n in reached.items() for i in range(n)]
        return OptunaTable(pd.DataFrame(rows), None, Metric("accuracy"), "s", max(reached))

    assert scope.optuna_steps(table({0: 50, 1: 50, 2: 50, 3: 30, 4: 20, 9: 15})) == ({"step": 2}, {"step": 9})
    assert scope.optuna_steps(table({0: 50, 1: 46, 2: 40, 9: 15})) == ({"step": 1}, {"step": 9})
    assert scope.optuna_steps(table({0: 50, 9: 15}), {"step": 0}, {"step": 9}) == ({"step": 0}, {"step": 9})
    with pytest.raises(ValueError, match="no step below the final one"):
        scope.optuna_steps(table({0: 15, 1: 12, 9: 12}))
    with pytest.raises(ValueError, match="importance needs at least 10"):
        scope.optuna_steps(table({0: 50, 1: 9, 9: 12}), {"step": 1})
    with pytest.raises(ValueError, match="successful trial.s. at the final step"):
        scope.optuna_steps(table({0: 50, 9: 5}))
    with pytest.raises(ValueError, match="no intermediate values"):
        scope.optuna_steps(OptunaTable(pd.DataFrame(), None, Metric("accuracy"), "s", None))
def test_group_size_follows_the_memory_model_and_keeps_enough_draws():
    """K of the grouped design: the design bound (n_low - 1) // GROUPS under the memory model's cap
    for the largest shape the space can draw; 1 (one by one) where nothing trains together."""
    from hpobench.benchmarks import resnet
    bench = hpobench.get("resnet/fashion_mnist")
    cs, low = bench.config_space, {"epochs": 1, "data_fraction": 0.02, "resolution": 7}
    assert [scope.group_size(bench, cs, low, n) for n in (20, 30, 40, 81)] == [1, 2, 3, 8]
    cap = resnet.max_group(20, 32, 256, 7)  # ResNet-20, width 32, batch 256: the largest the space draws
    assert scope.group_size(bench, cs, low, 40, asked=64) == cap and 2 <= cap <= resnet.MAX_GROUP
    assert scope.group_size(bench, cs, low | {"resolution": 28}, 40, asked=64) == resnet.max_group(20, 32, 256, 28)
    assert scope.group_size(bench, cs, low, 40, asked=1) == 1
    small = spaces.fix(cs, {"depth": 8, "width": 8, "batch_size": 32})  # every configuration one program
    assert scope.group_size(bench, small, low, 81) == 1
    assert scope.group_size(bench, spaces.fix(cs, {"depth": 8, "width": 8}), low, 40, asked=64) == \
        resnet.max_group(8, 8, 256, 7)  # the held values bound the shape
    synth = hpobench.get("synthetic/partial")
    assert scope.group_size(synth, synth.config_space, {"epochs": 3}, 81) == 1
    with pytest.raises(ValueError, match="trains configurations one at a time"):
        scope.group_size(synth, synth.config_space, {"epochs": 3}, 40, asked=4)
    with pytest.raises(ValueError, match="an integer >= 1"):
        scope.group_size(bench, cs, low, 40, asked=0)
    assert scope.interleave([0, 1, 1, 1, 2, 2, 2, 3, 3]) == [0, 1, 4, 7, 2, 5, 8, 3, 6]


def test_the_probe_takes_whole_programs_of_the_low_fidelity():
    """`probed`: whole units in order, each that still fits (a later small one may); one by one it is
    the prefix; when no unit fits, the first n positions."""
    units = [[0], [1, 5], [2, 6, 9], [3, 7], [4, 8]]
    assert scope.probed(units, 5) == [0, 1, 3, 5, 7]  # [2, 6, 9] would make 6; [3, 7] still fits
    assert scope.probed(units, 6) == [0, 1, 2, 5, 6, 9]
    assert scope.probed(units, 10) == list(range(10))
    assert scope.probed([[i] for i in range(20)], 15) == list(range(15))
    assert scope.probed([[0, 1, 2], [3, 4, 5]], 2) == [0, 1]


def test_cli_group_errors_are_one_line(tmp_path, capsys):
    from hpobench.experiments import cli
    base = ["scope", "synthetic/partial", "--budget", "300", "--out", str(tmp_path / "o")]
    assert cli.main([*base, "--group", "4"]) == 2
    assert cli.main([*base, "--group", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "--group 4" in err[0] and "one at a time" in err[0] and ">= 1" in err[1]
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_scope_on_a_resnet_trains_groups_and_records_them(tmp_path):
    """A tiny scope of the real ResNet (depth and width held, so the programs are small): its
    configurations come in groups of 4 sharing the batch size, each group trains together at the
    low fidelity (with any other sharing its batch size: one program), every row records its
    group, the probe trains whole programs of the low fidelity and builds none of them again (beside
    them the confirmed best, alone), and a resume with another --group is refused."""
    import json

    from hpobench.analysis import bootstrap, encode, importance, trials
    from hpobench.analysis.decision import Rule
    from hpobench.fidelity import Fidelity
    out, hold = tmp_path / "scope", {"depth": 8, "width": 8}
    low, probe = {"epochs": 1, "data_fraction": 0.02, "resolution": 7}, {"epochs": 2, "data_fraction": 0.02,
                                                                          "resolution": 7}
    kw = dict(low=low, probe=probe, n_low=20, n_probe=15, n_boot=10, progress=False, hold=hold, tune_budget=5,
              rule_settings=Rule(n_boot=5))
    res = scope.run("resnet/fashion_mnist", 0.08, out, group=4, **kw)
    df = pd.read_parquet(out / "evaluations.parquet")
    assert records.read_meta(out)["scope"]["group"] == 4 and df["key"].is_unique
    at_low = df[df["fidelity.epochs"] == 1].set_index("config_id").sort_index()
    assert list(at_low.index) == list(range(20)) and (df["config.depth"] == 8).all()
    sizes = at_low.groupby("cluster").size()
    assert sizes.loc[0] == 1 and sorted(sizes.drop(0)) == [3, 4, 4, 4, 4]  # the default, then 19 in 5 groups
    assert (at_low.groupby("cluster")["config.batch_size"].nunique() == 1).all()
    trained = at_low["info"].map(lambda i: json.loads(i).get("group", 1))
    together = at_low.groupby("config.batch_size")["cluster"].transform("size")  # one program each (<= 16)
    assert (trained == together).all() and (trained >= at_low["cluster"].map(sizes)).all()  # groups train as one
    assert at_low.loc[:5, "cluster"].is_unique  # one per group first
    at_probe = df[df["fidelity.epochs"] == 2].set_index("config_id")
    units = [set(u) for u in at_low.groupby("config.batch_size").groups.values()]  # the low fidelity's programs
    whole = set().union(*(u for u in units if u <= set(at_probe.index)))
    assert 0 < len(whole) <= 15 and len(set(at_probe.index) - whole) <= scope.promoted(20)
    built = at_probe["info"].map(lambda i: json.loads(i)["build_s"])
    assert (built.loc[sorted(whole)] == 0).all() and (at_low["info"].map(lambda i: json.loads(i)["build_s"]) > 0).any()
    assert (df["status"] == "ok").all() and res.decision.n == 5
    assert "grouped design: up to 4 configurations per draw" in (out / "report.md").read_text()
    space = spaces.fix(hpobench.get("resnet/fashion_mnist").config_space, hold)
    imp = importance.per_fidelity(df, space, [low], n_boot=5, reliability=False)
    groups = bootstrap.resamples(encode.config_keys(df, space), 5, 0, trials.clusters(df))
    assert imp[Fidelity.of(low)].extra["resamples"] == bootstrap.identity(groups)  # the bootstrap resamples groups
    with pytest.raises(ValueError, match="other settings"):
        scope.run("resnet/fashion_mnist", 0.08, out, group=1, **kw)


@pytest.mark.parametrize("name", ["synthetic/partial", "resnet/fashion_mnist"])
def test_the_least_budget_the_error_names_buys_a_plan(name):
    import re
    bench = hpobench.get(name)
    with pytest.raises(ValueError, match="too small") as e:
        scope.plan(bench, 0.001)
    need = float(re.search(r"at least ([0-9.e+-]+)", str(e.value)).group(1))
    p = scope.plan(bench, need)  # the message rounds up
    assert p.cost <= need
    cheapest = scope.ladder(bench)[-1]
    exact = bench.cost(cheapest) * p.n_low + bench.cost(p.probe) * p.n_probe
    assert scope.plan(bench, exact).cost == pytest.approx(exact)  # a budget equal to the cost buys it


def test_a_tune_budget_beyond_10_advises_the_sized_design_and_its_options_buy_it():
    import re

    from hpobench.experiments import cli
    bench = hpobench.get("synthetic/agree")
    p = scope.plan(bench, 600, n_low=40, confirm=scope.promoted(40))
    assert scope.larger(bench, p, 600, 10) == ""  # at 10 the default design is the sized one
    text = scope.larger(bench, p, 600, 30)
    n = scope.sized(40, 30, bench.cost(p.low), bench.cost(bench.full_fidelity))
    assert n > 40 and f"{n} configurations at the low fidelity instead of 40" in text
    opts = dict(re.findall(r"--([\w-]+) (\S+)", text.split("`")[1]))
    budget = float(opts["budget"])
    q = scope.plan(bench, budget, cli._fidelity(opts["low"]), cli._fidelity(opts["probe"]), int(opts["n-low"]),
                   confirm=scope.promoted(n))
    assert (q.low, q.probe, q.n_low) == (p.low, p.probe, n) and q.cost <= budget


@pytest.mark.slow
def test_the_report_of_a_scope_for_30_tuning_trainings_gives_the_sized_design(tmp_path):
    bench = hpobench.get("synthetic/agree")
    text = scope.larger(bench, scope.plan(bench, 600, n_low=40, confirm=scope.promoted(40)), 600, 30)
    scope.run(bench.name, 600, tmp_path / "out", progress=False, tune_budget=30, **FEW)
    assert text and text in (tmp_path / "out" / "report.md").read_text()


def test_plans_tied_at_the_observed_best_recommend_a_tune_not_the_anchor_alone():
    """Predictions are held inside the observed range, so plans reaching the best value seen tie (to
    rounding): the recommendation then tunes (its first configuration is the anchor) rather than train
    the anchor alone; a clear winner is still the one predicted best, the anchor included."""
    space = hpobench.get("synthetic/partial").config_space
    dec = decision.everything(space, "x")
    assert dec.plan.name == "everything" and dec.tied == []  # no prediction: the one plan there is
    P = decision.Plan
    tie = [P("anchor", 0.7645, ""), P("scope", 0.7645 - 1e-13, ""), P("screen", 0.7645, ""), P("everything", 0.65, "")]
    dec = dataclasses.replace(dec, plans=tie)
    assert dec.plan.name == "scope" and [p.name for p in dec.tied] == ["anchor", "scope", "screen"]
    dec = dataclasses.replace(dec, plans=[P("anchor", 0.80, ""), P("scope", 0.79, ""), P("everything", 0.7, "")])
    assert dec.plan.name == "anchor" and len(dec.tied) == 1
    dec = dataclasses.replace(dec, plans=[P("anchor", 0.70, ""), P("scope", 0.79, ""), P("screen", 0.79, "")])
    assert dec.plan.name == "scope"
