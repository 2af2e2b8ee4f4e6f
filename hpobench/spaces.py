"""The ResNet search space (conditional, 25 hyperparameters), fidelity spaces, scoped spaces.

The default configuration is what a team uses untuned: ResNet-20 (width 16),
SGD with Nesterov momentum 0.9, lr 0.1 with cosine decay and no warmup, weight
decay 5e-4, batch 128, flips and 4-px crops, no label smoothing, dropout or clipping.

    >>> from hpobench import spaces
    >>> cs = spaces.resnet()
    >>> len(cs), cs.get_default_configuration()["optimizer"]
    (25, 'sgd')
    >>> spaces.from_json(spaces.to_json(cs)) == cs
    True

Scoping: `fix(space, values)` turns hyperparameters into constants (dropping the
children a fixed parent switches off); `check_subspace(sub, full)` says clearly
why a hand-made scoped space is not a sub-space of the full one.

    >>> scoped = spaces.fix(cs, ["optimizer", "width"])  # fixed at their defaults
    >>> spaces.check_subspace(scoped, cs)
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ConfigSpace import (
    AndConjunction,
    Categorical,
    Configuration,
    ConfigurationSpace,
    Constant,
    EqualsCondition,
    Float,
    InCondition,
    Integer,
    OrConjunction,
    OrdinalHyperparameter,
)
from ConfigSpace.hyperparameters import CategoricalHyperparameter, FloatHyperparameter, IntegerHyperparameter

DEPTHS = (8, 14, 20)  # 6n + 2, n blocks per stage
WIDTHS = (8, 16, 32)
BATCH_SIZES = (32, 64, 128, 256)


def resnet(seed: int | None = None) -> ConfigurationSpace:
    cs = ConfigurationSpace(seed=seed)
    optimizer = Categorical("optimizer", ["sgd", "adamw"], default="sgd")
    momentum = Float("sgd_momentum", (0.0, 0.99), default=0.9)
    nesterov = Categorical("sgd_nesterov", [True, False], default=True)
    beta1 = Float("adamw_beta1", (0.8, 0.99), default=0.9)
    beta2 = Float("adamw_beta2", (0.9, 0.9999), default=0.999)
    eps = Float("adamw_eps", (1e-10, 1e-6), default=1e-8, log=True)
    schedule = Categorical("schedule", ["cosine", "step", "constant"], default="cosine")
    step_gamma = Float("step_gamma", (0.05, 0.5), default=0.1, log=True)
    step_drops = Integer("step_drops", (1, 3), default=2)
    aug_crop = Categorical("aug_crop", [True, False], default=True)
    crop_pad = Integer("crop_padding", (1, 6), default=4)
    aug_cutout = Categorical("aug_cutout", [True, False], default=False)
    cutout = Float("cutout_frac", (0.1, 0.6), default=0.25)
    clip = Categorical("grad_clip", [True, False], default=False)
    clip_norm = Float("clip_norm", (0.1, 10.0), default=1.0, log=True)
    cs.add([
        optimizer, momentum, nesterov, beta1, beta2, eps,
        Float("learning_rate", (1e-4, 1.0), default=0.1, log=True),
        schedule, step_gamma, step_drops,
        Float("warmup_frac", (0.0, 0.2), default=0.0),
        Float("weight_decay", (1e-6, 1e-2), default=5e-4, log=True),
        OrdinalHyperparameter("batch_size", BATCH_SIZES, default_value=128),
        Float("label_smoothing", (0.0, 0.3), default=0.0),
        Float("dropout", (0.0, 0.5), default=0.0),
        OrdinalHyperparameter("width", WIDTHS, default_value=16),
        OrdinalHyperparameter("depth", DEPTHS, default_value=20),
        Categorical("aug_flip", [True, False], default=True),
        aug_crop, crop_pad, aug_cutout, cutout,
        Float("bn_momentum", (0.8, 0.999), default=0.9),
        clip, clip_norm,
        EqualsCondition(momentum, optimizer, "sgd"),
        EqualsCondition(nesterov, optimizer, "sgd"),
        EqualsCondition(beta1, optimizer, "adamw"),
        EqualsCondition(beta2, optimizer, "adamw"),
        EqualsCondition(eps, optimizer, "adamw"),
        EqualsCondition(step_gamma, schedule, "step"),
        EqualsCondition(step_drops, schedule, "step"),
        EqualsCondition(crop_pad, aug_crop, True),
        EqualsCondition(cutout, aug_cutout, True),
        EqualsCondition(clip_norm, clip, True),
    ])
    return cs


def fidelity(max_epochs: int, resolutions: tuple[int, ...], min_fraction: float = 0.01,
             max_fraction: float = 1.0) -> ConfigurationSpace:
    """Fidelity knobs; each default is the full-fidelity value."""
    return ConfigurationSpace({
        "epochs": Integer("epochs", (1, max_epochs), default=max_epochs),
        "data_fraction": Float("data_fraction", (min_fraction, max_fraction), default=max_fraction),
        "resolution": OrdinalHyperparameter("resolution", resolutions, default_value=resolutions[-1]),
    })


def to_json(cs: ConfigurationSpace) -> str:
    """ConfigSpace's own JSON serialisation."""
    from ConfigSpace.read_and_write import json as cs_json
    return cs_json.write(cs)


