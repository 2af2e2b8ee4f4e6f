"""A fidelity as a value: its knobs (name -> value, in a fixed order), its cost and its label.

Hashable and equal by its knobs alone (as a dict is, whatever their order; the cost is what a
table recorded, not part of what the fidelity is), ordered cheapest first: by cost (an unknown
cost last), then by the knob values. It is a read-only mapping, so it goes wherever a fidelity
dict does (`Benchmark.evaluate`, `analysis.trials.at`, `dict(f)`). Its `label` is the text every
written table and the paper use as its name; `Fidelity.parse` reads a label back.

    >>> from hpobench.fidelity import Fidelity
    >>> f = Fidelity.of({"data_fraction": 0.1, "epochs": 8, "resolution": 16}, cost=0.2)
    >>> f.label, f.short
    ('data_fraction=0.1,epochs=8,resolution=16', '8 ep, 0.1 data, 16 px')
    >>> Fidelity.parse(f.label) == f, dict(f)["epochs"], f < Fidelity.of({"epochs": 1}, cost=1.0)
    (True, 8, True)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import total_ordering

from hpobench.spaces import plain

EMPTY = "all"  # the label of the fidelity with no knobs (a table without fidelity columns)
SHORT = (("epochs", "{} ep"), ("data_fraction", "{} data"), ("resolution", "{} px"))  # the paper's order


def text(v) -> str:
    """A knob value as a label writes it: floats with `%g` (0.1, 1, 1e-05), anything else with `str`."""
    return f"{v:g}" if isinstance(v, float) else str(v)


def value(s: str):
    """A knob value read back from its `text`: int, else float, else bool or None by name, else the text."""
    for kind in (int, float):
        try:
            return kind(s)
        except ValueError:
            pass
    return {"True": True, "False": False, "None": None}.get(s, s)


@total_ordering
@dataclass(frozen=True, eq=False)
class Fidelity(Mapping):
    """One fidelity: `pairs` ((knob, value), ... in their order) and the `cost` a table recorded
    for it (NaN: unknown). Build one with `Fidelity.of` or `Fidelity.parse`."""

    pairs: tuple[tuple[str, object], ...] = ()
    cost: float = math.nan
    _map: dict = field(init=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "_map", dict(self.pairs))
        if len(self._map) != len(self.pairs):
            raise ValueError(f"fidelity {self.pairs}: a knob is named twice")

    @classmethod
    def of(cls, fidelity: Fidelity | Mapping | str | None, cost: float | None = None) -> Fidelity:
        """A Fidelity from a Fidelity (kept, with `cost` if given), a mapping knob -> value (values made
        plain Python scalars), a label (`parse`) or None (no knobs)."""
        if isinstance(fidelity, Fidelity):
            return fidelity if cost is None else cls(fidelity.pairs, float(cost))
        if isinstance(fidelity, str):
            return cls.parse(fidelity, cost)
        if fidelity is not None and not isinstance(fidelity, Mapping):
            raise TypeError(f"a fidelity is a mapping knob -> value or a label, got {type(fidelity).__name__}")
        pairs = tuple((str(k), plain(v)) for k, v in (fidelity or {}).items())
        return cls(pairs, math.nan if cost is None else float(cost))

    @classmethod
    def parse(cls, label: str, cost: float | None = None) -> Fidelity:
        """The fidelity a `label` names ("data_fraction=0.1,epochs=8" or "all"), values typed by `value`."""
        if label == EMPTY:
            return cls((), math.nan if cost is None else float(cost))
        pairs = []
        for part in label.split(","):
            knob, eq, v = part.partition("=")
            if not eq or not knob:
                raise ValueError(f"fidelity label {label!r}: {part!r} is not knob=value")
            pairs.append((knob, value(v)))
        return cls(tuple(pairs), math.nan if cost is None else float(cost))

    @property
    def knobs(self) -> dict:
        """knob -> value, in order (a new dict)."""
        return dict(self._map)

    @property
    def label(self) -> str:
        """knob=value,... in order ("all" for no knobs): what written tables and the paper name it by."""
        return ",".join(f"{k}={text(v)}" for k, v in self.pairs) or EMPTY

    @property
    def short(self) -> str:
        """The label for prose: "8 ep, 0.1 data, 16 px" (epochs, data fraction, resolution first; other
        knobs as knob=value)."""
        named = dict(SHORT)
        return ", ".join([form.format(text(self[k])) for k, form in SHORT if k in self]
                         + [f"{k}={text(v)}" for k, v in self.pairs if k not in named])

    def text(self, knob: str) -> str:
        """The value of `knob` as the label writes it."""
        return text(self[knob])

    def __getitem__(self, knob: str):
        return self._map[knob]

    def __iter__(self):
        return iter(self._map)

    def __len__(self) -> int:
        return len(self._map)

    def __eq__(self, other) -> bool:
        if not isinstance(other, Mapping):
            return NotImplemented
        return self._map == dict(other.items())

    def __hash__(self) -> int:
        return hash(frozenset(self._map.items()))

    def __lt__(self, other: Fidelity) -> bool:
        if not isinstance(other, Fidelity):
            return NotImplemented
        return self._order() < other._order()

    def _order(self) -> tuple:
        # the order analysis.trials.fidelities has always sorted by: cost (unknown last), then the
        # values (None as NaN, which compares as the table's NaN did)
        cost = self.cost if math.isfinite(self.cost) else math.inf
        return cost, tuple(math.nan if v is None else v for _, v in self.pairs)

    def __str__(self) -> str:
        return self.label

    def __repr__(self) -> str:
        return f"Fidelity({self.label!r}" + (f", cost={self.cost!r})" if not math.isnan(self.cost) else ")")
