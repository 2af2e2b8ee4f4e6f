"""Population-batched training: configurations that share a program train together (`train.run_many`,
`Benchmark.evaluate_many`), each as it trains alone; grouped sampling designs, their bootstrap, and
grids that batch their cells and resume."""

import dataclasses

import jax
import numpy as np
import pandas as pd
import pytest

import hpobench
from hpobench import onednn, programs, records, spaces, train
from hpobench.analysis import bootstrap, encode, importance, trials
from hpobench.experiments import grid
from hpobench.experiments.spec import Cell, cell_key

FID = {"epochs": 1, "data_fraction": 0.02, "resolution": 7}
STATIC = {"depth": 8, "width": 8, "batch_size": 32}


def family(n=4, seed=11, **static):
    """`n` configurations with one static part, both optimizer families among them (the first two:
    SGD and AdamW at ordinary learning rates; AdamW at a large one, e.g. 0.4 with epsilon 1e-8,
    turns float rounding into steps of its size, so no two programs agree on it)."""
    out = [c | STATIC | static for c in spaces.sample(spaces.resnet(), n, seed, default=False)]
    bench = hpobench.get("resnet/fashion_mnist")
    for i, (opt, lr) in enumerate((("sgd", 0.05), ("adamw", 0.003))):
        kept = {k: v for k, v in out[i].items() if not k.startswith(("sgd_", "adamw_"))}
        cfg = bench.config(kept | {"optimizer": opt, "learning_rate": lr})
        out[i] = {k: spaces.plain(v) for k, v in dict(cfg).items()}
    return out


def train_many(configs, ds, seeds, **kw):
    return train.run_many(configs, ds, FID["epochs"], FID["data_fraction"], FID["resolution"], seeds, **kw)


def params_gap(a, b) -> float:
    return max(float(np.max(np.abs(x - y))) for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params)))


@pytest.mark.slow
def test_batched_training_is_training_alone(fashion):
    """K = 4 configurations (both optimizer families, so the program both share) trained together
    against each trained alone on that program with its seed: the same F1, loss curve and final
    parameters, to float32 rounding. Tolerances: with the configurations' kernels one after another
    (`onednn.one_after_another`: each exactly its kernel alone) the programs differ only in how XLA
    fuses the batched program's elementwise work (optimizer update, BatchNorm statistics), which
    changes last bits: measured on one core, curves and F1 equal, parameters within 1.2e-7 (SGD) and
    9e-7 (AdamW) after an epoch; asserted: parameters 1e-5, losses 1e-5 relative, F1 1e-3 (a
    validation prediction or two flipping on a tie). Spread over the threads (the default with >= 2
    cores; on one core the same as one after another) a kernel on one thread sums in another order
    than one on several, which AdamW with a tiny epsilon amplifies to the size of its steps: looser
    bounds there. A batched program that mixed configurations (a shared seed, data order or
    hyperparameter, a wrong axis) misses them by orders of magnitude."""
    configs, seeds = family(), [3, 5, 7, 9]
    assert len({(c["optimizer"], c.get("sgd_nesterov")) for c in configs}) > 1
    with onednn.one_after_another():
        strict = train_many(configs, fashion, seeds, keep_params=True)
    spread = train_many(configs, fashion, seeds, keep_params=True)
    for c, s, a, b in zip(configs, seeds, strict, spread):
        alone = train.run(c, fashion, FID["epochs"], FID["data_fraction"], FID["resolution"], s, shared=True,
                          keep_params=True)
        assert a.status == b.status == alone.status == "ok" and a.group == b.group == 4 and alone.group == 1
        assert a.spec["population"] == 4 and a.spec["optimizer"] is None
        assert a.f1 == pytest.approx(alone.f1, abs=1e-3)
        for p, q in zip(a.curve, alone.curve):
            assert p.keys() == q.keys()
            assert p["train_loss"] == pytest.approx(q["train_loss"], rel=1e-5)
        assert params_gap(a, alone) < 1e-5
        assert b.f1 == pytest.approx(alone.f1, abs=0.02)
        assert b.curve[-1]["train_loss"] == pytest.approx(alone.curve[-1]["train_loss"], rel=1e-3)
        assert params_gap(b, alone) < (0.05 if c["optimizer"] == "adamw" else 1e-4)