def from_json(text: str) -> ConfigurationSpace:
    from ConfigSpace.read_and_write import json as cs_json
    return cs_json.read(text)


def load(path: str | Path) -> ConfigurationSpace:
    """Read a ConfigSpace JSON file, with an error naming the file when it is broken."""
    path = Path(path)
    try:
        return from_json(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"space file not found: {path}") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path}: not a valid ConfigSpace JSON file ({type(e).__name__}: {e})") from None


# --- Scoped (reduced) spaces -------------------------------------------------------------------
#
# A scoped space fixes some hyperparameters to constants. Conditions must stay valid: a child
# that a fixed parent switches off is removed; a condition that the fixed values always satisfy
# is dropped; a tuned child of a tuned parent keeps its condition unchanged.


class SpaceError(ValueError):
    """A scoped space that cannot be built, or that is not a sub-space of the full space."""


def fix(space: ConfigurationSpace, values) -> ConfigurationSpace:
    """A reduced copy of `space` in which the hyperparameters in `values` are constants.

    `values` maps names to values, or is a list of names fixed at their defaults.

        >>> cs = fix(resnet(), {"optimizer": "sgd", "schedule": "cosine"})
        >>> "adamw_beta1" in cs, "step_gamma" in cs, cs["optimizer"].value, len(cs)
        (False, False, 'sgd', 20)
    """
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, Mapping):
        values = list(values)
        unknown = sorted(set(values) - set(space))
        if unknown:
            raise SpaceError(f"fix: unknown hyperparameter(s) {unknown}; known: {sorted(space)}")
        values = {k: space[k].default_value for k in values}
    unknown = sorted(set(values) - set(space))
    if unknown:
        raise SpaceError(f"fix: unknown hyperparameter(s) {unknown}; known: {sorted(space)}")
    fixed = {}
    for k, v in values.items():
        v = v.item() if hasattr(v, "item") else v
        if not space[k].legal_value(v):
            raise SpaceError(f"fix: {v!r} is not a legal value of {describe(space[k])}")
        fixed[k] = v
    scope = _scope(space, fixed)
    dead = sorted(set(fixed) & scope.removed)
    if dead:
        raise SpaceError(f"fix: cannot fix {dead}: inactive under the other fixed values "
                         f"{ {k: v for k, v in fixed.items() if k not in dead} }")
    bad = [f for f in space.forbidden_clauses if not _names_in_forbidden(f) <= scope.tuned]
    if bad:
        raise SpaceError(f"fix: forbidden clauses over fixed or removed hyperparameters are not "
                         f"supported: {bad}")
    out = ConfigurationSpace(name=space.name, meta=space.meta)
    out.add(list(scope.hps.values()))
    out.add([c for c in scope.conditions.values()])
    out.add([_forbidden_copy(f, scope.hps) for f in space.forbidden_clauses])
    return out


