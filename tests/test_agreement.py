"""Agreement of importance rankings (and of performance) across fidelities."""

import numpy as np
import pytest
from scipy import stats

import hpobench
from hpobench.analysis import agreement, importance, sample
from hpobench.analysis.errors import AnalysisError

LOW, FULL = {"epochs": 1, "data_fraction": 0.05}, {"epochs": 81, "data_fraction": 1.0}


def _imps(agree, seed=0, n=250, probe=120, n_boot=20):
    b = hpobench.get("synthetic", agreement=agree, seed=seed)
    df = sample.table(b, n, [LOW, FULL], seed=seed, probe={1: probe})
    return b, df, importance.per_fidelity(df, b.config_space, n_boot=n_boot, seed=seed)


def test_statistics_on_known_vectors():
    a = np.array([5.0, 4, 3, 2, 1])
    assert agreement.statistic("spearman", a, a) == pytest.approx(1)
    assert agreement.statistic("kendall", a, -a) == pytest.approx(-1)
    assert agreement.statistic("weighted_tau", a, a) == pytest.approx(1)
    assert agreement.statistic("top_k", a, np.array([1.0, 2, 3, 4, 5]), k=2) == 0
    assert agreement.statistic("top_k", a, np.array([4.0, 5, 1, 2, 3]), k=2) == 1
    # swapping the top two costs weighted tau more than swapping the bottom two
    top = agreement.statistic("weighted_tau", a, np.array([4.0, 5, 3, 2, 1]))
    bottom = agreement.statistic("weighted_tau", a, np.array([5.0, 4, 3, 1, 2]))
    assert top < bottom
    assert agreement.statistic("spearman", a, np.ones(5)) == 0.0  # defined, not NaN
    with pytest.raises(AnalysisError):
        agreement.statistic("pearson", a, a)


@pytest.mark.slow
def test_agreeing_and_reversed_fidelities_are_told_apart():
    _, df_a, agree = _imps(1.0)
    _, df_r, rev = _imps(-1.0)
    ca = agreement.compare(*agree.values()).set_index("statistic")
    cr = agreement.compare(*rev.values()).set_index("statistic")
    assert ca.loc["spearman", "estimate"] > 0.5 > cr.loc["spearman", "estimate"]
    assert ca.loc["spearman", "lower"] > cr.loc["spearman", "upper"]
    for c in (ca, cr):
        assert (c.lower <= c.upper).all() and c.estimate.notna().all()
        assert (c.n_boot == 20).all()


def test_attenuation_correction_moves_away_from_zero_and_keeps_the_bootstrap_spread():
    reps = np.linspace(0.1, 0.5, 101)  # deviations -0.2 .. 0.2 around their mean
    est, lo, hi = agreement.disattenuate(0.4, reps, 1.0, 0.9)
    assert (est, lo, hi) == pytest.approx((0.4, 0.4 - 0.18, 0.4 + 0.18))  # k = 1: nothing to correct
    est, lo, hi = agreement.disattenuate(0.4, reps, 0.5, 0.9)
    assert (est, lo, hi) == pytest.approx((0.8, 0.44, 1.0))  # / k, clipped to 1
    assert agreement.disattenuate(0.4, reps, 0.0, 0.9) == (0.4, -1.0, 1.0)  # no reproducible ranking
    # unknown: the raw estimate with its centred interval
    assert agreement.disattenuate(0.4, reps, np.nan, 0.9) == pytest.approx((0.4, 0.22, 0.58))


def test_interval_contains_its_estimate_when_the_resamples_sit_lower():
    # the main job printed 0.48 [-0.19, 0.43]: resample rankings are noisier, so their agreement
    # sits nearer 0 than the table's; the percentile interval then misses the estimate
    reps = np.linspace(-0.25, 0.49, 101)  # median 0.12, 5-95% quantiles -0.21 .. 0.45
    lo, hi = np.quantile(reps, [0.05, 0.95])
    assert not lo <= 0.48 <= hi
    for k, want in ((np.nan, (0.48, 0.147, 0.813)), (1.0, (0.48, 0.147, 0.813)), (0.7, (0.686, 0.21, 1.0))):
        est, lo, hi = agreement.disattenuate(0.48, reps, k, 0.9)
        assert (est, lo, hi) == pytest.approx(want, abs=0.001) and lo <= est <= hi