@pytest.mark.slow
def test_a_diverging_member_does_not_poison_the_others(fashion):
    """One configuration of four with an absurd learning rate: it is 'diverged' (non-finite loss),
    and the three others end exactly as the three trained together without it."""
    configs, seeds = family(), [0, 1, 2, 3]
    bad = dict(configs[2], learning_rate=1e6, grad_clip=False)
    bad.pop("clip_norm", None)
    mixed = train_many(configs[:2] + [bad] + configs[3:], fashion, seeds)
    without = train_many(configs[:2] + configs[3:], fashion, seeds[:2] + seeds[3:])
    assert mixed[2].status == "diverged" and "non-finite training loss" in mixed[2].error
    assert np.isnan(mixed[2].f1) and not np.isfinite(mixed[2].curve[-1]["train_loss"])
    for a, b in zip(mixed[:2] + mixed[3:], without):
        assert a.status == b.status == "ok"
        assert a.curve == b.curve and a.f1 == b.f1


@pytest.mark.slow  # loads Fashion-MNIST (prepared on first use)
def test_group_spec_and_bad_input(fashion):
    same = family()
    spec = train.group_spec(same, fashion, 7)
    assert (spec.depth, spec.width, spec.batch_size, spec.population, spec.optimizer) == (8, 8, 32, 4, None)
    sgd = [c for c in family(8) if c["optimizer"] == "sgd" and c.get("sgd_nesterov")]
    assert train.group_spec(sgd, fashion, 7).optimizer == "sgd"  # one family: its own program
    with pytest.raises(ValueError, match="must share depth, width and batch size"):
        train.group_spec([same[0], same[1] | {"width": 16}], fashion, 7)
    with pytest.raises(ValueError, match="4 configurations but 3 seeds"):
        train.run_many(same, fashion, 1, 0.02, 7, [0, 1, 2])


def test_benchmark_groups_by_static_part_within_the_memory_bound():
    bench = hpobench.get("resnet/fashion_mnist")
    configs = family(6) + [dict(bench.default)] + family(2, width=16)
    assert bench.groups(configs, FID) == [[0, 1, 2, 3, 4, 5], [6], [7, 8]]
    assert bench.groups(configs + [{"no_such_hp": 1}], FID)[-1] == [9]  # left for evaluate to report
    from hpobench.benchmarks import resnet
    assert resnet.max_group(8, 8, 32, 7) == resnet.MAX_GROUP
    big = resnet.max_group(20, 32, 256, 28)
    assert 1 <= big < resnet.MAX_GROUP  # the memory model bounds a costly shape's group
    cells = [{"width": 32, "depth": 20, "batch_size": 256}] * (2 * big + 1)
    sizes = [len(g) for g in bench.groups(cells, {"resolution": 28})]
    assert sum(sizes) == len(cells) and max(sizes) <= big and max(sizes) - min(sizes) <= 1
    synth = hpobench.get("synthetic/agree")  # no batched objective: one at a time
    assert synth.groups([synth.default] * 3, {"epochs": 1}) == [[0], [1], [2]]


def test_synthetic_evaluate_many_is_evaluate():
    bench = hpobench.get("synthetic/partial")
    configs = spaces.sample(bench.config_space, 5, 0)
    many = bench.evaluate_many(configs, {"epochs": 3}, seeds=[0, 1, 2, 3, 4, 5])
    for c, s, r in zip(configs, range(6), many):
        one = bench.evaluate(c, {"epochs": 3}, s)
        assert r.f1 == one.f1 and r.info["group"] == 1
    with pytest.raises(hpobench.BenchmarkError, match="6 configurations but 2 seeds"):
        bench.evaluate_many(configs, {"epochs": 3}, seeds=[0, 1])


