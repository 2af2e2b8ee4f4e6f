"""Importance per fidelity, agreement of rankings across fidelities, and the scoping decision.

Reads plain trial tables (`hpobench.trial_row` schema) plus their ConfigSpace;
never needs to know which optimizer or benchmark produced them. Imports from
`hpobench` (spaces, benchmarks), never the reverse.

    >>> import hpobench, pandas as pd
    >>> from hpobench.analysis import importance, shares
    >>> from hpobench.fidelity import Fidelity
    >>> b = hpobench.get("synthetic/agree")
    >>> cs = b.config_space
    >>> cfgs = cs.sample_configuration(120)
    >>> low, full = Fidelity.of({"epochs": 3, "data_fraction": 0.25}), Fidelity.of(b.full_fidelity)
    >>> rows = [hpobench.trial_row(b.name, dict(c), f, 0, b.evaluate(c, f), cs) for f in (low, full) for c in cfgs]
    >>> imps = importance.per_fidelity(pd.DataFrame(rows), cs, n_boot=20)  # Fidelity -> Importance
    >>> dec = shares.decide(imps[low], cs, imps[full])
    >>> dec.verdict in ("scope", "scope-conservative", "higher-fidelity-needed")
    True

Modules: data (tables -> arrays; a table's fidelities as `hpobench.fidelity.Fidelity`), scores
(the methods' point result), fanova (a package: surrogate, tree, decompose), ped_anova, ablation,
bootstrap, importance (per fidelity, with intervals), agreement, scope, plots, report (CLI).
"""

from hpobench.analysis.errors import AnalysisError

__all__ = ["AnalysisError"]