@pytest.mark.slow
def test_reliability_is_deterministic_and_higher_with_more_configurations():
    b, df, imps = _imps(1.0, n_boot=3)
    low, probe = imps.values()
    assert 0 <= probe.reliability < low.reliability <= 1  # 120 vs 250 configurations
    _, _, again = _imps(1.0, n_boot=3)
    assert again[next(iter(again))].reliability == low.reliability
    c = agreement.compare(low, probe).set_index("statistic")
    sp = c.loc["spearman"]
    assert abs(sp.corrected) >= abs(sp.estimate) and sp.lower <= sp.corrected <= sp.upper
    assert sp.corrected == pytest.approx(min(1.0, sp.estimate / np.sqrt(low.reliability * probe.reliability)))
    assert (c.drop("spearman").corrected == c.drop("spearman").estimate).all()
    assert sp.correction == "attenuation"


def test_small_tables_report_agreement_uncorrected():
    _, _, imps = _imps(1.0, n=60, probe=40, n_boot=20)  # halves of 30 and 20 < MIN_HALF
    low, probe = imps.values()
    assert np.isnan(low.reliability) and np.isnan(probe.reliability)
    sp = agreement.compare(low, probe).set_index("statistic").loc["spearman"]
    assert sp.corrected == sp.estimate and sp.correction == "none: reliability unknown"
    assert (sp.lower, sp.upper) != (-1.0, 1.0) and sp.lower <= sp.estimate <= sp.upper
    c = agreement.compare(low, probe)
    assert ((c.lower <= c.corrected) & (c.corrected <= c.upper)).all()  # every statistic, its own interval


def test_noise_reference_is_the_low_fidelity_against_itself():
    b, df, imps = _imps(-1.0, n=60, probe=40, n_boot=10)
    low, probe = imps.values()
    ref = agreement.reference(df, b.config_space, low, FULL, n_boot=10, seed=0)
    sp = agreement.compare(low, probe).set_index("statistic").loc["spearman"]
    assert ref.lower <= ref.corrected <= ref.upper and ref.n_boot == 10
    assert ref.corrected > 0.5 > sp.corrected  # a reversed probe sits far below what noise allows
    with pytest.raises(AnalysisError, match="no probe configuration"):
        agreement.reference(df, b.config_space, low, {"epochs": 27, "data_fraction": 1.0}, n_boot=3)


def test_paired_resamples_are_shared_across_fidelities():
    _, df, imps = _imps(0.5, n_boot=5)
    low, full = imps.values()
    assert low.replicates.shape == full.replicates.shape
    assert low.n_configs + low.extra["dropped"] == 250 and full.n_configs + full.extra["dropped"] == 120
    with pytest.raises(AnalysisError, match="bootstrapped together"):
        low2 = importance.importance(df[df["fidelity.epochs"] == 1], low.extra["encoded"].space, n_boot=3)
        agreement.compare(low2, full)


def test_performance_spearman_over_common_configurations():
    b, df, _ = _imps(1.0, n_boot=0)
    p = agreement.performance(df, b.config_space, LOW, FULL, n_boot=50)
    sub = df[df["status"] == "ok"]
    assert p["n_configs"] == len(set(sub[sub["fidelity.epochs"] == 1]["config.x0"])
                                 & set(sub[sub["fidelity.epochs"] == 81]["config.x0"]))
    lo = sub[sub["fidelity.epochs"] == 1].set_index("config.x0")["f1"]
    hi = sub[sub["fidelity.epochs"] == 81].set_index("config.x0")["f1"]
    common = lo.index.intersection(hi.index)
    assert p["estimate"] == pytest.approx(stats.spearmanr(lo[common], hi[common]).statistic)
    assert p["lower"] <= p["estimate"] <= p["upper"]


def test_matrix_has_one_row_per_pair():
    b = hpobench.get("synthetic", agreement=0.5, seed=1)
    df = sample.table(b, 60, [LOW, {"epochs": 9, "data_fraction": 0.25}, FULL], seed=1)
    imps = importance.per_fidelity(df, b.config_space, method="ped-anova", n_boot=10)
    m = agreement.matrix(imps, "kendall")
    assert len(m) == 3 and set(m.statistic) == {"kendall"}