def narrow(space: ConfigurationSpace, fixed: Mapping, ranges: Mapping, defaults: Mapping) -> ConfigurationSpace:
    """`fix(space, fixed)` with the tuned hyperparameters narrowed and their defaults moved.

    ranges: name -> (low, high) for a numeric hp, or a list of levels for a categorical one (an
    ordinal one keeps the span of levels between the first and last listed);
    a parent of other hyperparameters keeps its range (a narrowed parent could switch a child
    off). defaults: name -> the default of a tuned hp (clipped into its range; a level outside
    the kept ones falls back to the first kept). The result is a sub-space of `space`.

        >>> cs = narrow(resnet(), {"optimizer": "sgd"}, {"learning_rate": (0.01, 0.2)}, {"learning_rate": 0.05})
        >>> cs["learning_rate"].lower, cs["learning_rate"].upper, cs["learning_rate"].default_value
        (0.01, 0.2, 0.05)
    """
    unknown = sorted((set(ranges) | set(defaults)) - set(space))
    if unknown:
        raise SpaceError(f"narrow: unknown hyperparameter(s) {unknown}; known: {sorted(space)}")
    parents = {p.name for n in space for p in space.parents_of[n]}
    replace = {}
    for name in space:
        if name in fixed or isinstance(space[name], Constant):
            continue
        hp = space[name]
        rng = ranges.get(name) if name not in parents else None
        default = defaults.get(name, hp.default_value)
        if hasattr(hp, "choices"):
            levels = [c for c in hp.choices if rng is None or c in rng] or list(hp.choices)
            default = default if default in levels else levels[0]
            replace[name] = Categorical(name, levels, default=default)
            continue
        if hasattr(hp, "sequence"):  # ordered levels: the span between the first and last kept
            seq = list(hp.sequence)
            at = [i for i, c in enumerate(seq) if rng is None or c in rng] or list(range(len(seq)))
            seq = seq[min(at): max(at) + 1]
            replace[name] = OrdinalHyperparameter(name, seq, default_value=default if default in seq else seq[0])
            continue
        lo, hi = (hp.lower, hp.upper) if rng is None else (max(hp.lower, rng[0]), min(hp.upper, rng[1]))
        if isinstance(hp, IntegerHyperparameter):
            lo, hi = int(np.ceil(lo)), int(np.floor(hi))
        if not lo < hi:
            lo, hi = hp.lower, hp.upper
        default = type(hp.lower)(min(max(default, lo), hi))
        kind = Integer if isinstance(hp, IntegerHyperparameter) else Float
        replace[name] = kind(name, (lo, hi), default=default, log=hp.log)
    fixed = {k: (v.item() if hasattr(v, "item") else v) for k, v in fixed.items()}
    scope = _scope(space, fixed, replace)
    out = ConfigurationSpace(name=space.name, meta=space.meta)
    out.add(list(scope.hps.values()))
    out.add(list(scope.conditions.values()))
    check_subspace(out, space)
    return out


def reduce(space: ConfigurationSpace, keep, values: dict | None = None):
    """The space with `keep` and their ancestors tunable and every other hyperparameter fixed
    (at `values`, else its default); children a fixed parent switches off are removed.

    Returns (reduced space, fixed values, removed names, kept names).

        >>> cs, fixed, removed, kept = reduce(resnet(), {"sgd_momentum"})
        >>> sorted(kept), removed
        (['optimizer', 'sgd_momentum'], ['clip_norm', 'cutout_frac', 'step_drops', 'step_gamma'])
    """
    unknown = sorted(set(keep) - set(space))
    if unknown:
        raise SpaceError(f"cannot keep unknown hyperparameter(s) {unknown}")
    kept = set(keep)
    for n in list(kept):  # fixing an ancestor could switch a kept hp off
        kept |= ancestors(space, n)
    values = values or {}
    fixed, removed = {}, []
    for n in space:  # parents first
        if n in kept:
            continue
        if not _can_be_active(space, n, fixed, removed):
            removed.append(n)
            continue
        v = values.get(n, space[n].default_value)
        fixed[n] = v.item() if hasattr(v, "item") else v
    reduced = fix(space, fixed) if fixed else space
    check_subspace(reduced, space)
    return reduced, fixed, removed, kept


def ancestors(space: ConfigurationSpace, name: str) -> set[str]:
    """Every hyperparameter `name` is conditional on, directly or through others."""
    out = set()
    for p in space.parents_of[name]:
        out |= {p.name} | ancestors(space, p.name)
    return out


def _can_be_active(space: ConfigurationSpace, name: str, fixed: dict, removed: list) -> bool:
    """False if a condition of `name` fails whatever the tuned values, given the fixed
    (and removed, i.e. never active) parents."""
    for cond in space.parent_conditions_of[name]:
        parts = getattr(cond, "components", (cond,))
        is_or = type(cond).__name__ == "OrConjunction"
        results = []
        for c in parts:
            p = c.parent.name
            if p in removed:
                results.append(False)
            else:
                results.append(True if p not in fixed else bool(c.satisfied_by_value({p: fixed[p]})))
        if (not any(results)) if is_or else (not all(results)):
            return False
    return True


