"""`python -m paper` on a small fixture cut from the committed results: complete, traceable, deterministic."""

import shutil
from pathlib import Path

import pandas as pd
import pytest

from hpobench.experiments.studies import agreement_study, cpu_study, slope_stability, strategy_tables
from hpobench.paper import build
from hpobench.paper.sections import transfer

pytestmark = pytest.mark.slow  # each build draws every figure

ROOT = Path(__file__).resolve().parents[1] / "results"
COPY = ("throughput/jax_vs_torch.jsonl", "throughput/resnet20_2026-12-07.jsonl",
        "throughput/resnet20_avx2_2026-12-07.jsonl", "analysis_synthetic/tau_vs_n.csv",
        "analysis_synthetic/coverage.json",
        "optimizers_synthetic/summary.md", "optimizers_synthetic/summary.csv", "cifar10_cpu/meta.json",
        "strategies/holdout.parquet", "strategies/landscape.json", "strategies_live/runs.parquet",
        "strategies_live/curves.parquet", "strategies_live/settings.json", "strategies_live/versus_surrogate.parquet",
        "strategies_live/surrogate/runs.parquet", "strategies_live/surrogate/curves.parquet",
        "importance_battery/summary.md", "importance_battery/summary.json", "bohb_peers/summary.md",
        "bohb_peers/goal.json", "surrogate_v2/summary.json",
        "tunability_synthetic/summary.json", "scope_ranges/summary.json",
        "strategies_live_b30/anchored_gains_agreement.csv",
        *(f"strategies_live_b30/anchored_gains_v2_n{n}/anchored_gains_agreement.csv" for n in (40, 100, 200)),
        "strategies_live_b30_sized/anchors.csv",
        *(f"strategies_live_{v}/{f}"
          for v in ("v2", "v3", "fashion_tool", "v3_bohb_paper", "v3_bohb", "b30", "b30_sized")
          for f in ("runs.parquet", "curves.parquet", "anytime.parquet", "settings.json")))


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    res = tmp_path_factory.mktemp("results")
    for f in COPY:
        (res / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / f, res / f)
    study = pd.read_parquet(ROOT / "cifar10_cpu/evaluations.parquet")
    study[study["config_id"] < 20].to_parquet(res / "cifar10_cpu/evaluations.parquet")
    cpu_study.run(res, res / "cpu_study", n_boot=5)
    for name in ("runs", "curves"):
        t = pd.read_parquet(ROOT / f"strategies/{name}.parquet")
        t[t["seed"] < 3].to_parquet(res / f"strategies/{name}.parquet")
    for folder in ("strategies", "strategies_live", "strategies_live/surrogate", "strategies_live_v2",
                   "strategies_live_v3", "strategies_live_fashion_tool", "strategies_live_v3_bohb_paper",
                   "strategies_live_v3_bohb", "strategies_live_b30", "strategies_live_b30_sized"):
        strategy_tables.run(res / folder)
    (res / "cifar10_cpu_v2").mkdir()
    shutil.copy(ROOT / "cifar10_cpu_v2/meta.json", res / "cifar10_cpu_v2/meta.json")
    v2 = pd.read_parquet(ROOT / "cifar10_cpu_v2/evaluations.parquet")
    v2[v2["config_id"] < 20].to_parquet(res / "cifar10_cpu_v2/evaluations.parquet")
    agreement_study.run(res, res / "study_v2", n_boot=5)
    slope_stability.run(res, n_random=2)
    return res


