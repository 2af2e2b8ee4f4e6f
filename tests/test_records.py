"""The run folder (`hpobench.records`): every recorded result reads, one space encoding (the old one
still reads and resumes), and a resume with any setting that changes what a tune record means is
refused in one line, before any evaluation, with the record left byte for byte as it was."""

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from ConfigSpace import ConfigurationSpace, Integer

import hpobench
from hpobench import records, spaces
from hpobench.experiments import cli
from hpobench.optimizers import warm
from hpobench.records import RecordError
from sources import ROOT

FULL = 81  # cost of one full-fidelity trial of the synthetic benchmarks
EXAMPLE = ROOT / "experiments" / "examples"
RESULTS = sorted(p.parent for p in (ROOT / "results").glob("*/meta.json"))


def _files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------- reading what is recorded

def test_results_has_records_to_read():
    assert len(RESULTS) >= 5, RESULTS


@pytest.mark.parametrize("folder", RESULTS, ids=[p.name for p in RESULTS])
def test_every_recorded_folder_reads(folder):
    meta = records.read_meta(folder)
    space = records.space_of(meta)
    assert isinstance(space, ConfigurationSpace) and len(list(space)) > 0
    df, read_space, metric = records.read(folder)
    assert read_space == space and metric == records.metric_of(meta)
    assert len(df) > 0 and {c[len("config."):] for c in df.columns if c.startswith("config.")} <= set(space)
    assert df.equals(records.evaluations(folder))  # the analysis and the grid see the same cells


def test_a_space_is_an_object_and_the_old_text_still_reads(tmp_path):
    bench = hpobench.get("synthetic/agree")
    scoped = spaces.fix(bench.config_space, {"branch": "left"})
    run = hpobench.tune(bench, "random", budget=3 * FULL, seed=0, space=scoped, out=tmp_path / "run")
    meta = records.read_meta(tmp_path / "run")
    assert isinstance(meta["space"], dict) and isinstance(meta["fidelity_space"], dict)
    assert records.space_of(meta) == scoped and records.space_of(meta, "fidelity_space") == bench.fidelity_space
    # a tune run recorded before: the space as text, no fidelity space; it reads, warm-starts and resumes
    meta["space"] = spaces.to_json(scoped)
    del meta["fidelity_space"]
    records.write_meta(tmp_path / "run", meta)
    assert records.space_of(records.read_meta(tmp_path / "run")) == scoped
    assert records.read(tmp_path / "run")[1] == scoped
    assert len(warm.load(tmp_path / "run", bench, scoped, k=1).configs) == 1
    again = hpobench.tune(bench, "random", budget=3 * FULL, seed=0, space=scoped, out=tmp_path / "run")
    pd.testing.assert_frame_equal(again.trials, run.trials)
    assert isinstance(records.read_meta(tmp_path / "run")["space"], dict)  # written in the one encoding now


def test_bad_meta_is_named(tmp_path):
    with pytest.raises(RecordError, match="no meta.json"):
        records.read_meta(tmp_path)
    (tmp_path / "meta.json").write_text("{not json")
    with pytest.raises(RecordError, match="meta.json: not valid JSON"):
        records.read_meta(tmp_path)
    with pytest.raises(RecordError, match="records no space"):
        records.space_of({})
    with pytest.raises(RecordError, match="cannot read its space"):
        records.space_of({"space": {"hyperparameters": "x"}})


# ---------------------------------------------------------------- a resume that changes the record's meaning

def _refused(out: Path, match: str, **kw):
    """The tune `kw` is refused on `out`, in one line naming `match`, and `out` is unchanged."""
    before = _files(out)
    with pytest.raises(RecordError, match=match) as e:
        hpobench.tune(**({"benchmark": "synthetic/agree", "optimizer": "hyperband", "budget": 2 * FULL,
                          "seed": 0} | kw), out=out)
    assert "\n" not in str(e.value) and "holds a different run" in str(e.value)
    assert _files(out) == before


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """A finished hyperband run on a synthetic benchmark (milliseconds per trial) and a warm-start source."""
    d = tmp_path_factory.mktemp("tuned")
    hpobench.tune("synthetic/agree", "random", budget=3 * FULL, seed=5, out=d / "source")
    hpobench.tune("synthetic/agree", "hyperband", budget=2 * FULL, seed=0, out=d / "run")
    return d


