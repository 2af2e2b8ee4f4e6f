"""Optuna studies in (`hpobench.analysis.optuna_study`): a real study pruned by MedianPruner, stored in SQLite
and in a journal file, read into the trial table and analysed per step (epoch) with no new training; a study
whose search space changed; failed and running trials; every bad input; nothing in the study written."""

import functools
import hashlib
import math
import sqlite3
import warnings

import optuna
import pandas as pd
import pytest
from ConfigSpace.hyperparameters import FloatHyperparameter, IntegerHyperparameter, OrdinalHyperparameter

from hpobench.analysis import optuna_study, report
from hpobench.analysis.optuna_study import StudyError
from hpobench.benchmarks.base import Metric
from hpobench.distributions import from_optuna, to_optuna
from hpobench.experiments import cli
from hpobench.spaces import SpaceError
from optuna_training import EPOCHS, training

FAILS = (5, 23)  # trials that raise after two epochs


def _changed(trial):
    """A study whose search space changed while it ran: lr's range from trial 10, a parameter added at 14."""
    n = trial.number
    lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True) if n < 10 else trial.suggest_float("lr", 1e-5, 1.0, log=True)
    units = trial.suggest_int("units", 16, 256)
    arch = trial.suggest_categorical("arch", ["deep", "wide"])
    depth = trial.suggest_int("n_layers", 2, 8) if arch == "deep" else 1
    if n >= 14:
        trial.suggest_float("extra", 0.0, 1.0)
    return -abs(math.log10(lr) + 2) + 0.1 * depth + 0.001 * units


def _retyped(study, n: int) -> None:
    """n trials added whose `units` is categorical: Optuna's add_trial takes them in memory and in a journal
    (e.g. studies merged), its RDB storage refuses them."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution
    dists = {"lr": FloatDistribution(1e-5, 1.0, log=True), "units": CategoricalDistribution(["small", "big"]),
             "arch": CategoricalDistribution(["deep", "wide"])}
    for k in range(n):
        study.add_trial(optuna.trial.create_trial(params={"lr": 10 ** -(1 + k % 4), "units": "small", "arch": "wide"},
                                                  distributions=dists, value=float(k)))


def _copy(study, storage, name):
    optuna.copy_study(from_study_name=study.study_name, from_storage=study._storage, to_storage=storage,
                      to_study_name=name)


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """demo (50 trials, MedianPruner, 2 failed, 1 running), tiny, unmappable and pair in one SQLite file; demo
    alone in a journal file, and changed in another. Made in memory, then copied (fast)."""
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    root = tmp_path_factory.mktemp("optuna")
    demo = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0),
                               pruner=optuna.pruners.MedianPruner(n_startup_trials=12, n_warmup_steps=4))
    demo.set_metric_names(["accuracy"])
    demo.optimize(functools.partial(training, fails=FAILS), n_trials=50, catch=(ValueError,))
    demo.ask().suggest_float("lr", 1e-4, 1.0, log=True)  # a trial still running
    changed = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=1))
    changed.optimize(_changed, n_trials=20)
    _retyped(changed, 10)
    tiny = optuna.create_study()
    tiny.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=5)
    unmappable = optuna.create_study()
    unmappable.optimize(lambda t: float(t.suggest_categorical("act", [None, "relu"]) is None), n_trials=10)
    pair = optuna.create_study(directions=["minimize", "minimize"])
    pair.optimize(lambda t: (t.suggest_float("x", 0, 1), 1.0), n_trials=10)

    db = root / "studies.db"
    sqlite = optuna.storages.RDBStorage(f"sqlite:///{db}")
    for study, name in ((demo, "demo"), (tiny, "tiny"), (unmappable, "unmappable"), (pair, "pair")):
        _copy(study, sqlite, name)
    sqlite.engine.dispose()
    files = {}
    for study, name in ((demo, "journal"), (changed, "changed")):
        files[name] = root / f"{name}.log"
        _copy(study, optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(files[name]))),
              "demo" if name == "journal" else name)
    return {"db": db, "url": f"sqlite:///{db}", "demo": demo, **files}


def _fingerprint(folder):
    """Every file's bytes and modification time in the folder (nothing created, changed or touched)."""
    return {p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns) for p in folder.iterdir()}


