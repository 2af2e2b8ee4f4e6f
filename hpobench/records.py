"""The run folder: the one reader and writer of what a tune, a grid or a scope records on disk.

A run folder (`hpobench tune --out`, a grid's `results/<name>/`, `hpobench scope --out`) holds:

    meta.json            what ran, one JSON object, replaced atomically. A tune run: `TUNE_IDENTITY`
                         (what a resume must match), budget, scoped, created, versions and hardware, one
                         entry per (re)start (`hpobench.optimizers.tune`); a grid: its spec; a scope: its settings under
                         "scope"; a grid or scope: the benchmark's space and metric. A space (`space`,
                         `fidelity_space`) is ConfigSpace's JSON as an object (`space_json`); tune runs
                         recorded before this module stored the same JSON as text, and `space_of` reads
                         both. The metric is `Metric.to_dict`; absent (records from before metrics were
                         declarable) it is F1.
    journal.jsonl        one JSON line per event, each flushed and fsync'ed before the run goes on
                         (`Journal`): a tune's asks and tells (`hpobench.optimizers.record`), a grid's
                         finished cells ({"key", "row"}). The source of truth while a run goes; a torn
                         last line (killed mid-write) is dropped.
    trials.parquet       a tune run's trials; trajectory.parquet: its incumbent over cumulative cost
    evaluations.parquet  a grid or scope folder's finished cells, the journal folded in (`compact`)
    running.json         a running grid's process id and the cells it has in flight
    rounds.json          an adaptive scope's rounds so far

Tables are written to a temporary file and renamed, so a reader never sees half a file.
`read` gives the analysis a table with its space and metric; `check` refuses to resume a tune
run with settings that change what its record means.

    >>> import tempfile
    >>> from hpobench import spaces
    >>> out = Path(tempfile.mkdtemp())
    >>> write_meta(out, {"space": space_json(spaces.resnet())})
    >>> space_of(read_meta(out)) == spaces.resnet()
    True
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

import pandas as pd
from ConfigSpace import ConfigurationSpace

from hpobench import spaces
from hpobench.benchmarks.base import Metric, json_default

META, JOURNAL, RUNNING, ROUNDS = "meta.json", "journal.jsonl", "running.json", "rounds.json"
TRIALS, TRAJECTORY = "trials.parquet", "trajectory.parquet"  # a tune run
EVALUATIONS = "evaluations.parquet"  # a grid or scope folder
TABLES = (TRIALS, EVALUATIONS)  # what the analysis reads from a folder, in this order
FORMAT = 1  # of a tune run
# what a tune run's record means: a resume must match every one of these (the budget may grow)
TUNE_IDENTITY = ("format", "benchmark", "bench_kwargs", "objective", "hp_names", "space", "fidelity_space",
                 "full_fidelity", "metric", "optimizer", "options", "seed", "axis", "min_budget", "warm_start")
SINCE = {"fidelity_space"}  # recorded since this module: a record without it is not compared on it
SPACES = ("space", "fidelity_space")


class RecordError(ValueError):
    """A run folder that cannot be read, written or resumed (another run, a corrupt file, a diverged replay)."""


# ---------------------------------------------------------------- files

def write_text_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file and a rename, fsync'ed."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _write_parquet(path: Path, df: pd.DataFrame) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    df.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def _read_parquet(path: Path, hint: str = "") -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as e:  # pyarrow raises several types for truncated/corrupt files
        raise RecordError(f"{path}: unreadable results file ({type(e).__name__}: {e}){hint}") from None


def canon(v):
    """`v` as plain JSON (sorted keys, tuples as lists, numpy scalars as numbers): for comparing records."""
    return json.loads(json.dumps(v, sort_keys=True, default=json_default))


# ---------------------------------------------------------------- meta.json

def has_meta(folder: str | Path) -> bool:
    return (Path(folder) / META).exists()


def read_meta(folder: str | Path) -> dict:
    """The meta.json of a run folder; RecordError if there is none or it is not a JSON object."""
    path = Path(folder) / META
    if not path.exists():
        raise RecordError(f"{folder} is not a run folder (no {META})")
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise RecordError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(meta, dict):
        raise RecordError(f"{path}: not a run's {META} (a JSON object)")
    return meta


def write_meta(folder: str | Path, meta: dict) -> None:
    """Write meta.json (atomically), creating the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(folder / META, json.dumps(meta, indent=1, default=json_default))