def check_subspace(sub: ConfigurationSpace, full: ConfigurationSpace, name: str = "full space") -> None:
    """Raise `SpaceError` listing every reason why `sub` is not a sub-space of `full`.

    A sub-space has the hyperparameters of `full`, each either a constant with a legal value or
    a narrower (or equal) range; hyperparameters it omits must be ones that its constants switch
    off; its conditions must be those of `full` reduced by its constants (see `fix`).

        >>> check_subspace(fix(resnet(), {"optimizer": "adamw"}), resnet())
    """
    problems = []
    for k in sorted(set(sub) - set(full)):
        problems.append(f"{k}: not a hyperparameter of the {name}")
    fixed = {}
    for k in [k for k in sub if k in full]:
        s, f = sub[k], full[k]
        if isinstance(s, Constant):
            if not isinstance(f, Constant):
                fixed[k] = s.value
            if not f.legal_value(s.value):
                problems.append(f"{k}: constant {s.value!r} is not a legal value of {describe(f)}")
        elif (msg := _narrower(s, f)) is not None:
            problems.append(f"{k}: {msg}")
    scope = _scope(full, fixed)
    for k in full:
        if k not in sub and k not in scope.removed:
            problems.append(f"{k}: missing, but it can be active; fix it to a constant instead of dropping it")
        elif k in sub and k in scope.removed:
            problems.append(f"{k}: always inactive under the constants {fixed}; remove it")
    for k in [k for k in sub if k in full and k not in scope.removed]:
        want = sorted(_parents(scope.conditions.get(k)) - set(scope.always_fixed))
        got = sorted(p.name for p in sub.parents_of[k] if p.name not in scope.always_fixed)
        if want != got:
            problems.append(f"{k}: conditioned on {got or 'nothing'} but the {name} (given the "
                            f"constants) conditions it on {want or 'nothing'}")
    if not problems:  # same structure: configurations of `sub` must be valid ones of `full`
        probe = copy.deepcopy(sub)
        probe.seed(0)
        for cfg in [sub.get_default_configuration(), *probe.sample_configuration(200)]:
            try:
                Configuration(full, values=dict(cfg))
            except Exception as e:  # ConfigSpace raises several types; report the first
                problems.append(f"configuration {dict(cfg)} is not valid in the {name}: {e}")
                break
    if problems:
        raise SpaceError(f"not a sub-space of the {name}:\n  - " + "\n  - ".join(problems))


@dataclass
class _Scope:
    hps: dict  # name -> hyperparameter of the reduced space (constants for fixed ones)
    conditions: dict  # child -> condition of the reduced space
    removed: set  # always inactive under the fixed values
    tuned: set  # kept and not fixed
    always_fixed: set  # fixed and always active (conditions on them are resolved)


def _scope(space: ConfigurationSpace, fixed: Mapping, replace: Mapping | None = None) -> _Scope:
    # ConfigSpace stores vector indices inside hyperparameter and condition objects when they
    # are added to a space: work on copies so that the caller's space is never modified.
    space = copy.deepcopy(space)
    replace = replace or {}
    hps, conds, removed, always_fixed = {}, {}, set(), set()
    for name in space:  # parents before children
        hp = space[name]
        new_hp = Constant(name, fixed[name]) if name in fixed else replace.get(name, hp)
        parts = [_reduce(c, fixed, removed, always_fixed, hps, new_hp) for c in space.parent_conditions_of[name]]
        if any(p is False for p in parts):
            removed.add(name)
            continue
        hps[name] = new_hp
        parts = [p for p in parts if p is not True]
        if parts:
            conds[name] = parts[0] if len(parts) == 1 else AndConjunction(*parts)
        elif name in fixed:
            always_fixed.add(name)
    tuned = set(hps) - set(fixed)
    return _Scope(hps, conds, removed, tuned, always_fixed)


