"""Every figure, table and number of the paper, read from `results/` (deterministic).

    python -m paper                        # results/ -> paper/paper.md, figures/, tables/, numbers.json
    python -m paper --results R --out O    # the same for another results tree (the test's fixture)

Each section (`paper/sections/`) reads one harness's files and puts what the template quotes;
`render` fills the template. The paper computes nothing a harness did not: what needs a fit or
resamples is written under results/ by the harness named in each section. A section whose files
are missing is skipped with a note, so a partial tree builds a draft (`partial`).
"""

from __future__ import annotations

import functools
from pathlib import Path

from hpobench.paper.render import Paper, render
from hpobench.paper.sections import (
    agreement_study,
    cpu_study,
    estimators,
    live,
    strategies,
    surrogate_check,
    synthetic,
    throughput,
    tunability,
)

HERE = Path(__file__).parent
V2_GAINS = "strategies_live_b30/anchored_gains_v2_n"  # anchored_gains.py on study v2, by the scope's size
FASHION = "strategies_live_fashion_tool"  # strategies_live_fashion's runs with study v2's rule beside them


def _in(folder: str, names) -> tuple[str, ...]:
    return tuple(f"{folder}/{n}" for n in names)


# name -> (reader, the files it cannot do without), in the order they are read
PARTS = {"study": (cpu_study.read, cpu_study.NEEDS),
         "study_v2": (agreement_study.read, ("study_v2/summary.json",)),
         "strategies": (strategies.read, _in("strategies", strategies.TABLES)),
         "live": (live.read, _in("strategies_live", strategies.TABLES) + ("strategies_live/surrogate/table.parquet",)),
         "live_v2": (live.read_v2, _in("strategies_live_v2", strategies.TABLES)),
         "live_v3": (live.read_v3, _in("strategies_live_v3", (*strategies.TABLES, "versus_tool.parquet"))),
         "live_fashion": (functools.partial(live.read_v3, folder=FASHION, tag="livef", name="live_fashion"),
                          _in(FASHION, (*strategies.TABLES, "versus_tool.parquet"))),
         "live_v3_bohb": (functools.partial(live.read_confirm, folder="strategies_live_v3_bohb_paper", tag="live3b",
                                            name="live_v3_bohb"),
                          ("strategies_live_v3_bohb_paper/versus_confirm.parquet",)),
         "live_v3_bohb_today": (functools.partial(live.read_confirm, folder="strategies_live_v3_bohb", tag="live3t",
                                                  name="live_v3_bohb_today"),
                                ("strategies_live_v3_bohb/versus_confirm.parquet",)),
         "live_b30": (functools.partial(live.read_v3, folder="strategies_live_b30", tag="live30", name="live_b30"),
                      _in("strategies_live_b30", (*strategies.TABLES, "versus_confirm.parquet"))),
         "live_b30_sized": (functools.partial(live.read_v3, folder="strategies_live_b30_sized", tag="live30s",
                                              name="live_b30_sized"),
                            _in("strategies_live_b30_sized", (*strategies.TABLES, "versus_sized.parquet"))),
         "anchored_gains": (live.read_gains, ("strategies_live_b30/anchored_gains_agreement.csv",)),
         **{f"anchored_gains_v2_n{n}": (functools.partial(live.read_gains, folder=f"{V2_GAINS}{n}",
                                                          tag=f"gains_v2_n{n}"),
                                        (f"{V2_GAINS}{n}/anchored_gains_agreement.csv",))
            for n in (40, 100, 200)},
         "tunability": (tunability.read, tunability.NEEDS),
         "surrogate_v2": (surrogate_check.read, ("surrogate_v2/summary.json",)),
         "throughput": (throughput.read, ("throughput/jax_vs_torch.jsonl",)),
         "throughput_cpus": (throughput.read_cpus, throughput.CPU_FILES),
         "synthetic": (synthetic.read, ("analysis_synthetic/coverage.json", "optimizers_synthetic/summary.csv")),
         "estimators": (estimators.read, ("importance_battery/summary.json", "bohb_peers/goal.json"))}


def build(results: str | Path = "results", out: str | Path = HERE, template: str | Path = HERE / "template.md",
          partial: bool = False) -> Paper:
    """Read every part whose results exist and render the template.

    partial: quote "n/a" for numbers of missing parts (a draft) instead of failing.
    """
    p = Paper(Path(results), Path(out))
    if not p.results.is_dir():
        raise FileNotFoundError(f"no results folder {p.results} (give --results DIR)")
    for d in ("figures", "tables"):
        (p.out / d).mkdir(parents=True, exist_ok=True)
    for name, (read, needs) in PARTS.items():
        missing = [f for f in needs if not (p.results / f).exists()]
        if missing:
            p.notes.append(f"{name}: skipped, {p.results / missing[0]} not found")
        else:
            read(p)
    render(p, template, partial)
    return p
