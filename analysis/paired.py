"""Paired comparisons of two arms over the same instances (seeds): the sign test.

    >>> import numpy as np
    >>> from hpobench.analysis import paired
    >>> paired.sign_test(np.array([-0.2, -0.1, 0.0, 0.3]))
    {'below': 2, 'above': 1, 'ties': 1, 'sign_p': 1.0}
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def sign_test(d: np.ndarray, tol: float = 1e-9) -> dict:
    """Differences (arm a - arm b, one per instance): how many are below 0, above 0 and tied
    (within `tol`), and the two-sided sign test over the untied ones (1 when all tie)."""
    d = np.asarray(d, float)
    below, above = int((d < -tol).sum()), int((d > tol).sum())
    p = float(stats.binomtest(below, below + above, 0.5).pvalue) if below + above else 1.0
    return {"below": below, "above": above, "ties": len(d) - below - above, "sign_p": p}