def _reduce(cond, fixed, removed, always_fixed, hps, child):
    """Partially evaluate `cond` under `fixed`: True, False, or a condition on the reduced space."""
    if isinstance(cond, (AndConjunction, OrConjunction)):
        is_and = isinstance(cond, AndConjunction)
        parts = [_reduce(c, fixed, removed, always_fixed, hps, child) for c in cond.components]
        if any(p is (not is_and) for p in parts):
            return not is_and
        parts = [p for p in parts if p is not is_and]
        if not parts:
            return is_and
        return parts[0] if len(parts) == 1 else type(cond)(*parts)
    parent = cond.parent.name
    if parent in removed:
        return False  # an inactive parent satisfies no condition
    if parent in fixed:
        if not cond.satisfied_by_value({parent: fixed[parent]}):
            return False
        if parent in always_fixed:
            return True
        # a fixed but conditional parent: the child is active exactly when the parent is
        return EqualsCondition(child, hps[parent], fixed[parent])
    p = hps.get(parent, cond.parent)  # the reduced space's own parent (a narrowed copy, say)
    if child is cond.child and p is cond.parent:
        return cond
    if isinstance(cond, InCondition):
        return InCondition(child, p, list(cond.values))
    return type(cond)(child, p, cond.value)


def _parents(cond) -> set[str]:
    if cond is None:
        return set()
    if isinstance(cond, (AndConjunction, OrConjunction)):
        return set().union(*(_parents(c) for c in cond.components))
    return {cond.parent.name}


def _forbidden_copy(clause, hps: dict):
    """A forbidden clause rebuilt on the reduced space's hyperparameters (see `_scope`)."""
    if hasattr(clause, "components"):
        return type(clause)(*(_forbidden_copy(c, hps) for c in clause.components))
    if hasattr(clause, "hyperparameter"):
        value = clause.values if hasattr(clause, "values") else clause.value
        return type(clause)(hps[clause.hyperparameter.name], value)
    return type(clause)(hps[clause.left.name], hps[clause.right.name])


def _names_in_forbidden(clause) -> set[str]:
    if hasattr(clause, "components"):
        return set().union(*(_names_in_forbidden(c) for c in clause.components))
    if hasattr(clause, "hyperparameter"):
        return {clause.hyperparameter.name}
    return {clause.left.name, clause.right.name}


def describe(hp) -> str:
    if isinstance(hp, Constant):
        return f"{hp.name} (constant {hp.value!r})"
    if hasattr(hp, "choices"):
        return f"{hp.name} (choices {list(hp.choices)})"
    if hasattr(hp, "sequence"):
        return f"{hp.name} (values {list(hp.sequence)})"
    return f"{hp.name} (range [{hp.lower}, {hp.upper}])"


def _narrower(s, f) -> str | None:
    """Why the tuned `s` is not a narrowing of `f`, or None if it is."""
    if type(s) is not type(f):
        return f"{type(s).__name__} here but {type(f).__name__} in the full space"
    if hasattr(f, "choices"):
        extra = [c for c in s.choices if c not in f.choices]
        return f"choices {extra} are not in {describe(f)}" if extra else None
    if hasattr(f, "sequence"):
        extra = [c for c in s.sequence if c not in f.sequence]
        return f"values {extra} are not in {describe(f)}" if extra else None
    if s.lower < f.lower or s.upper > f.upper:
        return f"range [{s.lower}, {s.upper}] is not inside {describe(f)}"
    return None


STATIC = ("depth", "width", "batch_size")  # the ResNet's static part: what a compiled program is built for


