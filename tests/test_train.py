"""Real training on real data, at the smallest fidelities that still learn."""

import math

import jax
import numpy as np
import pytest

from hpobench import programs, train

FID = {"epochs": 2, "data_fraction": 0.1, "resolution": 8}


def run(cfg, ds, seed=0, **fid):
    f = FID | fid
    return train.run(cfg, ds, f["epochs"], f["data_fraction"], f["resolution"], seed)


def test_macro_f1_matches_definition():
    from sklearn.metrics import f1_score
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 5, 300), rng.integers(0, 5, 300)
    p[y == 4] = 4  # unequal classes
    assert train.macro_f1(y, p, 5) == pytest.approx(f1_score(y, p, average="macro"))


def test_schedules():
    base = {"learning_rate": 0.1, "warmup_frac": 0.0, "step_gamma": 0.1, "step_drops": 2}
    cos = train.schedule(base | {"schedule": "cosine"}, 100)
    assert cos[0] == pytest.approx(0.1) and cos[-1] < 1e-3 and np.all(np.diff(cos) <= 1e-9)
    step = train.schedule(base | {"schedule": "step"}, 90)
    assert sorted(set(np.round(step, 6))) == pytest.approx([0.001, 0.01, 0.1])
    warm = train.schedule(base | {"schedule": "constant", "warmup_frac": 0.1}, 100)
    assert warm[0] == pytest.approx(0.01) and warm[9] == pytest.approx(0.1) and warm[-1] == pytest.approx(0.1)


@pytest.mark.slow
def test_learns_on_cifar10(cifar10, tiny_config):
    out = run(tiny_config, cifar10)
    assert out.status == "ok"
    assert out.f1 > 0.2, out.curve  # chance is 0.1; two short epochs reach ~0.3
    assert [p["epoch"] for p in out.curve] == [1, 2]
    assert all(math.isfinite(p["train_loss"]) for p in out.curve)
    assert out.curve[-1]["train_loss"] < out.curve[0]["train_loss"]
    assert out.images == 2 * math.ceil(4500 / 64) * 64


@pytest.mark.slow
def test_same_seed_same_result(cifar10, tiny_config):
    a, b = run(tiny_config, cifar10, seed=3), run(tiny_config, cifar10, seed=3)
    assert a.curve == b.curve
    c = run(tiny_config, cifar10, seed=4)
    assert c.curve != a.curve


@pytest.mark.slow
def test_resolutions(cifar10, tiny_config):
    for res in (16, 32):
        out = run(tiny_config, cifar10, epochs=1, data_fraction=0.02, resolution=res)
        assert out.status == "ok" and out.spec["resolution"] == res


@pytest.mark.slow
def test_one_compile_per_spec(cifar10, tiny_config):
    """Other hyperparameters, fidelities and partial last batches reuse the program."""
    run(tiny_config, cifar10, epochs=1, data_fraction=0.01)  # make sure this spec is compiled
    compiles = []

    def listener(name, *a, **k):
        if "backend_compile" in name:
            compiles.append(name)
    jax.monitoring.register_event_duration_secs_listener(listener)
    before = programs.STORE.built
    try:
        other = tiny_config | {"learning_rate": 0.03, "sgd_momentum": 0.5, "weight_decay": 1e-5, "dropout": 0.3,
                               "label_smoothing": 0.1, "bn_momentum": 0.95, "aug_flip": False,
                               "aug_cutout": True, "cutout_frac": 0.3, "crop_padding": 2, "grad_clip": True,
                               "clip_norm": 0.5, "schedule": "step", "step_gamma": 0.2, "step_drops": 1,
                               "warmup_frac": 0.1}
        for frac, epochs in ((0.013, 1), (0.02, 2)):  # 585 and 900 images: partial last batches of 64
            assert run(other, cifar10, epochs=epochs, data_fraction=frac).status == "ok"
    finally:
        jax.monitoring.clear_event_listeners()
    assert compiles == []
    assert programs.STORE.built == before
    run(tiny_config | {"batch_size": 32}, cifar10, epochs=1, data_fraction=0.01)
    assert programs.STORE.built == before + 1  # a new batch size is a new program


@pytest.mark.parametrize("branch", [
    {"optimizer": "adamw", "learning_rate": 1e-3},
    {"sgd_nesterov": False},
    {"schedule": "step"},
    {"schedule": "constant", "warmup_frac": 0.2},
    {"aug_crop": False, "aug_flip": False},
    {"aug_cutout": True},
    {"grad_clip": True, "clip_norm": 0.5},
])
@pytest.mark.slow
def test_conditional_branches_train(cifar10, branch):
    import hpobench
    # the benchmark completes a partial config: children of switched-on parents get defaults
    cfg = dict(hpobench.get("resnet/cifar10").config({"depth": 8, "width": 8, "batch_size": 64} | branch))
    assert all(cfg[k] == v for k, v in branch.items())
    out = run(cfg, cifar10, epochs=1, data_fraction=0.02)
    assert out.status == "ok" and out.f1 > 0.05


@pytest.mark.slow
def test_absurd_learning_rate_diverges(cifar10, tiny_config):
    out = run(tiny_config | {"learning_rate": 1e6, "schedule": "constant"}, cifar10, epochs=3, data_fraction=0.02)
    assert out.status == "diverged"
    assert math.isnan(out.f1) and len(out.curve) < 3 and "non-finite" in out.error


def test_shared_spec_serves_both_families():
    from hpobench import spaces
    from hpobench.data import Dataset
    x, y = np.zeros((4, 8, 8, 3), np.uint8), np.zeros(4, np.int32)
    ds = Dataset("toy", x, y, x, y, x, y, tuple("ab"))
    sgd = dict(spaces.resnet().get_default_configuration())
    adamw = {k: v for k, v in sgd.items() if not k.startswith("sgd")} | {"optimizer": "adamw"}
    plain = sgd | {"sgd_nesterov": False}
    assert len({train.spec_of(c, ds, 8) for c in (sgd, adamw, plain)}) == 3
    assert len({train.spec_of(c, ds, 8, shared=True) for c in (sgd, adamw, plain)}) == 1
    shared, own = train.spec_of(sgd, ds, 8, shared=True), train.spec_of(sgd, ds, 8)
    assert programs.stored("train", shared) != programs.stored("train", own)  # another program, another entry
    for part in ("init", "eval"):  # the same for every family and batch size
        assert programs.part_key(part, shared) == programs.part_key(part, own) == programs.part_key(
            part, train.spec_of(adamw | {"batch_size": 32}, ds, 8))


def test_step_inputs_are_what_the_programs_take():
    from hpobench import descent, spaces
    hp, opt_hp = train.step_inputs(dict(spaces.resnet().get_default_configuration()), 8)
    assert tuple(hp) == programs.HP_KEYS and tuple(opt_hp) == descent.KEYS
    assert hp["crop"].dtype == np.int32 and all(v.dtype == np.float32 for k, v in hp.items() if k != "crop")


