"""The probe in whole programs (results/probe_units): the study's designs and its summary."""

import json

import pandas as pd
import pytest

from hpobench.experiments.studies import probe_units


def test_probe_units_study_draws_units_of_distinct_static_parts():
    """results/probe_units: a sample in units of K holds n // K units from distinct static parts (and
    one more for the rest), each unit one static part; iid draws are distinct configurations."""
    static = pd.Series([f"s{i % 10}" for i in range(40)])
    for sample in probe_units.draws(static, 15, 2, 20, seed=1):
        parts = static.values[sample]
        assert len(set(sample)) == 15 and len(set(parts)) == 8
        assert sorted(pd.Series(parts).value_counts()) == [1] + [2] * 7
    assert all(len(set(s)) == 15 for s in probe_units.draws(static, 15, 1, 20))


@pytest.mark.slow
def test_probe_units_study_writes_a_row_per_table_design_and_rho(tmp_path):
    """The study on the recorded tables, a few draws: one row per table, design and rho."""
    probe_units.main(["--draws", "5", "--k", "3", "--out", str(tmp_path)])
    out = json.loads((tmp_path / "summary.json").read_text())
    assert [len(t["rows"]) for t in out.values()] == [4, 4] and all(t["configs"] > 100 for t in out.values())
    assert "| units of 3 | low~probe |" in (tmp_path / "summary.md").read_text()
