import json

import pytest

from hpobench.experiments import cli


def test_list(capsys):
    assert cli.main(["list"]) == 0
    assert "resnet/cifar10" in capsys.readouterr().out.split()


def test_space_is_configspace_json(capsys):
    from hpobench import spaces
    assert cli.main(["space", "resnet/cifar10"]) == 0
    assert spaces.from_json(capsys.readouterr().out) == spaces.resnet()
    assert cli.main(["space", "resnet/cifar10", "--fidelity"]) == 0
    assert "data_fraction" in capsys.readouterr().out


def test_evaluate_prints_result_json(capsys, tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"x0": 0.3}))
    assert cli.main(["evaluate", "synthetic/agree", "--config", str(cfg), "--fidelity", "epochs=3", "--compact"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "ok" and out["info"]["config"]["x0"] == 0.3 and len(out["curve"]) == 3


@pytest.mark.parametrize("argv, match", [
    (["evaluate", "nope/x"], "unknown benchmark"),
    (["evaluate", "synthetic/agree", "--fidelity", "epochs=0"], "out of range"),
    (["evaluate", "synthetic/agree", "--bench-arg", "nois=0.1"], "unknown benchmark argument nois; it takes noise,"),
    (["evaluate", "replay/cifar10-cpu", "--bench-arg", "seed=1"], "unknown benchmark argument seed; it takes none"),
    (["evaluate", "resnet/cifar10-cpu", "--bench-arg", "colour=1"], "resnet/cifar10-cpu: unknown benchmark argument"),
])
def test_errors_exit_2(capsys, argv, match):
    assert cli.main(argv) == 2
    assert match in capsys.readouterr().err


def test_malformed_config_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{'x0': 1")
    with pytest.raises(SystemExit, match="malformed JSON"):
        cli.main(["evaluate", "synthetic/agree", "--config", str(bad)])
    with pytest.raises(SystemExit, match="no such file"):
        cli.main(["evaluate", "synthetic/agree", "--config", str(tmp_path / "none.json")])
    with pytest.raises(SystemExit, match="knob=value"):
        cli.main(["evaluate", "synthetic/agree", "--fidelity", "epochs"])
