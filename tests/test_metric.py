"""Any metric, either direction: the declared metric through evaluate, the optimizers, the run
record and the analysis; records from any run (Hyperband's thin top rungs, a table beside its
meta.json)."""

import math

import numpy as np
import pandas as pd
import pytest

import hpobench
from hpobench import records, spaces
from hpobench.benchmarks import Benchmark, BenchmarkError, Metric, Result
from hpobench.experiments import cli
from hpobench.optimizers.base import Losses

FULL = 81


def _bench(metric: Metric, fn=None, name="test/metric"):
    """synthetic/agree with its F1 reported as another metric (same optimum, any direction)."""
    base = hpobench.get("synthetic/agree")

    def objective(config, fidelity, seed):
        r = base.fn(config, fidelity, seed)
        if r.status != "ok":
            return r
        v = 100 * r.f1 if metric.maximize else 1 - r.f1  # accuracy in percent / an error to minimise
        return {metric.name: v, "f1_too": r.f1}
    return Benchmark(name, base.config_space, base.fidelity_space, fn or objective, cost_fn=base.cost_fn,
                     metric=metric)


# ---------------------------------------------------------------- the Metric and the losses

def test_metric_losses_and_bounds():
    f1 = hpobench.get("synthetic/agree").metric
    assert (f1.name, f1.direction, f1.lower, f1.upper) == ("f1", "maximize", 0.0, 1.0)
    assert f1.loss(0.75) == 0.25 and f1.worst_loss == 1.0  # the loss every F1 run was told
    err = Metric("rmse", "minimize")
    assert err.loss(3.0) == 3.0 and err.worst_loss is None and err.better(1.0, 2.0)
    ll = Metric("loglik", "maximize", upper=0)
    assert ll.loss(-2.0) == 2.0 and ll.worst_loss is None and ll.better(-1.0, -2.0)
    acc = Metric("accuracy", "maximize", 0, 100)
    assert acc.worst_loss == 100.0 and acc.problem(101.0) and acc.problem(50.0) is None
    assert Metric.of(acc.to_dict()) == acc and Metric.of(None) == f1


@pytest.mark.parametrize("kw, match", [
    (dict(name="x", direction="up"), "direction must be 'maximize' or 'minimize'"),
    (dict(name=""), "needs a name"),
    (dict(name="x", lower=1, upper=0), "need lower < upper"),
    (dict(name="x", lower=float("nan")), "finite number"),
])
def test_bad_metric(kw, match):
    with pytest.raises(BenchmarkError, match=match):
        Metric(**kw)


def test_failed_trials_get_the_declared_bound_else_the_worst_seen():
    crashed = Result.failed("crashed", "boom")

    def ok(v, name="m"):
        return Result("ok", math.nan, math.nan, math.nan, 0, 0, metrics={name: v})
    bounded = Losses(Metric("m", "maximize", 0, 100))
    assert [bounded(r) for r in (crashed, ok(40.0), crashed)] == [100.0, 60.0, 100.0]
    free = Losses(Metric("m", "minimize"))
    assert [free(r) for r in (crashed, ok(-3.0), ok(7.0), crashed, ok(1.0), crashed)] == \
        [math.inf, -3.0, 7.0, 7.0, 1.0, 7.0]


def test_evaluate_accepts_a_number_a_dict_or_a_result():
    base = hpobench.get("synthetic/agree")
    m = Metric("err", "minimize", lower=0)

    def make(out):
        return Benchmark("t", base.config_space, base.fidelity_space, lambda c, f, s: out, metric=m)
    r = make(0.5).evaluate()
    assert (r.status, r.metrics, r.value(m)) == ("ok", {"err": 0.5}, 0.5) and r.cost_s >= 0
    r = make({"err": 0.25, "accuracy": 0.9}).evaluate()
    assert r.status == "ok" and r.accuracy == 0.9 and r.metrics == {"err": 0.25, "accuracy": 0.9}
    r = make(Result("ok", math.nan, math.nan, math.nan, 1.0, 1.0, metrics={"err": 0.1})).evaluate()
    assert r.value(m) == 0.1
    # bad returns are crashed (or diverged) trials with a message, never a raise
    for out, status, match in [({"acc": 1.0}, "crashed", "not 'err'"), ("high", "crashed", "returned str"),
                               ({"err": "x"}, "crashed", "must be numbers"), (-1.0, "crashed", "outside"),
                               (float("nan"), "diverged", "err is nan"), (True, "crashed", "returned bool")]:
        r = make(out).evaluate()
        assert r.status == status and match in r.error, (out, r.error)


# ---------------------------------------------------------------- optimizers and the run record