def test_a_pruned_study_becomes_rows_per_step(stores):
    demo = stores["demo"]
    got = optuna_study.read(stores["url"], "demo")
    t = got.table
    assert got.metric == Metric("accuracy", "maximize") and got.final_step == EPOCHS - 1
    assert got.states == {"COMPLETE": got.states["COMPLETE"], "PRUNED": got.states["PRUNED"], "FAIL": 2,
                          "RUNNING": 1}
    assert got.states["COMPLETE"] >= 10 and got.states["PRUNED"] >= 10
    # the space: distributions mapped, the condition inferred from which trials lack momentum
    cs = got.space
    assert isinstance(cs["lr"], FloatHyperparameter) and cs["lr"].log
    assert (cs["lr"].lower, cs["lr"].upper) == (1e-4, 1.0)
    assert isinstance(cs["units"], IntegerHyperparameter) and cs["units"].log
    assert cs["dropout"].sequence == (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
    assert [c.parent.name for c in cs.parent_conditions_of["momentum"]] == ["optimizer"]
    assert any("momentum" in n and "optimizer == 'sgd'" in n for n in got.notes)
    # every value of the study is a row, at its step
    by = {n: g for n, g in t.groupby("config_id")}
    for trial in demo.trials:
        state = trial.state.name
        if state == "RUNNING":
            assert trial.number not in by
            continue
        rows = by[trial.number].set_index("fidelity.step")
        assert set(rows["optuna_state"]) == {state}
        assert rows["config.momentum"].isna().all() == (trial.params["optimizer"] == "adam")
        if state == "FAIL":  # a crashed row at the final step; its two intermediate values dropped
            assert list(rows.index) == [EPOCHS - 1] and rows["status"].iloc[0] == "crashed"
            continue
        want = dict(trial.intermediate_values)
        if state == "COMPLETE":
            want[EPOCHS - 1] = trial.value  # the final value stands at the final step
            assert rows.loc[EPOCHS - 1, "cost"] == 1.0
        assert rows["accuracy"].to_dict() == pytest.approx(want)
        assert (rows["value"] == rows["accuracy"]).all() and (rows["status"] == "ok").all()
        assert rows["cost"].to_dict() == pytest.approx({s: (s + 1) / EPOCHS for s in want})
    assert any("2 failed trial(s)" in n and "4 intermediate value(s) dropped" in n for n in got.notes)
    assert any("1 running trial(s) dropped" in n for n in got.notes)
    assert "optuna study 'demo'" in got.summary() and "final step 9" in got.summary()


@pytest.mark.slow  # fANOVA at each of the study's 10 epochs (~4 s)
def test_importance_per_epoch_and_agreement_with_the_final_epoch_without_training(stores):
    got = optuna_study.read(stores["url"], "demo")
    skipped = {}
    table, _ = report.importance(got.table, got.space, n_boot=2, metric=got.metric, skipped=skipped)
    steps = set(table["fidelity"])
    assert {"step=0", "step=3", "step=9"} <= steps and len(steps) + len(skipped) == EPOCHS
    top = table.sort_values("share", ascending=False).groupby("fidelity")["hp"].first()
    assert (top == "lr").all()  # the learning rate dominates at every epoch, as the objective says
    fids = [{"step": 3}, {"step": 9}]
    agree, _ = report.agreement(got.table, got.space, fids, n_boot=5, metric=got.metric)
    row = agree[agree["statistic"] == "spearman"].iloc[0]
    assert (row["a"], row["b"]) == ("step=3", "step=9") and row["lower"] <= row["estimate"] <= row["upper"]
    perf = agree[agree["statistic"] == "performance_spearman"].iloc[0]
    assert perf["estimate"] > 0.8  # epoch 3 already ranks the completed trials like the final epoch


def test_the_journal_file_reads_the_same_as_sqlite(stores):
    a = optuna_study.read(stores["url"], "demo")
    b = optuna_study.read(stores["journal"])  # its only study: no name needed
    cols = [c for c in a.table.columns if c != "info"]
    pd.testing.assert_frame_equal(a.table[cols], b.table[cols])
    assert a.space == b.space and a.metric == b.metric and a.notes == b.notes
    c = optuna_study.read(stores["db"], "demo")  # an SQLite file given by its path
    pd.testing.assert_frame_equal(a.table[cols], c.table[cols])


def test_nothing_in_the_study_is_written(stores, capsys):
    folder = stores["db"].parent
    before = _fingerprint(folder)
    optuna_study.read(stores["url"], "demo")
    optuna_study.read(stores["journal"], "demo")
    assert cli.main(["importance", "--optuna", str(stores["journal"]), "--fidelity", "step=9", "--n-boot", "2"]) == 0
    assert cli.main(["importance", "--optuna", str(stores["changed"]), "--n-boot", "2"]) == 0
    assert _fingerprint(folder) == before  # same files, same bytes, same times: no lock, journal or WAL file
    # and the read-only opening is what guarantees it: a write through it fails
    store = optuna_study.open_storage(stores["url"])
    with pytest.raises(Exception) as e:  # Optuna's StorageInternalError, from SQLite's refusal
        store.set_study_user_attr(store.get_study_id_from_name("demo"), "touched", True)
    assert "readonly database" in str(e.value.__cause__ or e.value.__context__)
    store = optuna_study.open_storage(stores["journal"])
    with pytest.raises(StudyError, match="never writes"):
        store.set_study_user_attr(store.get_study_id_from_name("demo"), "touched", True)
    assert _fingerprint(folder) == before


def test_a_changed_search_space_is_merged_and_reported(stores):
    got = optuna_study.read(stores["changed"], "changed")
    cs, t, notes = got.space, got.table, "\n".join(got.notes)
    assert (cs["lr"].lower, cs["lr"].upper) == (1e-5, 1.0)  # the two ranges merged
    assert "lr: the search space changed" in notes
    assert isinstance(cs["units"], IntegerHyperparameter)  # 20 trials used an int, 10 a categorical: those dropped
    assert "units: 2 distributions of different kinds" in notes and "dropped the 10 trial(s)" in notes
    assert "extra" not in cs and "extra: suggested in only 6 of 20 trials" in notes
    assert [c.parent.name for c in cs.parent_conditions_of["n_layers"]] == ["arch"]
    assert "n_layers" in notes and "arch == 'deep'" in notes
    assert sorted(t["config_id"]) == list(range(20)) and "fidelity.step" not in t  # no intermediate values
    assert (t["config.n_layers"].notna() == (t["config.arch"] == "deep")).all()
    assert got.final_step is None and "no intermediate values" in got.summary()


@pytest.mark.parametrize("storage, study, match", [
    ("sqlite:///{root}/missing.db", "demo", "storage URL .* does not open: no SQLite file"),
    ("{root}/missing.log", "demo", "no such file"),
    ("postgresql://user:pw@localhost/optuna", "demo", "does not open as an Optuna storage: ImportError"),
    ("{root}/not_optuna.db", "demo", "does not open as an Optuna storage.*no such table"),
    ("{root}/not_a_journal.log", "demo", "does not open as an Optuna journal file"),
    ("{url}", "nope", r"no study 'nope' in .*; its studies: demo, tiny, unmappable, pair"),
    ("{url}", None, "holds 4 studies; name one with --study: demo, tiny"),
    ("{url}", "tiny", "study 'tiny' has 5 completed trial\\(s\\); importance needs at least 10"),
    ("{url}", "unmappable", "distribution of 'act' cannot be mapped to ConfigSpace: None is a choice"),
    ("{url}", "pair", "study 'pair' has 2 objectives"),
])
def test_bad_input_is_one_line_naming_the_cause(stores, storage, study, match, capsys):
    root = stores["db"].parent
    with sqlite3.connect(root / "not_optuna.db") as con:
        con.execute("create table if not exists t (x int)")
    (root / "not_a_journal.log").write_text("this is not\na journal\n")
    storage = storage.format(root=root, url=stores["url"])
    with pytest.raises(StudyError, match=match) as e:
        optuna_study.read(storage, study)
    assert "\n" not in str(e.value)
    argv = ["agreement", "--optuna", storage] + (["--study", study] if study else [])
    assert cli.main(argv) == 2  # the command line: one line on stderr, nothing analysed
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("error: ")
    assert not (root / "missing.db").exists()  # a URL that does not open creates nothing


def test_the_command_line_reads_optuna_studies(stores, capsys):
    argv = ["--optuna", stores["url"], "--study", "demo", "--fidelity", "step=3", "--fidelity", "step=9",
            "--n-boot", "2"]
    assert cli.main(["importance", *argv]) == 0
    out, err = capsys.readouterr()
    assert "step=3" in out and "step=9" in out and "lr" in out
    assert err.startswith("optuna study 'demo': 51 trials") and "inferred condition" in err
    assert cli.main(["agreement", *argv]) == 0
    out, _ = capsys.readouterr()
    assert "spearman" in out and "performance_spearman" in out
    for bad, match in ((["importance"], "give run records"),
                       (["importance", "runs/x", "--optuna", stores["url"]], "one of them"),
                       (["importance", "runs/x", "--study", "demo"], "--study goes with --optuna")):
        with pytest.raises(SystemExit, match=match):
            cli.main(bad)


def test_distributions_map_both_ways():
    from optuna.distributions import CategoricalDistribution as C
    from optuna.distributions import FloatDistribution as F
    from optuna.distributions import IntDistribution as I  # noqa: E741
    cases = [F(1e-4, 1.0, log=True), F(0.0, 1.0), F(0.0, 0.5, step=0.1), I(1, 9), I(16, 256, log=True),
             I(8, 20, step=6), C(["a", "b"]), C([True, False]), C([1, 2.5])]
    for d in cases:
        assert to_optuna(from_optuna("x", d).hp) == d
    assert from_optuna("x", F(0.0, 0.25, step=0.05)).hp.sequence == (0.0, 0.05, 0.1, 0.15, 0.2, 0.25)
    assert from_optuna("x", I(3, 3)).hp.value == 3 and from_optuna("x", C(["only"])).hp.value == "only"
    wide = from_optuna("x", F(0.0, 10.0, step=0.001))  # 10,001 levels: read as a range, and said so
    assert isinstance(wide.hp, FloatHyperparameter) and "step 0.001 dropped" in wide.note
    assert isinstance(from_optuna("x", I(0, 10, step=2)).hp, OrdinalHyperparameter)
    for bad, match in ((C([None, "a"]), "None is a choice"), (C(["a", 1]), "mix types"), (object(), "object")):
        with pytest.raises(SpaceError, match=match):
            from_optuna("x", bad)
