"""Random configurations of a benchmark, evaluated at several fidelities, as a trial table.

The input every analysis takes: the default configuration plus `n - 1` uniform
samples of the space, each evaluated at every fidelity in `fidelities` (a probe
fidelity can take only the first `probe` of them, the default included).

    >>> import hpobench
    >>> from hpobench.analysis import sample
    >>> b = hpobench.get("synthetic/agree")
    >>> df = sample.table(b, 20, [{"epochs": 1, "data_fraction": 0.05}, b.full_fidelity], probe={1: 5})
    >>> len(df)
    25
"""

from __future__ import annotations

import pandas as pd

from hpobench import spaces, trial_row


def table(bench, n: int, fidelities: list[dict], seed: int = 0, probe: dict[int, int] | None = None,
          eval_seed: int = 0) -> pd.DataFrame:
    """Trial rows of `n` configurations (default first) at each fidelity.

    probe: fidelity index -> number of configurations evaluated there (the first ones).
    """
    space = bench.config_space
    configs = spaces.sample(space, n - 1, seed)
    rows = []
    for i, fid in enumerate(fidelities):
        m = (probe or {}).get(i, n)
        fid = bench.fidelity(fid)
        for c in configs[:m]:
            rows.append(trial_row(bench.name, c, fid, eval_seed, bench.evaluate(c, fid, eval_seed), space))
    return pd.DataFrame(rows)
