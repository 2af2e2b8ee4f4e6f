"""Declarative experiment grids: a YAML spec, validated completely before any compute.

A spec names one benchmark, the configurations (a seeded sample of its space, plus
the default), the fidelities (explicit points and one-knob ladders), and seeds.
Its cells are the cross product. Every error names the spec file and line.

    name: demo                       # results go to results/<name>/
    benchmark: synthetic/partial
    benchmark_args: {}               # keyword arguments of the benchmark's factory
    configs: {sample: 20, seed: 0, default: true}
    # optional: more seeded draws after these (the first ones stay as they were), and a prefix
    #   configs: {sample: 100, seed: 0, extend: [{sample: 300, seed: 1}], first: 40}
    # optional: draws in groups of K sharing depth, width and batch size (`hpobench.spaces.sample`),
    # which train together; rows then carry their group (`cluster`), the bootstrap's unit
    #   configs: {sample: 64, seed: 0, grouped: 8}
    fidelities:
      full: true                     # the benchmark's full-fidelity point
      ladder: {epochs: [1, 3, 9]}    # one knob at a time, the others at full
      points: [{epochs: 3, data_fraction: 0.2}]
    seeds: [0]

    >>> spec = load("experiments/specs/demo.yaml")  # doctest: +SKIP
    >>> len(cells(spec))  # doctest: +SKIP
    105
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

TOP = {"name", "description", "benchmark", "benchmark_args", "configs", "fidelities", "seeds"}
CONFIGS = {"sample", "seed", "default", "extend", "first", "grouped"}
FIDELITIES = {"full", "ladder", "points"}


class SpecError(ValueError):
    """A broken spec: the message names file, line and problem."""


@dataclass(frozen=True)
class Cell:
    key: str  # content hash: the same cell in any spec run is the same result
    config_id: int  # 0 = default, then sample order
    config: dict
    fidelity: dict
    seed: int
    cluster: int | None = None  # a grouped design's sampling group (`hpobench.spaces.clusters`)


@dataclass
class Spec:
    path: Path
    name: str
    benchmark: str
    benchmark_args: dict
    configs: dict
    fidelities: list[dict]
    seeds: list[int]
    description: str = ""
    lines: dict = field(default_factory=dict, repr=False)  # key path -> line number

    @property
    def out(self) -> Path:
        return Path("results") / self.name


def _lines(node, path=(), out=None) -> dict:
    """Line number (1-based) of every mapping key and sequence item, by key path."""
    out = {} if out is None else out
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            _lines(v, path + (k.value,), out)
            out[path + (k.value,)] = k.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _lines(v, path + (i,), out)
    return out


def load(path: str | Path) -> Spec:
    """Parse and fully validate a spec (benchmark, configs, fidelities) without running anything."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path}: no such spec file")
    text = path.read_text()
    try:
        node = yaml.compose(text)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise SpecError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise SpecError(f"{path}:1: a spec is a mapping with keys {sorted(TOP)}")
    lines = _lines(node)

    def fail(keys: tuple, msg: str):
        line = next((lines[keys[:i]] for i in range(len(keys), -1, -1) if keys[:i] in lines), 1)
        raise SpecError(f"{path}:{line}: {msg}")

    def only(d, allowed, keys):
        if not isinstance(d, dict):
            fail(keys, f"{'.'.join(map(str, keys))} must be a mapping")
        for k in d:
            if k not in allowed:
                fail(keys + (k,), f"unknown key {k!r} (allowed: {', '.join(sorted(allowed))})")

    only(raw, TOP, ())
    for k in ("name", "benchmark"):
        if not isinstance(raw.get(k), str) or not raw[k]:
            fail((k,), f"{k!r} is required and must be a string")
    import hpobench
    args = raw.get("benchmark_args") or {}
    if not isinstance(args, dict):
        fail(("benchmark_args",), "benchmark_args must be a mapping")
    try:
        bench = hpobench.get(raw["benchmark"], **args)
    except (TypeError, ValueError) as e:
        if raw["benchmark"] not in hpobench.benchmarks.names():
            fail(("benchmark",), str(e))
        fail(("benchmark_args",), f"bad benchmark_args for {raw['benchmark']!r}: {e}")

    configs = raw.get("configs") or {}
    only(configs, CONFIGS, ("configs",))
    configs = {"sample": 0, "seed": 0, "default": True} | configs
    grouped = configs.get("grouped", 0)
    if not isinstance(grouped, int) or isinstance(grouped, bool) or grouped < 0 or grouped == 1:
        fail(("configs", "grouped"), f"configs.grouped must be 0 (off) or a group size >= 2, got {grouped!r}")
    for k in ("sample", "seed"):
        if not isinstance(configs[k], int) or isinstance(configs[k], bool) or configs[k] < 0:
            fail(("configs", k), f"configs.{k} must be a non-negative integer, got {configs[k]!r}")
    if not isinstance(configs["default"], bool):
        fail(("configs", "default"), "configs.default must be true or false")
    if configs["sample"] == 0 and not configs["default"]:
        fail(("configs",), "no configurations: set configs.sample > 0 or configs.default: true")
    extend = configs.setdefault("extend", [])
    if not isinstance(extend, list):
        fail(("configs", "extend"), "configs.extend must be a list of {sample: N, seed: S}")
    for i, block in enumerate(extend):
        keys = ("configs", "extend", i)
        only(block, {"sample", "seed"}, keys)
        for k in ("sample", "seed"):
            v = block.get(k)
            if not isinstance(v, int) or isinstance(v, bool) or v < (k == "sample"):
                fail(keys, f"configs.extend[{i}].{k} must be a {'positive' if k == 'sample' else 'non-negative'} "
                           f"integer, got {v!r}")
    first = configs.setdefault("first", None)
    if first is not None and (not isinstance(first, int) or isinstance(first, bool) or first < 1):
        fail(("configs", "first"), f"configs.first must be a positive integer, got {first!r}")

    fids = raw.get("fidelities")
    if fids is None:
        fail(("fidelities",), "'fidelities' is required")
    only(fids, FIDELITIES, ("fidelities",))
    points = [{}] if fids.get("full", False) else []
    ladder = fids.get("ladder") or {}
    if not isinstance(ladder, dict):
        fail(("fidelities", "ladder"), "fidelities.ladder must map a knob to a list of values")
    for knob, values in ladder.items():
        if not isinstance(values, list) or not values:
            fail(("fidelities", "ladder", knob), f"ladder {knob!r} must be a non-empty list")
        for i, v in enumerate(values):
            points.append(({knob: v}, ("fidelities", "ladder", knob, i)))
    for i, p in enumerate(fids.get("points") or []):
        if not isinstance(p, dict):
            fail(("fidelities", "points", i), "a fidelity point is a mapping knob: value")
        points.append((p, ("fidelities", "points", i)))
    out = []
    for p in points:
        p, keys = p if isinstance(p, tuple) else (p, ("fidelities", "full"))
        try:
            full = bench.fidelity(p)
        except ValueError as e:
            fail(keys, str(e))
        if full not in out:
            out.append(full)
    if not out:
        fail(("fidelities",), "no fidelities: give full, ladder or points")

    seeds = raw.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool)
                                                           for s in seeds):
        fail(("seeds",), f"seeds must be a non-empty list of integers, got {seeds!r}")
    return Spec(path, raw["name"], raw["benchmark"], args, configs, out, seeds, raw.get("description", ""), lines)


