"""BOHB variants on held-out seeds 100-119 (the evidence uses 0-9); a one-off calibration, not kept.

    python results/bohb_peers/calibration/calib.py styblinski4            # every variant
    python results/bohb_peers/calibration/calib.py styblinski4 paper,sh   # some

Writes <function>__<variants>.csv beside this file (bohb_peers' raw-row format); styblinski4.csv
holds the rows of the run quoted in results/README.md.
"""
import functools
import sys
import time
from pathlib import Path

import pandas as pd

from hpobench import optimizers
from hpobench.experiments.studies import bohb_peers as bp
from hpobench.optimizers import bohb

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import variants  # noqa: E402


def make(problem, sh=False, last=False, **kw):
    if last:
        return variants.make_last(problem, sh=sh, **kw)
    h = bohb.make(problem, **kw)
    h.successive_halving = sh  # one successive-halving bracket, as Syne Tune's single ASHA bracket
    return h


VARIANTS = {
    "paper": {},
    "sh": dict(sh=True),
    "sh-q30": dict(sh=True, top_n=0.3),
    "sh-q30-r15": dict(sh=True, top_n=0.3, random_fraction=0.15),
    "q30-r15": dict(top_n=0.3, random_fraction=0.15),
    "sh-r15": dict(sh=True, random_fraction=0.15),
    "last": dict(last=True),
    "sh-last": dict(last=True, sh=True),
}
names = sys.argv[2].split(",") if len(sys.argv) > 2 else list(VARIANTS)
for v in names:
    optimizers.register(f"v-{v}", functools.partial(make, **VARIANTS[v]))
fn = sys.argv[1]
rows = []
for v in names:
    t = time.time()
    df = bp.run_function(fn, [f"v-{v}"], range(100, 120), 100)
    rows.append(df)
    f = df[df.fraction == 1.0].regret
    print(f"## {fn} {v}: median {f.median():.4g} mean {f.mean():.4g} ({time.time() - t:.0f}s)", flush=True)
pd.concat(rows).to_csv(HERE / f"{fn}__{'_'.join(names)}.csv", index=False)
