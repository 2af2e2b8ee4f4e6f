"""The scoping decision, its reduced space, the figures and the CLI verbs."""

import dataclasses

import numpy as np
import pytest
from ConfigSpace import Configuration, Constant

import hpobench
from hpobench import spaces
from hpobench.analysis import importance, plots, sample, shares
from hpobench.analysis.errors import AnalysisError
from hpobench.experiments import cli
from hpobench.experiments import scope as job

LOW, FULL = {"epochs": 1, "data_fraction": 0.05}, {"epochs": 81, "data_fraction": 1.0}


@pytest.fixture(scope="module")
def agree():
    b = hpobench.get("synthetic", agreement=1.0, seed=2)
    df = sample.table(b, 300, [LOW, FULL], seed=2, probe={1: 150})
    return b, df, importance.per_fidelity(df, b.config_space, n_boot=30, seed=0)


def test_smallest_set():
    assert shares.smallest_set([0.1, 0.6, 0.3], 0.6) == [1]
    assert shares.smallest_set([0.1, 0.6, 0.3], 0.61) == [1, 2]
    assert shares.smallest_set([0.0, 0.0], 0.9) == []


def test_high_agreement_scopes_to_the_important_hyperparameters(agree):
    b, _, imps = agree
    low, probe = imps.values()
    dec = shares.decide(low, b.config_space, probe)
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
    dec = shares.decide(low, b.config_space, None, shares.Rule(target_uncertain=0.9))
    assert dec.tune == ["x0"]
    assert dec.fix["branch"] == "left" and "left_x" in dec.fix and dec.removed == ["right_x"]
    assert "right_x" not in dec.space
    spaces.check_subspace(dec.space, b.config_space)
    # a kept child keeps its parent tunable
    low2 = importance.Importance(**{**low.__dict__, "value": np.where(np.isin(low.names, ["right_x"]), 1.0, 0.0)})
    dec2 = shares.decide(low2, b.config_space, None, shares.Rule(target_uncertain=0.9))
    assert set(dec2.tune) == {"right_x", "branch"} and "kept: right_x" in dec2.reasons["branch"]


def test_fix_at_low_fidelity_uses_the_favoured_value(agree):
    b, _, imps = agree
    low, probe = imps.values()
    dec = shares.decide(low, b.config_space, probe, shares.Rule(fix_at="low-fidelity"))
    assert dec.fix and "favoured" in dec.fixed_at
    assert all("value favoured" in dec.reasons[n] or "by definition" in dec.reasons[n] for n in dec.fix)
    spaces.check_subspace(dec.space, b.config_space)
    with pytest.raises(AnalysisError):
        shares.decide(low, b.config_space, probe, shares.Rule(fix_at="best"))


@pytest.mark.slow
def test_misleading_low_fidelity_asks_for_a_higher_fidelity():
    b = hpobench.get("synthetic", agreement=-1.0, seed=2)
    df = sample.table(b, 300, [LOW, FULL], seed=2, probe={1: 150})
    low, probe = importance.per_fidelity(df, b.config_space, n_boot=30).values()
    dec = shares.decide(low, b.config_space, probe)
    assert dec.verdict == "higher-fidelity-needed"
    assert dec.fix == {} and set(dec.tune) == set(b.config_space)
    assert "higher fidelity" in dec.reasons["x0"]


@pytest.mark.slow
def test_figures_are_written_as_png_and_pdf(agree, tmp_path):
    b, df, imps = agree
    low, probe = imps.values()
    dec = shares.decide(low, b.config_space, probe)
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
    assert "weighted_tau" in out and "performance_spearman" in out and "always contains the estimate" in out
    # bad input: a clear error, exit code 2
    assert cli.main(["importance", str(rec), "--fidelity", "epochs=2"]) == 2
    assert "no trial at fidelity" in capsys.readouterr().err
    assert cli.main(["importance", str(tmp_path / "missing.parquet")]) == 2
    assert "record not found" in capsys.readouterr().err


def _imp(names, value, reps):
    return importance.Importance("fanova", {}, list(names), np.asarray(value, float), np.zeros(len(names)),
                                 np.zeros(len(names)), 0.9, np.asarray(reps, float), 30)