def test_evaluate_many_trains_groups_and_falls_back_one_at_a_time():
    """A benchmark that trains configurations together (here the synthetic objective, each member
    evaluated as alone, grouped by `n` at most 3 a group): evaluate_many hands `many` its groups;
    a group whose `many` raises is evaluated one at a time (each result what `evaluate` gives);
    bad input raises before anything runs."""
    base = hpobench.get("synthetic/partial")
    calls = []

    def many(configs, fidelity, seeds):
        calls.append([c["x0"] for c in configs])
        if any(c["n"] == 16 for c in configs):
            raise MemoryError("a group too large for this machine")
        return [base.fn(c, fidelity, s) for c, s in zip(configs, seeds)]
    bench = dataclasses.replace(base, batch=lambda c, f: (c["n"], 3), many=many)
    configs = [dict(base.default) | {"n": n, "x0": i / 10} for i, n in enumerate((4, 16, 4, 4, 16, 4, 2))]
    assert bench.groups(configs, {"epochs": 3}) == [[0, 2], [1, 4], [3, 5], [6]]  # at most 3: 4 of n=4 in 2 + 2
    rs = bench.evaluate_many(configs, {"epochs": 3}, seeds=list(range(7)))
    assert calls == [[0.0, 0.2], [0.1, 0.4], [0.3, 0.5]]  # the lone one never reaches `many`
    for i, (c, r) in enumerate(zip(configs, rs)):
        alone = base.evaluate(c, {"epochs": 3}, i)
        assert r.status == "ok" and r.f1 == alone.f1 and r.info["seed"] == i and r.info["config"]["x0"] == c["x0"]
        assert r.info["group"] == (1 if c["n"] in (16, 2) else 2)  # the failed group: one at a time
    with pytest.raises(hpobench.BenchmarkError, match="x0"):
        bench.evaluate_many(configs + [dict(base.default) | {"x0": 7.0}], {"epochs": 3}, seeds=0)
    assert len(calls) == 3  # refused before any group ran


def test_grouped_sampling_shares_the_static_part():
    cs = spaces.resnet()
    configs = spaces.sample(cs, 10, 3, grouped=4)
    groups = spaces.clusters(10, 4)
    assert len(configs) == 11 and groups == [0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3]
    assert configs[0] == spaces.sample(cs, 0, 3)[0]  # the default first, alone
    for g in set(groups):
        members = [c for c, k in zip(configs, groups) if k == g]
        assert len({tuple(c[k] for k in spaces.STATIC) for c in members}) == 1
        if len(members) > 1:
            assert len({c["learning_rate"] for c in members}) == len(members)  # the rest drawn per member
    for c in configs:
        cs.check_configuration(__import__("ConfigSpace").Configuration(cs, values=c))
    assert spaces.sample(cs, 10, 3, grouped=4) == configs  # seeded
    many = spaces.sample(cs, 600, 0, default=False, grouped=4)
    depths = pd.Series([c["depth"] for c in many]).value_counts(normalize=True)
    assert depths.min() > 0.2  # uniform on its own (1/3 each, 150 groups)
    assert spaces.clusters(5, 0, default=False, start=7) == [7, 8, 9, 10, 11]
    with pytest.raises(ValueError, match="grouped must be 0"):
        spaces.sample(cs, 4, 0, grouped=1)
    with pytest.raises(ValueError, match="has none of them"):
        spaces.sample(hpobench.get("synthetic/agree").config_space, 4, 0, grouped=2)


def test_bootstrap_resamples_groups_when_the_design_is_grouped():
    keys = np.array([f"k{i}" for i in range(12)])
    groups = np.repeat(np.arange(3), 4)
    draws = bootstrap.resamples(keys, 200, 0, groups)
    for d in draws:
        for g in range(3):  # a group is drawn whole or not at all
            assert len({d[k] for k in keys[groups == g]}) == 1
        assert sum(d.values()) == 12
    assert bootstrap.resamples(keys, 5, 0) == bootstrap.resamples(keys, 5, 0, None)  # ungrouped: as before
    df = pd.DataFrame({"cluster": [0, 0, np.nan, 1]})
    assert list(trials.clusters(df)) == ["c0", "c0", "row2", "c1"]
    assert trials.clusters(df.drop(columns="cluster")) is None