@pytest.mark.parametrize("change, match", [
    (dict(benchmark="synthetic/reversed"), "benchmark: 'synthetic/agree' there, 'synthetic/reversed' here"),
    (dict(bench_kwargs={"noise": 0.01}), r"bench_kwargs: \{\} there, \{'noise': 0.01\} here"),
    (dict(optimizer="sh"), "optimizer: 'hyperband' there, 'sh' here"),
    (dict(options={"eta": 2}), r"options: \{\} there, \{'eta': 2\} here"),
    (dict(seed=1), "seed: 0 there, 1 here"),
    (dict(axis="data_fraction"), "axis: 'epochs' there, 'data_fraction' here"),
    (dict(min_budget=3), "min_budget: None there, 3 here"),
    (dict(space="scoped"), r"space: right_x only there, branch \(type 'categorical' there, 'constant' here\)"),
    (dict(warm_start="source"), r"warm_start: None there, .*source \(k 4, \d+ records, digest \w+\) here"),
])
def test_a_resume_with_other_settings_is_refused_and_changes_nothing(tuned, change, match):
    if change.get("space") == "scoped":
        change["space"] = spaces.fix(hpobench.get("synthetic/agree").config_space, {"branch": "left"})
    if "warm_start" in change:
        change["warm_start"] = tuned / change["warm_start"]
    _refused(tuned / "run", match, **change)


def test_the_same_settings_and_a_larger_budget_resume(tuned, tmp_path):
    shutil.copytree(tuned / "run", tmp_path / "run")
    run = hpobench.tune("synthetic/agree", "hyperband", budget=3 * FULL, seed=0, out=tmp_path / "run")
    assert run.spent > 2 * FULL and len(run.meta["sessions"]) == 2


OBJECTIVE = '''
from pathlib import Path

def fn(config, fidelity, seed):
    with open(Path(__file__).with_suffix(".calls"), "a") as f:  # every evaluation leaves a mark
        f.write("call\\n")
    err = (config["x"] - 0.3) ** 2 + 1.0 / fidelity["steps"]
    return {"err": err, "acc": 1 - err}

def other(config, fidelity, seed):
    return fn(config, fidelity, seed)
'''


@pytest.fixture
def objective(tmp_path):
    """A file objective (milliseconds) with two spaces and two fidelity spaces, tuned once through the CLI."""
    (tmp_path / "obj.py").write_text(OBJECTIVE)
    for name, upper in (("space", 1.0), ("space2", 0.5)):
        (tmp_path / f"{name}.json").write_text(spaces.to_json(ConfigurationSpace({"x": (0.0, upper)})))
    for name, lower in (("fidelity", 1), ("fidelity2", 3)):
        fs = ConfigurationSpace()
        fs.add(Integer("steps", (lower, 27), default=27))
        (tmp_path / f"{name}.json").write_text(spaces.to_json(fs))
    assert cli.main(_argv(tmp_path)) == 0
    return tmp_path


def _argv(d: Path, fn="fn", space="space", fidelity="fidelity", metric=("err", "minimize"), extra=()):
    return ["tune", "--objective", f"{d / 'obj.py'}:{fn}", "--space", str(d / f"{space}.json"),
            "--fidelity-space", str(d / f"{fidelity}.json"), "--metric", metric[0], "--direction", metric[1],
            *extra, "--optimizer", "random", "--budget", "2", "--out", str(d / "run"), "--quiet"]


@pytest.mark.parametrize("change, match", [
    (dict(metric=("acc", "maximize")), r"metric: err \(minimize\) there, acc \(maximize\) here"),
    (dict(metric=("err", "maximize")), r"metric: err \(minimize\) there, err \(maximize\) here"),
    (dict(extra=("--metric-range", "0,")), r"metric: err \(minimize\) there, err \(minimize in \[0, inf\]\) here"),
    (dict(fn="other"), r"objective: .*obj.py:fn.* there, .*obj.py:other.* here"),
    (dict(space="space2"), r"space: x \(default_value 0.5 there, 0.25 here, upper 1.0 there, 0.5 here\)"),
    (dict(fidelity="fidelity2"), r"fidelity_space: steps \(lower 1 there, 3 here\)"),
])
def test_an_objective_resumed_with_another_meaning_is_refused_before_any_evaluation(objective, capsys, change,
                                                                                     match):
    capsys.readouterr()
    before, calls = _files(objective / "run"), (objective / "obj.calls").read_text()
    assert cli.main(_argv(objective, **change)) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and re.search(match, err), err
    assert _files(objective / "run") == before and (objective / "obj.calls").read_text() == calls
    assert cli.main(_argv(objective)) == 0  # the same settings still resume


@pytest.mark.slow  # trains the example's MLP twice
def test_the_reported_metric_switch_is_refused(tmp_path, capsys):
    """The issue's repro: the same --out, another --metric and --direction, used to rewrite the record."""
    argv = ["tune", "--optimizer", "random", "--objective", f"{EXAMPLE / 'sklearn_objective.py'}:objective",
            "--space", str(EXAMPLE / "space.json"), "--fidelity-space", str(EXAMPLE / "fidelity.json"),
            "--budget", "1", "--out", str(tmp_path / "x5"), "--quiet"]
    assert cli.main(argv + ["--metric", "log_loss", "--direction", "minimize"]) == 0
    before = _files(tmp_path / "x5")
    capsys.readouterr()
    assert cli.main(argv + ["--metric", "accuracy", "--direction", "maximize"]) == 2
    err = capsys.readouterr().err
    assert "metric: log_loss (minimize) there, accuracy (maximize) here" in err and err.count("\n") == 1
    assert _files(tmp_path / "x5") == before