def test_the_paper_builds_completely_and_every_number_has_a_source(results, tmp_path):
    p = build.build(results, tmp_path / "a")
    text = (tmp_path / "a" / "paper.md").read_text()
    assert "{{" not in text and "n/a" not in text
    assert p.numbers["n_configs"]["value"] == 20
    assert p.numbers["v2_configs"]["value"] == 20 and "partial (`cifar10_cpu_v2` 200 of 4,010 cells" in text
    assert "not yet tested" in p.numbers["v2_transfer"]["text"]  # no 5x grid in the fixture
    assert float(p.numbers["v2_cpu_hours"]["text"]) > 0
    assert p.numbers["v2_stability"]["text"].startswith("Refitted on all 20 configurations, the slope reads ")
    for key, n in p.numbers.items():
        src = Path(n["source"])
        assert (src if src.is_absolute() or src.exists() else tmp_path / "a" / src).exists(), key
    for fig in ("agreement_vs_cost", "importance_full", "strategies_anytime", "live_anytime", "v2_agreement_vs_cost",
                "live_v2_anytime"):
        assert (tmp_path / "a" / "figures" / f"{fig}.png").stat().st_size > 10_000
    assert "| 20 |" not in p.numbers["table:agreement"]["text"]  # a table, not a dump
    live2 = p.numbers["table:live_v2"]["text"]
    assert "one-epoch" in live2 and "all (bohb)" in live2 and "all (smac)" in live2  # paired with both
    assert "| 1000 | 40 |" in p.numbers["battery_table"]["text"] and "- **smac-mf**" in text  # the estimators' peers
    for key in ("battery_table", "peers_goal", "optimizers_table"):  # read from CSV / JSON, as summary.md shows it
        quoted = "\n".join(s.strip() for s in p.numbers[key]["text"].splitlines())
        assert quoted in Path(p.numbers[key]["source"]).read_text(), key
    assert len(pd.read_csv(tmp_path / "a" / "tables" / "agreement.csv")) == 9  # every low fidelity vs full


def test_same_results_same_paper(results, tmp_path):
    build.build(results, tmp_path / "a")
    build.build(results, tmp_path / "b")
    for f in ("paper.md", "numbers.json", "tables/agreement.csv", "tables/strategies.csv", "tables/live.csv",
              "tables/v2_agreement.csv", "tables/v2_budget.csv"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f


def test_missing_results_name_what_is_missing(results, tmp_path):
    partial = tmp_path / "r"
    shutil.copytree(results, partial)
    shutil.rmtree(partial / "strategies")
    (partial / "cpu_study" / "hierarchy.json").unlink()  # a harness not run: its section is skipped
    with pytest.raises(KeyError, match="best_strategy_smac"):
        build.build(partial, tmp_path / "out")
    p = build.build(partial, tmp_path / "draft", partial=True)
    assert p.numbers["best_strategy_smac"]["text"] == "n/a" and p.numbers["lr_ratio"]["text"] == "n/a"
    assert p.notes[0].startswith("study: skipped") and "cpu_study/hierarchy.json" in p.notes[0]
    assert p.notes[1].startswith("strategies: skipped")
    bad = tmp_path / "t.md"
    bad.write_text("{{no_such_number}}")
    with pytest.raises(KeyError, match="no_such_number"):
        build.build(results, tmp_path / "out2", template=bad)


def test_an_empty_results_folder_builds_a_draft(tmp_path):
    """What the installed wheel does (`.ci/wheel-check`): every section skipped, every number n/a."""
    (tmp_path / "results").mkdir()
    p = build.build(tmp_path / "results", tmp_path / "out", partial=True)
    assert len(p.notes) == len(build.PARTS) and {n["text"] for n in p.numbers.values()} == {"n/a"}
    assert "Generated by" in (tmp_path / "out" / "paper.md").read_text()


def test_the_harnesses_refuse_bad_input_before_computing(tmp_path):
    with pytest.raises(FileNotFoundError, match="cifar10_cpu/evaluations.parquet"):
        cpu_study.run(tmp_path)
    with pytest.raises(ValueError, match="n_boot 1"):
        cpu_study.run(ROOT, tmp_path / "out", n_boot=1)
    with pytest.raises(FileNotFoundError, match="runs.parquet or curves.parquet"):
        strategy_tables.run(tmp_path)


@pytest.mark.parametrize("same,same_slope,says", [(True, True, "no difference detected"),
                                                  (False, True, "the data rule out"),
                                                  (True, False, "the data rule out"),
                                                  (None, True, "not tested")])
def test_a_transfer_is_worded_by_its_intervals(same, same_slope, says):
    """An interval that excludes 0 decides a difference; one that is not finite decides nothing."""
    t = {"difference": 0.1, "lower": -0.05, "upper": 0.3, "at": 0.05, "same": same, "slope_difference": 0.0,
         "slope_lower": -0.2, "slope_upper": 0.2, "same_slope": same_slope, "a": 0.7, "b": 0.8}
    text = transfer.versus({"importance": t}, "one curve")
    assert says in text and (says != "no difference detected" or "up to 0.30" in text)
    assert ("a difference" in transfer.verdict("importance", t)) == (False in (same, same_slope))
