"""Multi-fidelity test functions with a known optimum and biased, noisy cheap fidelities.

Each function f(x, z) is minimised over a box; z in [0, 1] is the fidelity level and
f(x, 1) is a textbook function whose global minimum f* is known. The fidelity knob
`budget` runs from 1 to `b_max`; z = log(budget) / log(b_max) and a trial costs `budget`
(so the cheapest trial costs 1 / b_max of a full one). Observations add Gaussian noise of
sd sigma(z) = sigma_cheap (1 - z) + sigma_full z, seeded by (configuration, budget, seed),
so the same trial always observes the same value. The bias constants follow BOCA
(Kandasamy et al., ICML 2017, appendix) and mf-prior-bench's "bad correlation" Hartmann
variants (Mallik et al. 2023), where the cheap optimum sits in another basin:

- `branin` (2-d, x1 in [-5, 10], x2 in [0, 15], b_max 27, no noise). BOCA's fidelity Branin:
  a (x2 - b(z) x1^2 + c(z) x1 - r)^2 + s (1 - t(z)) cos x1 + s with b(z) = 5.1/(4 pi^2)
  - 0.01 (1 - z), c(z) = 5/pi - 0.1 (1 - z), t(z) = 1/(8 pi) + 0.05 (1 - z), a = 1, r = 6,
  s = 10. f* = 0.397887 at (-pi, 12.275), (pi, 2.275), (9.42478, 2.475).
- `hartmann3` (3-d, [0, 1]^3, b_max 27, sigma 0.2 / 0.02). Hartmann-3,
  -sum_i alpha_i(z) exp(-sum_j A_ij (x_j - P_ij)^2) with alpha(z) = alpha + 0.5 (1 - z)
  (0, 0, 1, -1): at the cheapest fidelity the third term's basin near (0.11, 0.87, 0.55)
  is deepest, so the cheap optimum is the wrong one (misleading). f* = -3.86278 at
  (0.114614, 0.555649, 0.852547).
- `hartmann6` (6-d, [0, 1]^6, b_max 27, sigma 0.2 / 0.02). Hartmann-6 with BOCA's bias
  alpha(z) = alpha - 0.1 (1 - z) on every term, and noise. f* = -3.32237 at
  (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573).
- `styblinski4` (4-d, [-5, 5]^4, b_max 3: two fidelities, cost 1 vs 3, sigma 4 / 0.4).
  Styblinski-Tang, 1/2 sum_j (x_j^4 - 16 x_j^2 + 5 x_j), minus a tilt 4 (1 - z) (x_1 + x_2)
  that makes the positive basin of the first two coordinates the deeper one at the cheap
  fidelity (misleading there; the other two agree). f* = -39.16616570377142 x 4 at
  x_j = -2.903534.
- `forrester4` (4-d, [0, 1]^4, b_max 27, sigma 0.5 / 0.05). A sum over the coordinates of
  Forrester's one-dimensional function f_H(x) = (6x - 2)^2 sin(12x - 4) and its published cheap
  fidelity f_L(x) = 0.5 f_H(x) + 10 (x - 0.5) - 5 (Forrester, Sobester & Keane, "Engineering
  Design via Surrogate Modelling", Wiley 2008, sec. 8.5; the lowest of the Forrester fidelities
  in Mainini et al., "Analytical benchmark problems for multifidelity optimization methods",
  arXiv:2204.07867, 2022), blended linearly in the fidelity: f(x, z) = sum_j z f_H(x_j) +
  (1 - z) f_L(x_j). f_H has two basins per coordinate, the global one at 0.757 and a local one
  at 0.143 (5.03 worse); f_L's optimum, 0.092, lies in the local one, so for every coordinate the
  cheap optimum is in the wrong basin (up to z = 0.45: budgets 1 and 3 mislead, 9 and 27 do not).
  f* = -6.020740055767081 x 4 at x_j = 0.7572487561660257.
 value at full fidelity, `MFFunction.value(x)`, is what regret is measured on;
`optimum` holds f* and one minimiser (tests check both against a local optimiser and a
random sample).

    >>> import hpobench
    >>> b = hpobench.get("mf/branin")
    >>> sorted(b.fidelity_space), b.cost({"budget": 3}), b.full_fidelity
    (['budget'], 3.0, {'budget': 27})
    >>> round(b.truth.value([np.pi, 2.275]), 6)
    0.397887
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from ConfigSpace import ConfigurationSpace, Float, Integer

from hpobench.benchmarks.base import Benchmark, Metric

METRIC = Metric("y", "minimize")


@dataclass(frozen=True, eq=False)
class MFFunction:
    """f(x, z) on a box, its known optimum and its observation noise (module docstring)."""

    name: str
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    f: Callable[[np.ndarray, float], np.ndarray]  # (n, d) points, level z -> (n,) values
    f_star: float
    x_star: tuple[float, ...]
    b_max: int
    sigma_cheap: float = 0.0
    sigma_full: float = 0.0

    @property
    def dims(self) -> int:
        return len(self.lower)

    def level(self, budget: float) -> float:
        return float(np.log(budget) / np.log(self.b_max))

    def sigma(self, z: float) -> float:
        return self.sigma_cheap * (1 - z) + self.sigma_full * z

    def value(self, x, z: float = 1.0) -> float:
        """Noise-free f(x, z) (full fidelity by default)."""
        return float(self.f(np.atleast_2d(np.asarray(x, float)), z)[0])

    def point(self, config: dict) -> np.ndarray:
        return np.array([config[f"x{j}"] for j in range(self.dims)], float)

    def space(self) -> ConfigurationSpace:
        mid = [(lo + hi) / 2 for lo, hi in zip(self.lower, self.upper)]
        return ConfigurationSpace({f"x{j}": Float(f"x{j}", (lo, hi), default=m)
                                   for j, (lo, hi, m) in enumerate(zip(self.lower, self.upper, mid))})

    def benchmark(self) -> Benchmark:
        def fn(config: dict, fidelity: dict, seed: int) -> float:
            z = self.level(fidelity["budget"])
            key = json.dumps(config, sort_keys=True)
            rng = np.random.default_rng([zlib.crc32(key.encode()), int(fidelity["budget"]), int(seed)])
            return self.value(self.point(config), z) + self.sigma(z) * float(rng.standard_normal())

        fid = ConfigurationSpace({"budget": Integer("budget", (1, self.b_max), default=self.b_max)})
        return Benchmark(f"mf/{self.name}", self.space(), fid, fn, cost_fn=lambda f: float(f["budget"]),
                         description=f"{self.name}: multi-fidelity test function with known optimum "
                                     f"{self.f_star:.6g} (hpobench.benchmarks.mf_functions)",
                         truth=self, metric=METRIC)


def _branin(x: np.ndarray, z: float) -> np.ndarray:
    b = 5.1 / (4 * np.pi**2) - 0.01 * (1 - z)
    c = 5 / np.pi - 0.1 * (1 - z)
    t = 1 / (8 * np.pi) + 0.05 * (1 - z)
    x1, x2 = x[:, 0], x[:, 1]
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * np.cos(x1) + 10


H3_A = np.array([[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]])
H3_P = 1e-4 * np.array([[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547], [381, 5743, 8828]])
H6_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
                 [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
H6_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                        [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])
H_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def _hartmann(a: np.ndarray, p: np.ndarray, alpha: np.ndarray, x: np.ndarray) -> np.ndarray:
    r = (a[None] * (x[:, None, :] - p[None]) ** 2).sum(2)  # (n, 4)
    return -(alpha[None] * np.exp(-r)).sum(1)


def _hartmann3(x: np.ndarray, z: float) -> np.ndarray:
    return _hartmann(H3_A, H3_P, H_ALPHA + 0.5 * (1 - z) * np.array([0, 0, 1, -1]), x)


def _hartmann6(x: np.ndarray, z: float) -> np.ndarray:
    return _hartmann(H6_A, H6_P, H_ALPHA - 0.1 * (1 - z), x)


ST_MIN = -39.16616570377142  # per coordinate, at -2.903534
FO_MIN, FO_X = -6.020740055767081, 0.7572487561660257  # Forrester's f_H: minimum and its minimiser


def _styblinski4(x: np.ndarray, z: float) -> np.ndarray:
    return 0.5 * (x**4 - 16 * x**2 + 5 * x).sum(1) - 4 * (1 - z) * (x[:, 0] + x[:, 1])


def _forrester4(x: np.ndarray, z: float) -> np.ndarray:
    high = (6 * x - 2) ** 2 * np.sin(12 * x - 4)
    low = 0.5 * high + 10 * (x - 0.5) - 5
    return (z * high + (1 - z) * low).sum(1)


FUNCTIONS = {f.name: f for f in (
    MFFunction("branin", (-5.0, 0.0), (10.0, 15.0), _branin, 0.39788735772973816, (np.pi, 2.275), 27),
    MFFunction("hartmann3", (0.0,) * 3, (1.0,) * 3, _hartmann3, -3.8627797869493365,
               (0.114614, 0.555649, 0.852547), 27, 0.2, 0.02),
    MFFunction("hartmann6", (0.0,) * 6, (1.0,) * 6, _hartmann6, -3.3223680114155147,
               (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573), 27, 0.2, 0.02),
    MFFunction("styblinski4", (-5.0,) * 4, (5.0,) * 4, _styblinski4, 4 * ST_MIN, (-2.903534,) * 4, 3, 4.0, 0.4),
    MFFunction("forrester4", (0.0,) * 4, (1.0,) * 4, _forrester4, 4 * FO_MIN, (FO_X,) * 4, 27, 0.5, 0.05),
)}


def make(name: str) -> Benchmark:
    if name not in FUNCTIONS:
        raise ValueError(f"unknown multi-fidelity function {name!r}; known: {', '.join(FUNCTIONS)}")
    return FUNCTIONS[name].benchmark()
