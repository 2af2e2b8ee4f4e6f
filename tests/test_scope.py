"""The scoping decision, its reduced space, the figures and the CLI verbs."""

import numpy as np
import pytest
from ConfigSpace import Configuration, Constant

import hpobench
from hpobench import spaces
from hpobench.analysis import importance, plots, sample, scope
from hpobench.analysis.data import AnalysisError
from hpobench.experiments import cli

LOW, FULL = {"epochs": 1, "data_fraction": 0.05}, {"epochs": 81, "data_fraction": 1.0}


@pytest.fixture(scope="module")
def agree():
    b = hpobench.get("synthetic", agreement=1.0, seed=2)
    df = sample.table(b, 300, [LOW, FULL], seed=2, probe={1: 150})
    return b, df, importance.per_fidelity(df, b.config_space, n_boot=30, seed=0)


def test_smallest_set():
    assert scope.smallest_set([0.1, 0.6, 0.3], 0.6) == [1]
    assert scope.smallest_set([0.1, 0.6, 0.3], 0.61) == [1, 2]
    assert scope.smallest_set([0.0, 0.0], 0.9) == []


def test_high_agreement_scopes_to_the_important_hyperparameters(agree):
    b, _, imps = agree
    low, probe = imps.values()
    dec = scope.decide(low, b.config_space, probe)
    assert dec.verdict in ("scope", "scope-conservative")
    truth = b.truth.importance(FULL)
    kept_truth = sum(truth[n] for n in dec.tune) / sum(truth.values())
    assert kept_truth > 0.85  # the kept set carries most of the true full-fidelity variance
    assert len(dec.tune) < len(b.config_space)
    assert set(dec.tune) | set(dec.fix) | set(dec.removed) == set(b.config_space)
    assert all(r for r in dec.reasons.values()) and set(dec.reasons) == set(b.config_space)
    spaces.check_subspace(dec.space, b.config_space)
    for n, v in dec.fix.items():
        assert isinstance(dec.space[n], Constant) and dec.space[n].value == v
    dec.space.seed(0)
    for cfg in dec.space.sample_configuration(20):  # every scoped config is valid in the full space
        Configuration(b.config_space, values=dict(cfg))


def test_conditions_stay_valid_when_a_parent_is_fixed(agree):
    b, _, imps = agree
    low, _ = imps.values()
    # Make the rule keep almost nothing: branch gets fixed at its default ('left'), right_x goes away
    low = importance.Importance(**{**low.__dict__, "value": np.where(
        np.isin(low.names, ["x0"]), 1.0, 0.0), "replicates": np.zeros((0, len(low.names)))})
    dec = scope.decide(low, b.config_space, None, scope.Rule(target_uncertain=0.9))
    assert dec.tune == ["x0"]
    assert dec.fix["branch"] == "left" and "left_x" in dec.fix and dec.removed == ["right_x"]
    assert "right_x" not in dec.space
    spaces.check_subspace(dec.space, b.config_space)
    # a kept child keeps its parent tunable
    low2 = importance.Importance(**{**low.__dict__, "value": np.where(np.isin(low.names, ["right_x"]), 1.0, 0.0)})
    dec2 = scope.decide(low2, b.config_space, None, scope.Rule(target_uncertain=0.9))
    assert set(dec2.tune) == {"right_x", "branch"} and "kept: right_x" in dec2.reasons["branch"]


def test_fix_at_low_fidelity_uses_the_favoured_value(agree):
    b, _, imps = agree
    low, probe = imps.values()
    dec = scope.decide(low, b.config_space, probe, scope.Rule(fix_at="low-fidelity"))
    assert dec.fix and "favoured" in dec.fixed_at
    assert all("value favoured" in dec.reasons[n] or "by definition" in dec.reasons[n] for n in dec.fix)
    spaces.check_subspace(dec.space, b.config_space)
    with pytest.raises(AnalysisError):
        scope.decide(low, b.config_space, probe, scope.Rule(fix_at="best"))


@pytest.mark.slow
def test_misleading_low_fidelity_asks_for_a_higher_fidelity():
    b = hpobench.get("synthetic", agreement=-1.0, seed=2)
    df = sample.table(b, 300, [LOW, FULL], seed=2, probe={1: 150})
    low, probe = importance.per_fidelity(df, b.config_space, n_boot=30).values()
    dec = scope.decide(low, b.config_space, probe)
    assert dec.verdict == "higher-fidelity-needed"
    assert dec.fix == {} and set(dec.tune) == set(b.config_space)
    assert "higher fidelity" in dec.reasons["x0"]


@pytest.mark.slow
def test_figures_are_written_as_png_and_pdf(agree, tmp_path):
    b, df, imps = agree
    low, probe = imps.values()
    dec = scope.decide(low, b.config_space, probe)
    from hpobench.analysis import agreement
    m = agreement.matrix(imps)
    perf = [agreement.performance(df, b.config_space, LOW, FULL, n_boot=20)]
    import pandas as pd
    written = (plots.importance(imps, tmp_path / "imp") + plots.marginals(probe, b.config_space, tmp_path / "marg")
               + plots.decision(dec, tmp_path / "dec")
               + plots.agreement(m, pd.DataFrame(perf), list(imps), tmp_path / "agr"))
    assert len(written) == 8
    for p in written:
        assert p.exists() and p.stat().st_size > 1000
        assert p.read_bytes()[:4] in (b"\x89PNG", b"%PDF")


@pytest.mark.slow
def test_cli_importance_and_agreement(agree, tmp_path, capsys):
    b, df, _ = agree
    rec = tmp_path / "trials.parquet"
    df.to_parquet(rec)
    (tmp_path / "trials.space.json").write_text(spaces.to_json(b.config_space))
    assert cli.main(["importance", str(rec), "--n-boot", "5", "--fidelity", "epochs=81,data_fraction=1",
                     "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "x0" in out and "importance_fanova.png" in out and (tmp_path / "out" / "marginals.pdf").exists()
    assert cli.main(["agreement", str(rec), "--n-boot", "5", "--method", "ped-anova",
                     "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "weighted_tau" in out and "performance_spearman" in out
    # bad input: a clear error, exit code 2
    assert cli.main(["importance", str(rec), "--fidelity", "epochs=2"]) == 2
    assert "no trial at fidelity" in capsys.readouterr().err
    assert cli.main(["importance", str(tmp_path / "missing.parquet")]) == 2
    assert "record not found" in capsys.readouterr().err
