"""`hpobench` command line: parse, call the library, print. No logic lives here.

    hpobench list
    hpobench space resnet/cifar10
    hpobench evaluate resnet/fashion_mnist --config default --fidelity epochs=1,data_fraction=0.05,resolution=7
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _fidelity(text: str | None) -> dict:
    """Parse "epochs=1,data_fraction=0.05,resolution=8" into typed values."""
    if not text:
        return {}
    out = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"error: --fidelity expects knob=value[,knob=value...], got {part!r}")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            raise SystemExit(f"error: --fidelity {key}: {value!r} is not a number") from None
    return out


def _config(text: str):
    if text == "default":
        return "default"
    path = Path(text)
    if not path.is_file():
        raise SystemExit(f"error: --config {text!r}: no such file (give a JSON file or 'default')")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise SystemExit(f"error: --config {path}: malformed JSON ({e})") from None


def _list(args) -> None:
    from hpobench import benchmarks
    for name in benchmarks.names():
        print(name)


def _space(args) -> None:
    from hpobench import benchmarks, spaces
    bench = benchmarks.get(args.name)
    print(spaces.to_json(bench.fidelity_space if args.fidelity else bench.config_space))


def _evaluate(args) -> None:
    from hpobench import benchmarks
    bench = benchmarks.get(args.name)
    result = bench.evaluate(_config(args.config), _fidelity(args.fidelity), args.seed)
    print(json.dumps(result.to_dict(), indent=None if args.compact else 2, default=str))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hpobench", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="verb", required=True)

    s = sub.add_parser("list", help="registered benchmarks")
    s.set_defaults(fn=_list)

    s = sub.add_parser("space", help="print a benchmark's ConfigSpace JSON")
    s.add_argument("name")
    s.add_argument("--fidelity", action="store_true", help="the fidelity space instead")
    s.set_defaults(fn=_space)

    s = sub.add_parser("evaluate", help="evaluate one configuration at one fidelity")
    s.add_argument("name")
    s.add_argument("--config", default="default", help="'default' or a JSON file (partial: rest from default)")
    s.add_argument("--fidelity", default=None, help="e.g. epochs=1,data_fraction=0.05,resolution=8")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--compact", action="store_true", help="one-line JSON")
    s.set_defaults(fn=_evaluate)

    # tune (optimizers) -- added with the optimizers
    # importance / agreement (analysis) -- added with the analysis
    return p


def main(argv: list[str] | None = None) -> int:
    from hpobench.benchmarks import BenchmarkError
    args = parser().parse_args(argv)
    try:
        args.fn(args)
    except (BenchmarkError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