@pytest.mark.parametrize("optimizer", ["random", "hyperband", "bohb", "smac"])
@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_optimizers_optimise_the_declared_metric_in_its_direction(optimizer, direction, tmp_path):
    metric = Metric("acc_pct", "maximize", 0, 100) if direction == "maximize" else Metric("err", "minimize")
    bench = _bench(metric)
    run = hpobench.tune(bench, optimizer, budget=6 * FULL, seed=0, out=tmp_path)
    t = run.trials
    assert run.metric == metric and records.read_meta(tmp_path)["metric"] == metric.to_dict()
    assert t[f"metric.{metric.name}"].equals(t["value"]) and t.loc[t["status"] == "ok", "metric.f1_too"].notna().all()
    ok_full = t[t["full"] & (t["status"] == "ok")]
    best = ok_full["value"].max() if metric.maximize else ok_full["value"].min()
    assert run.incumbent_value == best and not metric.better(run.default_value, best)
    ok = t[t["status"] == "ok"]
    loss = ok["value"] * (-1 if metric.maximize else 1) + (100 if metric.maximize else 0)
    assert np.allclose(ok["opt_loss"], loss)  # no clipping: losses are the metric's
    again = hpobench.tune(bench, optimizer, budget=6 * FULL, seed=0, out=tmp_path)  # resumes to itself
    pd.testing.assert_frame_equal(again.trials, run.trials)


