"""The comparison tables of a strategies folder (`strategies.py` writes its runs and curves), for the paper.

    python -m hpobench.experiments.studies.strategy_tables results/strategies results/strategies_live \\
        results/strategies_live/surrogate results/strategies_live_v2

Reads FOLDER/runs.parquet and FOLDER/curves.parquet and writes to FOLDER (`hpobench.analysis.compare`):

    table.parquet          one row per optimizer x strategy: anytime and final F1 (mean ± SE), paired
                           wins against tuning everything, hps tuned, scoping share (`compare.table`)
    versus_all.parquet     each strategy paired by seed with `all`: sign test, mean difference with its
                           90% paired-bootstrap interval (`compare.versus_all`)
    anytime_curve.parquet  the incumbent F1 at 40 shares (5% to 100%) of the largest total cost a run
                           spent, mean over seeds with its 90% bootstrap interval (`compare.anytime`)
    versus_tool.parquet    where the budget-aware scope (tool-budget) ran: it paired by seed with every
                           other strategy (`compare.against`); versus_confirm.parquet the same for tool-confirm

Deterministic (fixed bootstrap seeds); a few seconds a folder.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from hpobench.analysis import compare

SHARES = np.linspace(0.05, 1, 40)  # of the total cost: the anytime figure's x axis
# issue 31's scopes, each paired with every other strategy: strategy -> its table
TOOLS = {"tool-budget": "versus_tool.parquet", "tool-confirm": "versus_confirm.parquet",
         "tool-prior": "versus_prior.parquet", "tool-anchor": "versus_anchor.parquet",
         "tool-sized": "versus_sized.parquet"}


def run(folder: str | Path) -> None:
    folder = Path(folder)
    missing = [f for f in ("runs.parquet", "curves.parquet") if not (folder / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder} has no {' or '.join(missing)} "
                                "(experiments/studies/strategies.py writes them)")
    runs, curves = pd.read_parquet(folder / "runs.parquet"), pd.read_parquet(folder / "curves.parquet")
    compare.table(runs).to_parquet(folder / "table.parquet")
    compare.versus_all(runs).to_parquet(folder / "versus_all.parquet")
    # runs end at the budget, within one trial's cost
    compare.anytime(curves, curves["total"].max(), SHARES).to_parquet(folder / "anytime_curve.parquet")
    for tool, name in TOOLS.items():
        if (runs.strategy == tool).any():
            compare.against(runs, tool).to_parquet(folder / name)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m hpobench.experiments.studies.strategy_tables",
                                description=__doc__.split("\n")[0])
    p.add_argument("folders", nargs="+", help="strategies folders (each with runs.parquet and curves.parquet)")
    a = p.parse_args(argv)
    for f in a.folders:
        run(f)
        print(f"{f}: table.parquet, versus_all.parquet, anytime_curve.parquet")


if __name__ == "__main__":
    main()