def configurations(spec: Spec) -> list[dict]:
    """The default (if asked), `sample` seeded draws from the benchmark's space, then each `extend`
    block's draws (so a study grows without changing its first configurations); the `first` N.
    With `grouped`, every block's draws come in groups sharing the static part (`spaces.sample`)."""
    return _drawn(spec)[0]


def _drawn(spec: Spec) -> tuple[list[dict], list[int] | None]:
    """(`configurations`, each one's sampling group or None when not grouped)."""
    import hpobench
    from hpobench import spaces
    bench = hpobench.get(spec.benchmark, **spec.benchmark_args)
    c = spec.configs
    k = c.get("grouped", 0)
    out = spaces.sample(bench.config_space, c["sample"], c["seed"], c["default"], grouped=k)
    groups = spaces.clusters(c["sample"], k, c["default"])
    for block in c.get("extend") or []:
        out += spaces.sample(bench.config_space, block["sample"], block["seed"], False, grouped=k)
        groups += spaces.clusters(block["sample"], k, False, start=max(groups, default=-1) + 1)
    return out[:c.get("first")], (groups[:c.get("first")] if k else None)


def cell_key(benchmark: str, args: dict, config: dict, fidelity: dict, seed: int) -> str:
    blob = json.dumps([benchmark, args, config, fidelity, seed], sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def cells(spec: Spec) -> list[Cell]:
    """All cells, configuration by configuration: a grid stopped early leaves complete,
    paired rows (every fidelity of the first k configurations) that analysis can use."""
    configs, groups = _drawn(spec)
    return [Cell(cell_key(spec.benchmark, spec.benchmark_args, c, f, s), i, c, f, s,
                 None if groups is None else groups[i])
            for i, c in enumerate(configs) for s in spec.seeds for f in spec.fidelities]