def test_failed_trials_without_a_bound_get_the_worst_seen_and_replay_exactly(tmp_path):
    metric = Metric("err", "minimize")
    inner = _bench(metric)

    def flaky(config, fidelity, seed):
        if config["x0"] > 0.6:
            raise RuntimeError("flaky objective")
        return inner.fn(config, fidelity, seed)
    bench = _bench(metric, flaky)
    run = hpobench.tune(bench, "hyperband", budget=8 * FULL, seed=1, out=tmp_path)
    t = run.trials.sort_values("order")
    assert (t["status"] == "crashed").any() and (t["status"] == "ok").any()
    worst = t["opt_loss"].where(t["status"] == "ok").cummax().ffill()
    failed = t["status"] != "ok"
    assert np.allclose(t.loc[failed, "opt_loss"], worst[failed].fillna(np.inf))
    # killed after some tells: the resumed run gives the same losses and the same trials
    lines = (tmp_path / "journal.jsonl").read_text().splitlines(keepends=True)
    (tmp_path / "journal.jsonl").write_text("".join(lines[: len(lines) // 2]))
    again = hpobench.tune(bench, "hyperband", budget=8 * FULL, seed=1, out=tmp_path)
    cols = ["trial", "status", "value", "opt_loss", "opt_info"]
    pd.testing.assert_frame_equal(again.trials.sort_values("trial")[cols].reset_index(drop=True),
                                  run.trials.sort_values("trial")[cols].reset_index(drop=True))


def test_every_trial_failing_ends_cleanly_with_smac(tmp_path):
    bench = _bench(Metric("err", "minimize"), lambda c, f, s: {"other": 1.0})
    run = hpobench.tune(bench, "smac", budget=4 * FULL, seed=0)
    assert (run.trials["status"] == "crashed").all() and np.isinf(run.trials["opt_loss"]).all()
    assert "not 'err'" in run.trials["error"].iloc[0] and math.isnan(run.incumbent_value)


def test_a_run_from_before_metrics_resumes_as_f1(tmp_path):
    run = hpobench.tune("synthetic/agree", "random", budget=3 * FULL, seed=0, out=tmp_path)
    meta = records.read_meta(tmp_path)
    del meta["metric"]
    records.write_meta(tmp_path, meta)
    again = hpobench.tune("synthetic/agree", "random", budget=3 * FULL, seed=0, out=tmp_path)
    pd.testing.assert_frame_equal(again.trials, run.trials)


# ---------------------------------------------------------------- analysis of records from any run

@pytest.fixture(scope="module")
def hyperband_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("hb")
    hpobench.tune("synthetic/agree", "hyperband", budget=500, seed=0, out=out)
    return out


def test_importance_of_a_hyperband_run_skips_thin_rungs_and_names_them(hyperband_run, capsys):
    assert cli.main(["importance", str(hyperband_run), "--n-boot", "8"]) == 0
    out = capsys.readouterr().out
    assert "epochs=1" in out and "epochs=3" in out  # 81 and 27 configurations: analysed
    for epochs in (9, 27, 81):
        assert f"skipped fidelity data_fraction=1,epochs={epochs}: " in out
    assert "fANOVA needs at least 10" in out
    # the same table given as the file beside its meta.json: the space (and metric) come from there
    assert cli.main(["importance", str(hyperband_run / "trials.parquet"), "--n-boot", "8"]) == 0
    assert capsys.readouterr().out == out
    # an explicitly requested thin fidelity is still an error
    assert cli.main(["importance", str(hyperband_run), "--fidelity", "epochs=9", "--n-boot", "8"]) == 2
    assert "fANOVA needs at least 10" in capsys.readouterr().err


def test_agreement_of_a_hyperband_run_uses_the_fidelities_with_enough(hyperband_run, capsys):
    assert cli.main(["agreement", str(hyperband_run / "trials.parquet"), "--n-boot", "8"]) == 0
    out = capsys.readouterr().out
    assert "spearman" in out and "skipped fidelity data_fraction=1,epochs=81" in out


def test_analysis_reads_the_declared_metric_and_direction(tmp_path, capsys):
    from hpobench.analysis import encode, report, trials
    bench = _bench(Metric("err", "minimize"))
    cs = bench.config_space
    rows = [hpobench.trial_row(bench.name, dict(c), f, 0, bench.evaluate(c, f), cs, bench.metric)
            for f in ({"epochs": 3}, {"epochs": 81}) for c in cs.sample_configuration(40)]
    df = pd.DataFrame(rows)
    records.write_meta(tmp_path, {"space": spaces.to_json(cs), "metric": bench.metric.to_dict()})  # as text: old
    df.to_parquet(tmp_path / "evaluations.parquet")
    got, space, metric = records.read(tmp_path / "evaluations.parquet")
    assert metric == bench.metric and space == cs
    enc = encode.encode(trials.at(got, {"epochs": 81}), space, metric)
    full = got[np.isclose(got["fidelity.epochs"], 81) & (got["status"] == "ok")]
    assert np.allclose(enc.y, -full["metric.err"])  # oriented larger-is-better
    table, _ = report.importance(got, space, metric=metric, n_boot=5)
    assert set(table["fidelity"]) == {"epochs=3", "epochs=81"}
    # direction matters where the method looks at the top: PED-ANOVA's top set, the ablation's best
    up = encode.encode(trials.at(got, {"epochs": 81}), space, Metric("err", "maximize"))
    assert np.allclose(up.y, -enc.y)
    # overriding from the command line; bad input
    assert cli.main(["importance", str(tmp_path), "--metric", "f1_too", "--n-boot", "5"]) == 0
    assert cli.main(["importance", str(tmp_path), "--metric", "nope", "--n-boot", "5"]) == 2
    assert "metric 'nope' not in the table" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="--direction needs --metric"):
        cli.main(["importance", str(tmp_path), "--direction", "minimize"])


def test_records_that_declare_different_metrics_are_refused(tmp_path):
    for i, m in enumerate((Metric("err", "minimize"), Metric("acc", "maximize"))):
        d = tmp_path / str(i)
        records.write_meta(d, {"space": None, "metric": m.to_dict()})
        pd.DataFrame({"config.x": [1.0], "metric.err": [0.1], "metric.acc": [0.9]}).to_parquet(d / "trials.parquet")
    with pytest.raises(records.RecordError, match="declare different metrics"):
        records.read([tmp_path / "0", tmp_path / "1"], space=hpobench.get("synthetic/agree").config_space)
    with pytest.raises(records.RecordError, match="holds none of"):
        records.read(tmp_path)


def test_register_an_objective_with_its_metric_and_tune_it_by_name():
    base = hpobench.get("synthetic/agree")

    def err(config, fidelity, seed):
        r = base.fn(config, fidelity, seed)
        return {"err": 1 - r.f1} if r.status == "ok" else r
    hpobench.register("test/err", err, base.config_space, base.fidelity_space, cost_fn=base.cost_fn,
                      metric=Metric("err", "minimize", 0, 1), overwrite=True)
    run = hpobench.tune("test/err", "hyperband", budget=6 * FULL, seed=0, workers=1)
    assert run.metric == Metric("err", "minimize", 0, 1) and run.incumbent_value <= run.default_value
    assert run.trials.loc[run.trials["status"] != "ok", "opt_loss"].eq(1.0).all()  # the declared worst bound


@pytest.mark.parametrize("optimizer", ["smac", pytest.param("smac-mf", marks=pytest.mark.slow)])
def test_smac_holds_a_failure_before_any_finite_loss_and_replays_exactly(optimizer, tmp_path):
    base = hpobench.get("synthetic/agree")
    default = dict(base.default)

    def fn(config, fidelity, seed):
        if config == default:
            raise RuntimeError("the default crashes")
        r = base.fn(config, fidelity, seed)
        return {"err": 1 - r.f1} if r.status == "ok" else r
    bench = _bench(Metric("err", "minimize"), fn)
    run = hpobench.tune(bench, optimizer, budget=8 * FULL, seed=0, out=tmp_path)
    t = run.trials
    assert t["status"].iloc[0] == "crashed" and t["opt_loss"].iloc[0] == math.inf and (t["status"] == "ok").any()
    lines = (tmp_path / "journal.jsonl").read_text().splitlines(keepends=True)
    (tmp_path / "journal.jsonl").write_text("".join(lines[: len(lines) // 2]))
    again = hpobench.tune(bench, optimizer, budget=8 * FULL, seed=0, out=tmp_path)
    cols = ["trial", "status", "value", "opt_loss", "opt_info"]
    pd.testing.assert_frame_equal(again.trials.sort_values("trial")[cols].reset_index(drop=True),
                                  t.sort_values("trial")[cols].reset_index(drop=True))