def test_importance_bootstrap_follows_the_table_grouping():
    """A grouped design's table (a `cluster` column) is resampled by group at every fidelity: the
    importance's resamples are exactly the group resamples of its rows, not the configuration ones
    of the same rows read as independent draws. (Whether that matters, on the synthetic family
    with known truth: results/grouped_bootstrap/.)"""
    bench = hpobench.get("synthetic/partial")
    configs = spaces.sample(bench.config_space, 30, 2, default=False, grouped=5, static=("n", "cat", "x0"))
    fids = [{"epochs": 3}, {"epochs": 9}]
    df = pd.DataFrame([hpobench.trial_row(bench.name, c, f, 0, bench.evaluate(c, f), bench.config_space)
                       for f in fids for c in configs])
    df = df.assign(cluster=spaces.clusters(30, 5, default=False) * 2)
    keys = encode.config_keys(df, bench.config_space)
    by_group = bootstrap.identity(bootstrap.resamples(keys, 4, 0, trials.clusters(df)))
    assert by_group != bootstrap.identity(bootstrap.resamples(keys, 4, 0))
    imps = importance.per_fidelity(df, bench.config_space, n_boot=4, reliability=False)
    assert {imp.extra["resamples"] for imp in imps.values()} == {by_group}
    one = importance.importance(df[df["fidelity.epochs"] == 9], bench.config_space, n_boot=4)
    assert one.extra["resamples"] == by_group  # the same groups, hence the same resamples, at one fidelity


def test_the_decision_bootstrap_resamples_groups_too():
    """The decision's surrogates (`tunability.fit_all`) are refitted on group resamples when the
    table records groups: the encoded table carries them (`Encoded.groups`, kept by `weighted`),
    and each bootstrap surrogate is the one fitted on that group resample."""
    from hpobench.analysis import tunability
    bench = hpobench.get("synthetic/partial")
    configs = spaces.sample(bench.config_space, 40, 1, default=False, grouped=4, static=("n", "cat", "x0"))
    rows = [hpobench.trial_row(bench.name, c, {"epochs": 9}, 0, bench.evaluate(c, {"epochs": 9}), bench.config_space)
            for c in configs]
    df = pd.DataFrame(rows).assign(cluster=spaces.clusters(40, 4, default=False))
    enc = encode.encode(df, bench.config_space)
    ok = (df["status"] == "ok").to_numpy()  # failed trials are left out, with their group labels
    assert not ok.all() and list(enc.groups) == list(trials.clusters(df)[ok])
    assert encode.encode(df.drop(columns="cluster"), bench.config_space).groups is None
    draws = bootstrap.resamples(enc.keys, 2, 0, enc.groups)
    counts = bootstrap.counts(enc.keys, draws[0])
    assert list(enc.weighted(counts).groups) == list(enc.groups[counts > 0])
    surs = tunability.fit_all(enc, 2, seed=0)
    expected = tunability.surrogate(enc.weighted(counts), 1)
    X = np.nan_to_num(enc.X[:5], nan=0.5)
    assert np.array_equal(surs[1](X), expected(X))
    plain_draw = bootstrap.resamples(enc.keys, 1, 0)[0]
    ungrouped = tunability.surrogate(enc.weighted(bootstrap.counts(enc.keys, plain_draw)), 1)
    assert not np.array_equal(surs[1](X), ungrouped(X))


