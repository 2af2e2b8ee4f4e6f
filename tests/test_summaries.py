"""The harnesses' summaries as data (what the paper reads) agree with their markdown, rebuilt from the raw rows."""

import json
from pathlib import Path

import pandas as pd

from hpobench.experiments.studies import bohb_peers, optimizers_synthetic

RESULTS = Path(__file__).resolve().parents[1] / "results"


def test_bohb_peers_goal_is_the_summarys_goal_rebuilt_from_the_raw_rows():
    d = RESULTS / "bohb_peers"
    df = pd.concat([pd.read_csv(f) for f in sorted((d / "raw").glob("*.csv"))], ignore_index=True)
    assert bohb_peers.summarise(df, bohb_peers.FULL_EVALS) == (d / "summary.md").read_text()
    goal = json.loads((d / "goal.json").read_text())
    assert goal == json.loads(json.dumps(bohb_peers.goal(df)))
    v = goal["optimizers"]["bohb"]
    assert v["wins"] == sum(c["ours"] <= c["best"] for c in v["functions"].values())
    assert v["met"] == (v["wins"] >= goal["wins_needed"] and all(c["ratio"] <= 1.2 for c in v["functions"].values()))


def test_optimizers_synthetic_summary_csv_is_the_table_of_its_summary():
    d = RESULTS / "optimizers_synthetic"
    t = optimizers_synthetic.table(pd.read_parquet(d / "regret.parquet"))
    pd.testing.assert_frame_equal(t, pd.read_csv(d / "summary.csv", dtype={"wins": "Int64"}), check_exact=True)
    notes = json.loads((d / "optimum.json").read_text())
    assert (d / "summary.md").read_text().endswith(optimizers_synthetic.summarise(t, notes))
    random = t[t["optimizer"] == "random"]
    assert random["wins"].isna().all() and t.loc[t["optimizer"] != "random", "wins"].notna().all()
