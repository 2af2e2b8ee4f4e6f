"""`hpobench` command line: parse, call the library, print. No logic lives here.

The top of the one-way flow: it may import every layer, and nothing imports it.

    hpobench list
    hpobench space resnet/cifar10
    hpobench evaluate resnet/fashion_mnist --config default --fidelity epochs=1,data_fraction=0.05,resolution=7
    hpobench evaluate resnet/folder --data my_images/ --bench-arg native=64 --fidelity epochs=1,resolution=16
    hpobench tune synthetic/agree --optimizer bohb --budget 2430 --seed 0 --out runs/bohb-0
    hpobench tune synthetic/agree --optimizer optuna-tpe --option multivariate=true --budget 2430 --out runs/tpe-0
    hpobench importance --optuna sqlite:///study.db --study NAME    # an Optuna study, importance per step
    hpobench scope --optuna sqlite:///study.db --study NAME --out runs/study-scope   # scoped without training
    hpobench tune synthetic/agree --space runs/scope/scoped_space.json --warm-start runs/scope --optimizer smac \
        --budget 2430 --out runs/smac-warm
    hpobench scope --objective experiments/examples/sklearn_objective.py:objective \
        --space experiments/examples/space.json --fidelity-space experiments/examples/fidelity.json \
        --metric log_loss --direction minimize --metric-range 0, --budget 6 --out runs/example
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _pairs(items: list[str], flag: str, numbers: bool = True, form: str = "key=value") -> dict:
    """["key=value", ...] -> dict; values parsed as JSON (else kept as text unless `numbers`)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"error: {flag} expects {form}, got {item!r}")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            if numbers:
                raise SystemExit(f"error: {flag} {key}: {value!r} is not a number") from None
            out[key.strip()] = value
    return out


def _fidelity(text: str | None, flag: str = "--fidelity") -> dict:
    """Parse "epochs=1,data_fraction=0.05,resolution=8" into typed values."""
    return _pairs(text.split(","), flag, form="knob=value[,knob=value...]") if text else {}


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


def _bench_kwargs(args) -> dict:
    """The benchmark factory's keyword arguments: --bench-arg KEY=VALUE ..., and --data PATH as data=PATH."""
    kw = _pairs(getattr(args, "bench_arg", None) or [], "--bench-arg", numbers=False)
    if getattr(args, "data", None):
        kw["data"] = str(Path(args.data).expanduser().resolve())  # the same run from any working directory
    return kw