@pytest.mark.slow
def test_grid_cells_train_together_and_an_interrupted_group_reruns(tmp_path, monkeypatch, fashion):
    """Cells sharing a program run as one group; a group is recorded when it finishes, and one
    interrupted is run again, whole, on the next run (nothing finished is repeated)."""
    bench = hpobench.get("resnet/fashion_mnist")
    configs = family(3) + family(3, seed=12, batch_size=64)
    cells = [Cell(cell_key(bench.name, {}, c, FID, 0), i, c, FID, 0, i // 3) for i, c in enumerate(configs)]
    calls, real = [], train.run_many

    def interrupted(configs, *a, **kw):
        calls.append(len(configs))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(configs, *a, **kw)
    monkeypatch.setattr(train, "run_many", interrupted)
    with pytest.raises(KeyboardInterrupt):
        grid.run_cells(bench, bench.name, {}, cells, tmp_path, {}, progress=False)
    first = records.evaluations(tmp_path)
    assert calls == [3, 3] and sorted(first["config_id"]) == [0, 1, 2]  # the first group, recorded whole
    monkeypatch.setattr(train, "run_many", lambda c, *a, **kw: calls.append(len(c)) or real(c, *a, **kw))
    df = grid.run_cells(bench, bench.name, {}, cells, tmp_path, {}, progress=False)
    assert calls == [3, 3, 3] and sorted(df["config_id"]) == list(range(6))  # only the interrupted group again
    assert (df["status"] == "ok").all() and sorted(df["cluster"]) == [0, 0, 0, 1, 1, 1]
    assert all(__import__("json").loads(i)["group"] == 3 for i in df["info"])
    assert (first.set_index("key")["f1"] == df.set_index("key").loc[first["key"], "f1"]).all()


def test_unstacked_programs_are_unchanged():
    """`population` 0 is the one-configuration program: its part key and signature as before."""
    spec = programs.Spec(8, 4, 10, "sgd", True, 8, 3, 64)
    assert spec.population == 0 and programs.part_key("eval", spec).population == 0
    init, step, ev = programs.batched(spec)
    init4, step4, ev4 = programs.batched(programs.Spec(8, 4, 10, "sgd", True, 8, 3, 64, 4))
    key = jax.random.key(0)
    hp, opt_hp = train.step_inputs(dict(spaces.resnet().get_default_configuration()), 8)
    one = jax.eval_shape(init, key, opt_hp)
    four = jax.eval_shape(init4, jax.random.split(key, 4), {k: np.stack([v] * 4) for k, v in opt_hp.items()})
    assert all(b.shape == (4, *a.shape) for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(four)))


@pytest.mark.slow
def test_grouped_bootstrap_study_quick(tmp_path):
    """The study's --quick mode writes its rows and summary; the two bootstraps of one grouped table
    share its point estimates and differ only in their intervals."""
    from hpobench.experiments.studies import grouped_bootstrap
    grouped_bootstrap.main(["--quick", "--out", str(tmp_path)])
    rows = pd.read_csv(tmp_path / "rows.csv")
    assert set(rows["design"]) == {"iid", "grouped 4, configurations", "grouped 4, groups"}
    a, b = (rows[rows["design"] == d].reset_index() for d in ("grouped 4, configurations", "grouped 4, groups"))
    assert np.array_equal(a["estimate"], b["estimate"]) and not np.array_equal(a["lower"], b["lower"])
    summary = __import__("json").loads((tmp_path / "summary.json").read_text())
    assert summary["instances"] == 2 and set(summary["versus_iid"]) == {"grouped 4, configurations",
                                                                       "grouped 4, groups"}
    assert "| grouped 4, groups | static |" in (tmp_path / "summary.md").read_text()


@pytest.mark.slow
def test_batched_benchmark_identity_part(tmp_path):
    """The benchmark's identity part (in this process, tiny family): one row per configuration and
    way, batched within float32 rounding of alone, and its README's table."""
    from hpobench.experiments.studies import batched
    batched.main(["--quick", "--parts", "identity", "--datasets", "fashion_mnist", "--out", str(tmp_path)])
    ident = pd.read_csv(tmp_path / "identity.csv")
    assert len(ident) == 2 * 2 and set(ident["way"]) == {"default", "one after another"}
    # one after another: each member runs its own kernels, float32 rounding apart; default: on 2+ cores a
    # group runs each member's primitive on one thread where alone uses several, so sums are ordered
    # differently and drift apart over an epoch (7e-4 measured on CI's 2 cores)
    same = ident[ident["way"] == "one after another"]
    assert (same["params_gap"] < 1e-5).all() and (ident["params_gap"] < 1e-2).all()
    assert (ident["f1_gap"] < 1e-2).all() and (ident["status"] == "ok").all()
    machine = __import__("json").loads((tmp_path / "machine.json").read_text())
    assert machine["cpu"] and machine["versions"]["jax"] and "argv" in machine
    assert "## Identity" in (tmp_path / "README.md").read_text()