def sample(space: ConfigurationSpace, n: int, seed: int, default: bool = True, grouped: int = 0,
           static: tuple[str, ...] = STATIC) -> list[dict]:
    """The default configuration (if asked), then `n` seeded uniform draws, as plain dicts.

    grouped: K >= 2 draws them in groups of K (the last one smaller when K does not divide n) that
    share the `static` hyperparameters (those in the space): each group's values come from one
    uniform draw, its members' other hyperparameters from their own. Every configuration is still
    uniform on its own; configurations of a group train together in one program (for the ResNet
    space, `Benchmark.evaluate_many`), and the analysis resamples groups, not configurations
    (`clusters`, `hpobench.analysis.bootstrap.resamples`). The static hyperparameters must be
    unconditional and condition no other. Works on a copy: the caller's space keeps its own
    random state.
    """
    if grouped < 0 or grouped == 1:
        raise ValueError(f"grouped must be 0 (off) or a group size >= 2, got {grouped}")
    space = copy.deepcopy(space)
    space.seed(seed)
    out = [space.get_default_configuration()] if default else []
    if n and not grouped:
        draws = space.sample_configuration(n)
        out += draws if isinstance(draws, list) else [draws]
    out = [{k: (v.item() if hasattr(v, "item") else v) for k, v in dict(c).items()} for c in out]
    if n and grouped:
        shared = [k for k in static if k in space]
        tied = [k for k in shared if space.parent_conditions_of[k] or space.child_conditions_of[k]]
        if not shared:
            raise ValueError(f"grouped sampling shares {list(static)} within a group, but the space has none of them")
        if tied:
            raise ValueError(f"grouped sampling needs unconditional static hyperparameters that condition no "
                             f"other; {tied} are conditional or parents")
        for size in [grouped] * (n // grouped) + ([n % grouped] if n % grouped else []):
            head = dict(space.sample_configuration())
            members = space.sample_configuration(size)
            for c in members if isinstance(members, list) else [members]:
                out.append({k: plain(v) for k, v in (dict(c) | {k: head[k] for k in shared}).items()})
    return out


def clusters(n: int, grouped: int, default: bool = True, start: int = 0) -> list[int]:
    """The sampling group of each configuration `sample(space, n, seed, default, grouped)` returns:
    the default its own (`start`), then one per group (one per draw when not grouped), numbered
    from `start`."""
    first = [start] if default else []
    size = grouped or 1
    return first + [start + len(first) + i // size for i in range(n)]


def plain(v):
    """A plain Python scalar (ConfigSpace and numpy hand out numpy ones)."""
    return v.item() if isinstance(v, np.generic) else v


def cells(space: ConfigurationSpace, name: str) -> int | None:
    """Number of equal-width cells of a discrete hyperparameter's unit codes (None if continuous).

    The unit code of a value is its position in [0, 1] under which uniform codes are
    ConfigSpace's uniform sampling: floats (and log integers) normalised, log-aware; every
    non-log integer, category and ordinal level owning a cell of width 1 / cells.
    """
    hp = space[name]
    if isinstance(hp, CategoricalHyperparameter):
        return len(hp.choices)
    if isinstance(hp, OrdinalHyperparameter):
        return len(hp.sequence)
    if isinstance(hp, IntegerHyperparameter) and not hp.log:
        return hp.upper - hp.lower + 1
    return None


def from_unit(space: ConfigurationSpace, name: str, u: float):
    """The value of hyperparameter `name` whose unit code (see `cells`) is `u`, a plain scalar."""
    hp = space[name]
    if isinstance(hp, Constant):
        return hp.value
    k = cells(space, name)
    if isinstance(hp, (CategoricalHyperparameter, OrdinalHyperparameter)):
        choices = list(hp.choices if isinstance(hp, CategoricalHyperparameter) else hp.sequence)
        return plain(choices[min(int(u * k), k - 1)])
    if k is not None:
        return int(min(hp.lower + int(u * k), hp.upper))
    lo, hi = (np.log(hp.lower), np.log(hp.upper)) if hp.log else (hp.lower, hp.upper)
    x = lo + u * (hi - lo)
    x = float(np.exp(x)) if hp.log else float(x)
    return int(round(x)) if isinstance(hp, IntegerHyperparameter) else x


def typed(space: ConfigurationSpace, values: Mapping) -> dict:
    """Values read back from a table as the space's types: NaN/None (inactive) dropped,
    integers that a column with missing values stored as floats made integers again."""
    out = {}
    for k, v in values.items():
        v = plain(v)
        if v is None or (isinstance(v, float) and np.isnan(v)):
            continue
        hp = space[k]
        if isinstance(hp, IntegerHyperparameter):
            v = int(round(float(v)))
        elif isinstance(hp, FloatHyperparameter):
            v = float(v)
        else:  # a choice: the space's own object (16.0 -> 16, np.True_ -> True, "True" -> True)
            items = getattr(hp, "sequence", getattr(hp, "choices", ()))
            same = [c for c in items if c == v and type(c) is not bool or c is v]
            v = (same or [c for c in items if isinstance(v, str) and str(c) == v] or [v])[0]
        out[k] = v
    return out


def active(space: ConfigurationSpace, values: Mapping) -> set[str]:
    """Names active under (possibly partial) `values`: a condition is judged on the values of
    hyperparameters already found active, walking parents before children."""
    out: set[str] = set()
    for name in space:  # ConfigSpace iterates parents before children
        seen = {k: v for k, v in values.items() if k in out}
        if all(_holds(c, seen) for c in space.parent_conditions_of[name]):
            out.add(name)
    return out


def _holds(cond, values: Mapping) -> bool:
    try:
        return bool(cond.satisfied_by_value(values))
    except (KeyError, TypeError, ValueError):  # a parent that is not set: inactive
        return False