def space_json(space: ConfigurationSpace) -> dict:
    """The one encoding of a space in meta.json: ConfigSpace's JSON as an object."""
    return json.loads(spaces.to_json(space))


def space_of(meta: dict, key: str = "space", where: str | Path = META) -> ConfigurationSpace:
    """The space `key` of a meta.json, stored as an object (`space_json`) or as text (older tune runs)."""
    s = meta.get(key)
    if s is None:
        raise RecordError(f"{where} records no {key}")
    try:
        return spaces.from_json(s if isinstance(s, str) else json.dumps(s))
    except (AttributeError, KeyError, TypeError, ValueError) as e:  # ConfigSpace's, on a malformed space
        raise RecordError(f"{where}: cannot read its {key} ({type(e).__name__}: {e})") from None


def metric_of(meta: dict, where: str | Path = META) -> Metric:
    """The declared metric of a meta.json (F1 where none is recorded)."""
    try:
        return Metric.of(meta.get("metric"))
    except ValueError as e:
        raise RecordError(f"{where}: {e}") from None


# ---------------------------------------------------------------- the journal

class Journal:
    """Append-only JSON-lines file; every append is on disk before `append` returns."""

    def __init__(self, path: Path | None):
        self.path = path
        self.events: list[dict] = []
        self._f = None
        if path is None:
            return  # in memory only
        self._f = open(path, "a", encoding="utf-8")
        try:  # one writer: a second process appending would interleave and repeat finished work
            fcntl.flock(self._f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._f.close()
            raise RecordError(f"{path} is being written by another process (a run with the same output "
                              "still going?); wait for it or stop it, then run again to resume") from None
        self.events = read_journal(path, repair=True)

    def append(self, event: dict) -> None:
        self.events.append(event)
        if self._f is not None:
            self._f.write(json.dumps(event, default=json_default, allow_nan=True) + "\n")
            self._f.flush()
            os.fsync(self._f.fileno())

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


def read_journal(path: Path, repair: bool = False) -> list[dict]:
    """Events of a journal, ignoring a torn last line (no newline: killed mid-write).

    repair: also cut that line off the file (only the process that resumes the run may).
    """
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if repair and end < len(data):
        with open(path, "r+b") as f:
            f.truncate(end)
            f.flush()
            os.fsync(f.fileno())
    events = []
    for i, line in enumerate(data[:end].decode("utf-8").splitlines(), 1):
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise RecordError(f"{path}:{i}: corrupt journal line ({e})") from None
    return events


def journal(folder: str | Path) -> Journal:
    """The journal of a run folder, opened for appending (one writer at a time)."""
    return Journal(Path(folder) / JOURNAL)


def journal_events(folder: str | Path) -> list[dict]:
    """The events of a run folder's journal ([] without one)."""
    path = Path(folder) / JOURNAL
    return read_journal(path) if path.exists() else []


# ---------------------------------------------------------------- a tune run

def check(out: str | Path | None, meta: dict) -> dict:
    """Check that `out` is new or holds the same tune run (`TUNE_IDENTITY`); return the merged meta.

    Writes nothing, so that a refused resume or bad input leaves the folder as it was. The
    refusal is one line naming every setting that differs.
    """
    if out is None:
        return meta
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RecordError(f"--out {out} is a file, not a run directory")
    if has_meta(out):
        old = read_meta(out)
        diff = differences(old, meta)
        if diff:
            raise RecordError(f"{out} holds a different run ({'; '.join(diff)}); resume it with the same settings "
                              f"or use another --out")
        meta = {**meta, "sessions": old.get("sessions", []) + meta.get("sessions", []),
                "created": old.get("created", meta.get("created"))}
    elif (out / JOURNAL).exists():
        raise RecordError(f"{out} has a journal but no {META}; not a run directory this can resume")
    return meta


def differences(old: dict, new: dict) -> list[str]:
    """What differs between two tune runs' meta (`TUNE_IDENTITY`), one short phrase per setting."""
    out = []
    for k in TUNE_IDENTITY:
        if k in SINCE and k not in old:
            continue
        a, b = _identity(k, old.get(k)), _identity(k, new.get(k))
        if a == b:
            continue
        if k in SPACES:
            out.append(f"{k}: {_space_difference(a, b)}")
        elif k == "metric":
            out.append(f"metric: {Metric.of(a).describe()} there, {Metric.of(b).describe()} here")
        elif k == "warm_start":
            out.append(f"warm_start: {_warm_start(a)} there, {_warm_start(b)} here")
        else:
            out.append(f"{k}: {_short(a)} there, {_short(b)} here")
    return out


def _identity(key: str, v):
    if key in SPACES and isinstance(v, str):
        v = json.loads(v)  # text in tune runs from before `space_json`
    elif key == "metric":
        v = Metric.of(v).to_dict()  # absent: F1
    elif key == "objective" and v is not None:
        v = v.get("target")  # where the function is; its spaces are compared by content
    return canon(v)


def _space_difference(a, b) -> str:
    hps = [{h["name"]: h for h in (s or {}).get("hyperparameters", [])} for s in (a, b)]
    parts = [f"{n} only there" for n in hps[0] if n not in hps[1]]
    parts += [f"{n} only here" for n in hps[1] if n not in hps[0]]
    for n in hps[0]:
        if n in hps[1] and hps[0][n] != hps[1][n]:
            a, b = hps[0][n], hps[1][n]
            fields = ["type"] if a.get("type") != b.get("type") else sorted(set(a) | set(b))
            parts.append(f"{n} (" + ", ".join(f"{f} {_short(a.get(f))} there, {_short(b.get(f))} here"
                                              for f in fields if a.get(f) != b.get(f)) + ")")
    return ", ".join(parts) or "conditions or forbidden clauses differ"


def _warm_start(v) -> str:
    if not isinstance(v, dict):
        return repr(v)
    return f"{v.get('dir')} (k {v.get('k')}, {v.get('observations')} records, digest {v.get('digest')})"


def _short(v, n: int = 80) -> str:
    text = repr(v)
    return text if len(text) <= n else f"{text[: n // 2 - 2]}...{text[-(n // 2 - 1):]}"  # a path's end says most


def open_run(out: str | Path | None, meta: dict) -> Journal:
    """Write meta.json and open the journal of the tune run folder `out` (None: in memory)."""
    if out is None:
        return Journal(None)
    write_meta(out, meta)
    return journal(out)


def read_run(out: str | Path) -> tuple[dict, list[dict]]:
    """(meta, journal events) of a tune run folder, finished or not."""
    return read_meta(out), journal_events(out)


def write_tables(out: str | Path, trials: pd.DataFrame, traj: pd.DataFrame) -> None:
    """Write a tune run's trials.parquet and trajectory.parquet."""
    out = Path(out)
    _write_parquet(out / TRIALS, trials)
    _write_parquet(out / TRAJECTORY, traj)


# ---------------------------------------------------------------- a grid or scope folder

def evaluations(folder: str | Path) -> pd.DataFrame:
    """Every finished cell of a grid or scope folder (Parquet plus journal), one row per key."""
    folder = Path(folder)
    frames = []
    if (folder / EVALUATIONS).exists():
        frames.append(_read_parquet(folder / EVALUATIONS, "; move it aside and re-run: the journal alone "
                                                          "cannot restore it"))
    rows = [e["row"] for e in journal_events(folder)]
    if rows:
        frames.append(pd.DataFrame(rows))
    if not frames:
        return pd.DataFrame()
    df = pd.concat(frames, ignore_index=True)
    return (df.drop_duplicates("key", keep="first") if "key" in df else df).reset_index(drop=True)


def pending(folder: str | Path) -> int:
    """Cells in a grid or scope folder's journal not yet folded into evaluations.parquet."""
    return len(journal_events(folder))


def compact(folder: str | Path) -> None:
    """Fold the journal into evaluations.parquet (atomic replace), then empty the journal."""
    folder = Path(folder)
    df = evaluations(folder)
    if df.empty:
        return
    _write_parquet(folder / EVALUATIONS, df)
    # killed here: the rows are in both files, and `evaluations` keeps one per key
    with open(folder / JOURNAL, "w") as f:
        f.flush()
        os.fsync(f.fileno())


def write_running(folder: str | Path, keys: list[str]) -> None:
    """Say which cells this process has in flight (running.json)."""
    write_text_atomic(Path(folder) / RUNNING, json.dumps({"pid": os.getpid(), "keys": keys}))


def read_running(folder: str | Path) -> dict | None:
    """running.json ({"pid", "keys"}), or None without one."""
    path = Path(folder) / RUNNING
    return json.loads(path.read_text()) if path.exists() else None


def clear_running(folder: str | Path) -> None:
    (Path(folder) / RUNNING).unlink(missing_ok=True)


def read_rounds(folder: str | Path) -> list[dict]:
    """An adaptive scope's rounds so far ([] without any)."""
    path = Path(folder) / ROUNDS
    return json.loads(path.read_text()) if path.exists() else []


def write_rounds(folder: str | Path, rounds: list[dict]) -> None:
    write_text_atomic(Path(folder) / ROUNDS, json.dumps(rounds, indent=1))


# ---------------------------------------------------------------- for the analysis

def read(paths, space: ConfigurationSpace | str | Path | None = None,
         metric: Metric | dict | str | None = None) -> tuple[pd.DataFrame, ConfigurationSpace, Metric]:
    """Concatenate records (Parquet or CSV); find their ConfigSpace and declared metric.

    A record is a Parquet/CSV file or a folder: a tune run (its trials.parquet) or a grid/scope
    folder (its evaluations, `evaluations`), each with its meta.json. The space is `space` if
    given (a ConfigurationSpace or a JSON file); else the "space" of the meta.json of the
    record's folder (given as the folder or as the table in it); else a JSON file next to the
    first record: `<record>.space.json`, `space.json` or `config_space.json`. The metric is
    `metric` if given (a Metric, its dict or a name); else the meta.json "metric" (the records
    must agree); else F1, the metric of every record from before metrics were declarable.
    """
    paths = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
    if not paths:
        raise RecordError("no record given")
    files, folders = [], set()  # folders: grid or scope folders given as such (their journal counts too)
    for p in paths:
        if p.is_dir():
            found = [p / f for f in TABLES if (p / f).exists()]
            if not found:
                raise RecordError(f"record not found: {p} holds none of {', '.join(TABLES)}")
            p = found[0]
            if p.name == EVALUATIONS:
                folders.add(p)
        files.append(p)
    frames = []
    for p in files:
        if not p.exists():
            raise RecordError(f"record not found: {p}")
        frames.append(evaluations(p.parent) if p in folders else pd.read_csv(p) if p.suffix == ".csv"
                      else _read_parquet(p))
    df = pd.concat(frames, ignore_index=True)
    metas = [(m, read_meta(m.parent)) for m in dict.fromkeys(p.parent / META for p in files) if m.exists()]
    return df, _space(space, metas, files[0]), _metric(metric, metas)


def _space(space, metas, first: Path) -> ConfigurationSpace:
    if isinstance(space, ConfigurationSpace):
        return space
    if space is not None:
        return spaces.load(space)
    for path, meta in metas:
        if meta.get("space"):
            return space_of(meta, where=path)
    for cand in (first.with_suffix(".space.json"), first.parent / "space.json",
                 first.parent / "config_space.json"):
        if cand.exists():
            return spaces.load(cand)
    raise RecordError(f"no ConfigSpace for {first}: pass one (--space FILE), or put "
                      f"{first.with_suffix('.space.json').name} or the run's {META} next to the record")


def _metric(metric, metas) -> Metric:
    if metric is not None:
        try:
            return Metric.of(metric)
        except ValueError as e:
            raise RecordError(str(e)) from None
    found = {}
    for path, meta in metas:
        found.setdefault(metric_of(meta, path), path)
    if len(found) > 1:
        raise RecordError("the records declare different metrics: " + "; ".join(
            f"{m.describe()} ({p})" for m, p in found.items()))
    return next(iter(found), Metric.of(None))