def _add_bench_args(s: argparse.ArgumentParser) -> None:
    s.add_argument("--data", default=None, metavar="PATH",
                   help="the images: resnet/folder needs a class-per-folder tree of JPEG/PNG images or a tar "
                        "archive of one; for resnet/cifar10 and resnet/fashion_mnist it overrides their source")
    s.add_argument("--bench-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="keyword argument of the benchmark's factory, e.g. native=64 or max_epochs=8 (repeatable)")


def _bench(args):
    """(benchmark, factory kwargs): a registered name, or the Benchmark of --objective."""
    flags = (("--fidelity-space", "fidelity_space"), ("--metric", "metric"), ("--direction", "direction"),
             ("--metric-range", "metric_range"))
    if args.objective is None:
        if args.name is None:
            raise SystemExit("error: give a benchmark name (see `hpobench list`) or --objective FILE.py:FUNCTION")
        given = [flag for flag, key in flags if getattr(args, key) is not None]
        if given:
            raise SystemExit(f"error: {', '.join(given)} go with --objective; the benchmark {args.name} declares "
                             f"its own metric and fidelity space")
        return args.name, _bench_kwargs(args)
    if args.name is not None:
        raise SystemExit(f"error: give a benchmark name ({args.name}) or --objective, not both")
    if _bench_kwargs(args):
        raise SystemExit("error: --data and --bench-arg go with a registered benchmark, not with --objective")
    missing = [flag for flag, key in (("--space", "space"), *flags[:3]) if getattr(args, key) is None]
    if missing:
        raise SystemExit(f"error: --objective needs {', '.join(missing)} (--space: the ConfigSpace JSON of its "
                         f"hyperparameters; --fidelity-space: of its fidelity knobs, defaults = full fidelity; "
                         f"--metric: the name of what it returns; --direction: maximize or minimize)")
    from hpobench.benchmarks import objective
    lower, upper = _range(args.metric_range)
    return objective.load(args.objective, args.space, args.fidelity_space, args.metric, args.direction,
                          lower, upper), {}


def _range(text: str | None) -> tuple:
    """--metric-range "LO,HI" (either side may be empty) -> (lower, upper)."""
    if text is None:
        return None, None
    parts = text.split(",")
    if len(parts) != 2:
        raise SystemExit(f"error: --metric-range expects LO,HI (either may be empty, e.g. 0, or 0,100), got {text!r}")
    try:
        return tuple(float(p) if p.strip() else None for p in parts)
    except ValueError:
        raise SystemExit(f"error: --metric-range {text!r}: bounds must be numbers") from None


def _add_objective_args(s: argparse.ArgumentParser, space: bool = True) -> None:
    s.add_argument("name", nargs="?", default=None, help="a registered benchmark (see `hpobench list`); "
                   "or leave it out and give --objective")
    g = s.add_argument_group("your own objective (instead of a benchmark name)")
    g.add_argument("--objective", default=None, metavar="FILE.py:FUNCTION",
                   help="FUNCTION(config, fidelity, seed) in a Python file, or MODULE:FUNCTION; returns a number, "
                        "a dict of metrics or a Result; an exception is a crashed trial")
    if space:
        g.add_argument("--space", default=None, metavar="SPACE.json", help="its hyperparameters (ConfigSpace JSON)")
    g.add_argument("--fidelity-space", default=None, metavar="FIDELITY.json",
                   help="its fidelity knobs (ConfigSpace JSON; the defaults are the full fidelity)")
    g.add_argument("--metric", default=None, metavar="NAME", help="what it returns (the key optimised in a dict)")
    g.add_argument("--direction", default=None, choices=["maximize", "minimize"], help="of --metric")
    g.add_argument("--metric-range", default=None, metavar="LO,HI",
                   help="the metric's range, either side optional (e.g. 0, for a loss); a value outside is a "
                        "crashed trial; a failed trial counts as the worst bound, else as the worst value seen")


def _list(args) -> None:
    from hpobench import benchmarks
    for name in benchmarks.names():
        print(name)


def _space(args) -> None:
    from hpobench import benchmarks, spaces
    bench = benchmarks.get(args.name, **_bench_kwargs(args))
    print(spaces.to_json(bench.fidelity_space if args.fidelity else bench.config_space))


def _evaluate(args) -> None:
    from hpobench import benchmarks
    bench, kwargs = _bench(args)
    bench = bench if isinstance(bench, benchmarks.Benchmark) else benchmarks.get(bench, **kwargs)
    result = bench.evaluate(_config(args.config), _fidelity(args.fidelity), args.seed)
    print(json.dumps(result.to_dict(), indent=None if args.compact else 2, default=str))


def _tune(args) -> None:
    from hpobench.optimizers import tune
    options = _pairs(args.option, "--option", numbers=False)
    bench, kwargs = _bench(args)
    space = args.space if args.objective is None else None  # with --objective, --space is its own space
    run = tune(bench, args.optimizer, args.budget, args.seed, space=space, out=args.out,
               workers=args.workers, scheduler=args.scheduler, axis=args.axis, min_budget=args.min_budget,
               options=options, progress=not args.quiet, bench_kwargs=kwargs, warm_start=args.warm_start,
               warm_k=args.warm_k, warm_prior=args.warm_prior)
    m = run.metric
    label, fmt = ("F1", ".4f") if m.name == "f1" else (m.name, ".4g")
    print(f"{len(run.trials)} trials, cost {run.spent:g} of {args.budget:g}; default {label} "
          f"{run.default_value:{fmt}}, incumbent {label} {run.incumbent_value:{fmt}} ({m.direction}d); "
          f"record: {run.out}/trials.parquet")


def _workers(args) -> int:
    if args.scheduler:
        return 1
    if args.workers is not None:
        return args.workers
    from hpobench.optimizers.parallel import default_workers
    return default_workers()


def _grid(args) -> None:
    from hpobench.experiments import grid, spec
    sp = spec.load(args.spec)
    if args.action == "run":
        st = grid.run(sp, workers=_workers(args), scheduler=args.scheduler, max_cells=args.max_cells,
                      progress=not args.quiet)
    else:
        st = grid.status(sp)
    print(f"{sp.name}: " + ", ".join(f"{k} {v}" for k, v in st.items()) + f"  ({sp.out})")


def _analysis(args) -> None:
    import pandas as pd

    from hpobench import records, spaces
    from hpobench.analysis import report
    fids = [_fidelity(f) for f in args.fidelity] if args.fidelity else None
    run = report.importance if args.verb == "importance" else report.agreement
    space, metric = args.space, _metric(args)
    if (args.optuna is None) == (not args.records):
        raise SystemExit("error: give run records (folders or tables) or --optuna STORAGE_URL [--study NAME], "
                         "one of them")
    if args.optuna is not None:  # an Optuna study: its table, space and metric (--space, --metric override)
        from hpobench.analysis import optuna_study
        study = optuna_study.read(args.optuna, args.study)
        print("\n".join([study.summary(), *study.notes]), file=sys.stderr)
        df, space, metric = study.table, spaces.load(space) if space else study.space, metric or study.metric
    elif args.study is not None:
        raise SystemExit("error: --study goes with --optuna STORAGE_URL")
    else:
        df, space, metric = records.read(args.records, space, metric)
    skipped: dict = {}
    table, figs = run(df, space, fids, method=args.method, n_boot=args.n_boot, level=args.level, seed=args.seed,
                      out=args.out, failed=args.failed, metric=metric, skipped=skipped)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if args.verb == "agreement":
        print(report.agreement_note(args.level, args.n_boot))
    for f, why in skipped.items():
        print(f"skipped fidelity {f.label}: {why}")
    for f in figs:
        print(f"wrote {f}")


def _metric(args):
    """--metric NAME [--direction D] as a Metric; None when not given (then: the record's, else F1)."""
    from hpobench.benchmarks import Metric
    if args.metric is None:
        if args.direction is not None:
            raise SystemExit("error: --direction needs --metric NAME")
        return None
    return Metric(args.metric, args.direction or "maximize")


def _resamples(args) -> dict:
    """`--n-boot N`: the importance's bootstrap resamples and, with the budget rule, the gains' (scope.run's
    and from_optuna's keywords; none given: their defaults)."""
    from hpobench.analysis import decision
    if args.n_boot is None:
        return {}
    return {"n_boot": args.n_boot, **({"rule_settings": decision.Rule(n_boot=args.n_boot)} if args.rule == "budget"
                                      else {})}


def _scope(args) -> None:
    from hpobench.experiments import scope
    if args.optuna is not None:
        return _scope_optuna(args)
    if args.study is not None:
        raise SystemExit("error: --study goes with --optuna STORAGE_URL")
    if args.budget is None:
        raise SystemExit("error: --budget is required (or --optuna STORAGE_URL to scope an existing Optuna study)")
    if not args.adaptive and (args.rounds is not None or args.first is not None):
        raise SystemExit("error: --rounds and --first set the adaptive design's rounds; add --adaptive")
    bench, kwargs = _bench(args)
    hold = _pairs(args.hold.split(","), "--hold") if args.hold else None
    result = scope.run(bench, args.budget, args.out, low=_fidelity(args.low, "--low") or None,
                       probe=_fidelity(args.probe, "--probe") or None,
                       n_low=40 if args.n_low is None else args.n_low,
                       n_probe=15 if args.n_probe is None else args.n_probe, resolution=args.resolution,
                       seed=args.seed, method=args.method, workers=_workers(args), scheduler=args.scheduler,
                       progress=not args.quiet, bench_kwargs=kwargs,
                       adaptive=args.adaptive, rounds=scope.ROUNDS if args.rounds is None else args.rounds,
                       first=scope.FIRST if args.first is None else _first(args.first), rule=args.rule,
                       tune_budget=scope.TUNE_BUDGET if args.tune_budget is None else args.tune_budget,
                       max_tune=args.max_tune, hold=hold, anchor=args.anchor, group=args.group,
                       confirm_full=args.confirm_full, **_resamples(args))
    print(result.summary())
    print(f"report: {args.out}/report.md ({args.out}/report.html); scoped space: {args.out}/scoped_space.json")


def _scope_optuna(args) -> None:
    """`hpobench scope --optuna STORAGE_URL [--study NAME]`: an existing study, no training."""
    from hpobench.experiments import scope
    given = [flag for flag, v in (("a benchmark name", args.name), ("--objective", args.objective),
                                  ("--budget", args.budget), ("--n-low", args.n_low), ("--n-probe", args.n_probe),
                                  ("--adaptive", args.adaptive), ("--rounds", args.rounds), ("--first", args.first),
                                  ("--hold", args.hold), ("--resolution", args.resolution),
                                  ("--rule variance", args.rule == "variance"), ("--data", args.data),
                                  ("--confirm-full", args.confirm_full or None),
                                  ("--bench-arg", args.bench_arg)) if v not in (None, False, [])]
    if given:
        raise SystemExit(f"error: {', '.join(given)} set new trainings; --optuna scopes the study's trials as they "
                         "are (its steps are the fidelities: --low step=K, --probe step=K)")
    result = scope.from_optuna(args.optuna, args.study, args.out, low=_fidelity(args.low, "--low") or None,
                               probe=_fidelity(args.probe, "--probe") or None,
                               tune_budget=scope.TUNE_BUDGET if args.tune_budget is None else args.tune_budget,
                               max_tune=args.max_tune, anchor=args.anchor, method=args.method, seed=args.seed,
                               **_resamples(args))
    print(result.summary())
    print(f"report: {args.out}/report.md ({args.out}/report.html); scoped space: {args.out}/scoped_space.json")


def _first(text: str) -> tuple[int, int]:
    try:
        n_low, n_probe = (int(v) for v in text.split(","))
    except ValueError:
        raise SystemExit(f"error: --first takes N_LOW,N_PROBE (two integers), got {text!r}") from None
    return n_low, n_probe


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hpobench", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="verb", required=True)

    s = sub.add_parser("list", help="registered benchmarks")
    s.set_defaults(fn=_list)

    s = sub.add_parser("space", help="print a benchmark's ConfigSpace JSON")
    s.add_argument("name")
    s.add_argument("--fidelity", action="store_true", help="the fidelity space instead")
    _add_bench_args(s)
    s.set_defaults(fn=_space)

    s = sub.add_parser("evaluate", help="evaluate one configuration at one fidelity")
    _add_objective_args(s)
    s.add_argument("--config", default="default", help="'default' or a JSON file (partial: rest from default)")
    s.add_argument("--fidelity", default=None, help="e.g. epochs=1,data_fraction=0.05,resolution=8")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--compact", action="store_true", help="one-line JSON")
    _add_bench_args(s)
    s.set_defaults(fn=_evaluate)

    # tune (optimizers)
    s = sub.add_parser("tune", help="run an optimizer for a total cost; resumable run record in --out")
    _add_objective_args(s, space=False)
    s.add_argument("--optimizer", required=True,
                   help="smac | smac-mf | bohb | hyperband | sh | random | optuna-tpe")
    s.add_argument("--budget", type=float, required=True,
                   help="total cost in the benchmark's unit (epochs x data fraction x resolution^2)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--space", default=None, help="scoped ConfigSpace JSON (a sub-space of the benchmark's); "
                   "with --objective: the objective's space (e.g. a scope run's scoped_space.json)")
    where = s.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=1, help="trials in parallel on a local Dask cluster")
    where.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler")
    s.add_argument("--axis", default=None,
                   help="fidelity knob varied by multi-fidelity optimizers (default: epochs, or the only knob)")
    s.add_argument("--min-budget", type=float, default=None, help="smallest value on --axis (default: its lower bound)")
    s.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="optimizer option, e.g. eta=3")
    s.add_argument("--out", required=True, help="run directory; rerun with the same one to resume")
    s.add_argument("--warm-start", default=None, metavar="DIR",
                   help="a scope or tune run folder of the same benchmark: its best configurations (projected onto "
                        "--space) are evaluated first and model-based optimizers are told its records")
    s.add_argument("--warm-k", type=int, default=None, metavar="K",
                   help="with --warm-start: how many of its best configurations to evaluate first (default 4)")
    s.add_argument("--warm-prior", action="store_true",
                   help="with --warm-start: smac too is told its records, the cheap ones placed at full fidelity "
                        "where both were measured, and starts from its model instead of a random design")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_bench_args(s)
    s.set_defaults(fn=_tune)

    # scope (the main job)
    s = sub.add_parser("scope", help="decide which hyperparameters to tune from cheap trainings")
    _add_objective_args(s)
    s.add_argument("--optuna", default=None, metavar="STORAGE_URL",
                   help="scope an existing Optuna study instead, without training (read-only): an RDB URL such as "
                        "sqlite:///study.db, or an SQLite or journal file; its steps are the fidelities")
    s.add_argument("--study", default=None, metavar="NAME", help="with --optuna: the study (default: the only one)")
    s.add_argument("--budget", type=float, default=None,
                   help="total cost in the benchmark's unit (required, unless --optuna)")
    s.add_argument("--out", required=True, help="output folder; rerun with the same one to resume")
    s.add_argument("--low", default=None, help="low fidelity, e.g. epochs=2,data_fraction=0.05 (default: from budget; "
                   "with --optuna step=K, default: the last step (nearly) every trial reached)")
    s.add_argument("--probe", default=None, help="probe fidelity (default: from budget; with --optuna the final step)")
    s.add_argument("--n-low", type=int, default=None, help="configurations at the low fidelity (default 40, the "
                   "default included); adaptive: the fixed design's, which picks the fidelities and the low/probe "
                   "cost split")
    s.add_argument("--n-probe", type=int, default=None, help="of those, how many also run at the probe (default 15)")
    design = s.add_mutually_exclusive_group()
    design.add_argument("--adaptive", action="store_true", help="sample in rounds, stop once the decision is "
                        "settled (lost to the fixed design at equal budget: results/scope_adaptive/summary.md)")
    design.add_argument("--fixed", action="store_true", help="the fixed design, n-low + n-probe in one go (default)")
    s.add_argument("--rounds", type=int, default=None, help="with --adaptive: rounds at most (default 4)")
    s.add_argument("--first", default=None, metavar="N_LOW,N_PROBE",
                   help="with --adaptive: the first round's configurations (default 20,15)")
    s.add_argument("--tune-budget", type=int, default=None, metavar="N",
                   help="full-fidelity trainings you will tune with afterwards (default: scope.TUNE_BUDGET, 20): "
                        "fewer choose fewer hyperparameters")
    s.add_argument("--max-tune", type=int, default=None, metavar="K", help="tune at most K hyperparameters")
    s.add_argument("--hold", default=None, metavar="NAME=VALUE,...",
                   help="hyperparameters held at these values while scoping (reported as held, not judged)")
    s.add_argument("--confirm-full", type=int, default=0, metavar="K",
                   help="train the K best at the probe fully (out of --tune-budget) and anchor at the best of them; "
                        "the report's tune command then starts from that training (live: K=3 at a budget of 10)")
    s.add_argument("--anchor", default="best", choices=["best", "default"],
                   help="where untuned hyperparameters stay: the best configuration found (default) or the default")
    s.add_argument("--rule", default="budget", choices=["budget", "variance"],
                   help="budget: what --tune-budget trainings can buy (default); variance: study v2's rule, the "
                        "smallest set carrying 95%% of fANOVA's variance (with --adaptive)")
    s.add_argument("--group", type=int, default=None, metavar="K",
                   help="configurations per draw of depth, width and batch size, trained together (default: "
                        "what the memory model allows, keeping scope.GROUPS draws; 1: one by one, as before)")
    s.add_argument("--resolution", type=int, default=None, help="resolution of the automatic ladder")
    s.add_argument("--method", default="fanova", choices=["fanova", "ped-anova"])
    s.add_argument("--n-boot", type=int, default=None, metavar="N",
                   help="bootstrap resamples of configurations behind the importance intervals and, with the budget "
                        "rule, the gains' intervals (default: 100 and 30)")
    s.add_argument("--seed", type=int, default=0)
    where = s.add_mutually_exclusive_group()
    # default 1: 2 workers took 6:46 vs 6:17 for `make run` (cheap trainings, each worker compiles)
    where.add_argument("--workers", type=int, default=1, help="trainings in parallel on a local Dask cluster")
    where.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_bench_args(s)
    s.set_defaults(fn=_scope)

    # grid (experiments)
    s = sub.add_parser("grid", help="run an experiment grid (resumable) or show its status")
    s.add_argument("action", choices=["run", "status"])
    s.add_argument("spec", help="YAML spec, e.g. experiments/specs/demo.yaml")
    where = s.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=None,
                       help="cells in parallel on a local Dask cluster (default: one per CPU core; 1 on a GPU)")
    where.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler")
    s.add_argument("--max-cells", type=int, default=None, help="stop after this many cells (a chunk)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(fn=_grid)

    # importance / agreement (analysis)
    for verb, help_ in (("importance", "importance per fidelity with bootstrap intervals; writes figures"),
                        ("agreement", "agreement of importance rankings (and performance) across fidelities")):
        s = sub.add_parser(verb, help=help_)
        s.add_argument("records", nargs="*", metavar="RECORD", help="run directories or Parquet/CSV trial tables")
        s.add_argument("--optuna", default=None, metavar="STORAGE_URL",
                       help="read an Optuna study instead (read-only): an RDB URL such as sqlite:///study.db, or "
                            "an SQLite or journal file; intermediate values are rows at their step (fidelity)")
        s.add_argument("--study", default=None, metavar="NAME", help="with --optuna: the study (default: the only one)")
        s.add_argument("--space", default=None,
                       help="ConfigSpace JSON (default: the meta.json of the record's folder, or a space JSON "
                            "next to the record)")
        s.add_argument("--fidelity", action="append", default=None, metavar="KNOB=V[,KNOB=V]",
                       help="fidelity to analyse; repeat for several (default: every fidelity in the records)")
        s.add_argument("--method", default="fanova", choices=["fanova", "ped-anova", "ablation"])
        s.add_argument("--n-boot", type=int, default=100, help="bootstrap resamples of configurations")
        s.add_argument("--level", type=float, default=0.9, help="confidence level of the intervals")
        s.add_argument("--failed", default="drop", choices=["drop", "worst"], help="diverged/crashed trials")
        s.add_argument("--metric", default=None, metavar="NAME",
                       help="the metric column to analyse (default: the record's meta.json, else f1)")
        s.add_argument("--direction", default=None, choices=["maximize", "minimize"],
                       help="of --metric (default maximize)")
        s.add_argument("--seed", type=int, default=0)
        s.add_argument("--out", default=None, help="directory for the figures and a CSV (default: none)")
        s.set_defaults(fn=_analysis, verb=verb)
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