def test_agreement_interval_clears_the_thresholds_only_on_one_side_of_each():
    rule = shares.Rule(agree=0.4, disagree=0.2)
    assert shares.clears(dict(estimate=0.7, lower=0.45, upper=0.9), rule)  # scope, decided
    assert shares.clears(dict(estimate=-0.5, lower=-0.9, upper=0.1), rule)  # higher fidelity, decided
    assert shares.clears(dict(estimate=0.3, lower=0.25, upper=0.35), rule)  # conservative, decided
    assert not shares.clears(dict(estimate=0.5, lower=0.3, upper=0.8), rule)  # straddles agree
    assert not shares.clears(dict(estimate=0.1, lower=-0.2, upper=0.25), rule)  # straddles disagree
    assert not shares.clears({"between": "no probe"}, rule)


def test_stability_counts_resamples_whose_set_stays_within_the_kept_set():
    cs = hpobench.get("synthetic/agree").config_space
    names = list(cs)
    big = np.where(np.isin(names, ["x0"]), 1.0, 0.0)
    other = np.where(np.isin(names, ["x1"]), 1.0, 0.0)
    low = _imp(names, big, [big] * 9 + [other])  # one resample of 10 would tune x1
    assert shares.stability(cs, [low], 0.9, {"x0"}) == pytest.approx(0.9)
    assert shares.stability(cs, [low], 0.9, {"x0", "x1"}) == 1.0
    child = np.where(np.isin(names, ["right_x"]), 1.0, 0.0)  # its parent comes with it
    assert shares.stability(cs, [_imp(names, child, [child] * 4)], 0.9, {"right_x"}) == 0.0
    assert shares.stability(cs, [_imp(names, child, [child] * 4)], 0.9, {"right_x", "branch"}) == 1.0
    assert shares.stability(cs, [], None, set()) == 1.0  # nothing chosen by shares: everything kept


def test_settled_needs_both_a_clear_interval_and_stability(agree):
    b, _, imps = agree
    low, probe = imps.values()
    dec = shares.decide(low, b.config_space, probe)
    a = dec.agreement
    assert a["lower"] <= a["estimate"] <= a["upper"]  # the estimate inside its own interval
    assert dec.settled == (shares.clears(a, dec.rule) and dec.stability >= dec.rule.stable)
    assert not dataclasses.replace(dec, clears=False, stability=1.0).settled
    assert not dataclasses.replace(dec, clears=True, stability=dec.rule.stable - 0.01).settled
    assert dataclasses.replace(dec, clears=True, stability=dec.rule.stable).settled
    assert "decided" in dataclasses.replace(dec, clears=True, stability=0.95).summary()


def test_outlook_says_undecided_and_how_much_more_cost_would_likely_decide(agree):
    b, _, imps = agree
    low, probe = imps.values()
    dec = shares.decide(low, b.config_space, probe, shares.Rule(stable=0.9))
    rounds = [dict(n_low=20, n_probe=15, cost=100.0, stability=0.7),
              dict(n_low=40, n_probe=30, cost=200.0, stability=0.8)]
    # interval [0.1, 0.7] around 0.5: half-width 0.4 towards agree = 0.4 at distance 0.1 -> 16x;
    # stability 0.7 -> 0.8 per doubling: 0.9 at 400, 2x
    und = dataclasses.replace(dec, clears=False, stability=0.8,
                              agreement={**dec.agreement, "estimate": 0.5, "lower": 0.1, "upper": 0.7})
    assert "UNDECIDED" in job.outlook(und, rounds, 200.0) and "not likely decided within 10x" in job.outlook(
        und, rounds, 200.0)
    und.agreement.update(estimate=0.6, lower=0.35, upper=0.8)  # 0.25 / 0.2 -> 1.56x; stability 2x wins
    text = job.outlook(und, rounds, 200.0)
    assert "about 2.0x" in text and "400 (200 more)" in text
    fell = [{**rounds[0], "stability": 0.85}, rounds[1]]  # stability fell
    assert "not likely" in job.outlook(und, fell, 200.0)
    one = job.outlook(und, rounds[1:], 200.0)  # the fixed design: one round, no stability trend
    assert "(cost 200 of 200, 1 round)" in one and "about 1.6x" in one
    assert "cannot be extrapolated from one round" in one
    done = dataclasses.replace(und, clears=True, stability=0.95)
    assert job.outlook(done, fell, 300.0) == "decided after round 2: cost 200 of 300 (100 left unspent)"
    assert "UNDECIDED" in und.summary() and "noise reference" not in und.summary()
