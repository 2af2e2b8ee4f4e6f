"""The paper's renderer: numbers and tables with their sources, and the template they fill.

Each number the text quotes is a `{{key}}` in the template; `numbers.json` maps every key to its
text, its value and the results file it was read from. A key the template asks for and no
section gave is an error naming it (a paper never ships a blank), or, in a draft (`partial`),
"n/a" with the notes on what was missing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from hpobench import spaces

KEY = re.compile(r"\{\{([^}]+)\}\}")


@dataclass
class Paper:
    """What the sections put: `results` is the folder they read, `out` the one the paper is written to."""

    results: Path
    out: Path
    numbers: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)

    def put(self, key: str, value, source: Path | str, fmt: str = "{:.2f}") -> None:
        """A number (formatted with `fmt`) or a text, quoted as {{key}}, read from `source`."""
        text = fmt.format(value) if isinstance(value, (int, float, np.floating, np.integer)) else str(value)
        self.numbers[key] = {"text": text, "value": spaces.plain(value), "source": str(source)}

    def table(self, name: str, df: pd.DataFrame) -> str:
        """A table, quoted as {{table:name}}, written as OUT/tables/name.md and .csv; returns its markdown."""
        md = df.to_markdown(index=False)
        (self.out / "tables").mkdir(parents=True, exist_ok=True)
        (self.out / "tables" / f"{name}.md").write_text(md + "\n")
        df.to_csv(self.out / "tables" / f"{name}.csv", index=False)
        self.numbers[f"table:{name}"] = {"text": md, "source": f"tables/{name}.csv"}
        return md

    def figure(self, name: str) -> Path:
        """Where a figure named `name` goes (its stem: plots.save adds .png and .pdf)."""
        return self.out / "figures" / name


def ci(est, lo, hi) -> str:
    """An estimate with its interval: 0.12 [0.05, 0.20]."""
    return f"{est:.2f} [{lo:.2f}, {hi:.2f}]"


def render(p: Paper, template: str | Path, partial: bool = False) -> None:
    """Fill `template` from `p.numbers` into OUT/paper.md, writing OUT/numbers.json.

    partial: "n/a" (its source: the notes) for a key no section gave, instead of a KeyError.
    """
    text = Path(template).read_text()
    missing = sorted({k for k in KEY.findall(text) if k not in p.numbers})
    if missing and partial:
        p.numbers.update({k: {"text": "n/a", "source": "missing: " + "; ".join(p.notes)} for k in missing})
    elif missing:
        raise KeyError(f"the template quotes {missing}, which the results in {p.results} do not give"
                       + (f" ({'; '.join(p.notes)})" if p.notes else ""))
    (p.out / "numbers.json").write_text(json.dumps(p.numbers, indent=1, default=str) + "\n")
    numbers = json.loads((p.out / "numbers.json").read_text())  # the text quotes what numbers.json holds
    (p.out / "paper.md").write_text(KEY.sub(lambda m: numbers[m.group(1)]["text"], text))
