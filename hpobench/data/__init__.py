"""Datasets for the live benchmarks: load, split, subset, resize.

Sources: the offline tfds builders of `local` (CIFAR-10 JPEG archive, Fashion-MNIST
idx files, any class-per-folder image tree or archive: `load_folder`) and the tfds
catalog (`catalog`). Prepared data lives in a tfds data
dir (`$HPOBENCH_DATA_DIR`, default `~/.cache/hpobench`); decoded arrays are also
kept there as `.npy` so that a second load takes well under a second. Preparing says so
on stderr in the project's words (`preparing`); stdout stays a command's result.

    >>> from hpobench import data
    >>> ds = data.load("fashion_mnist")  # doctest: +SKIP
    >>> ds.x_train.shape, ds.x_val.shape, ds.x_test.shape  # doctest: +SKIP
    ((54000, 28, 28, 1), (6000, 28, 28, 1), (10000, 28, 28, 1))
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hpobench.data import sources
from hpobench.data.transforms import nested_subset, resize, stratified_split

__all__ = ["DataError", "Dataset", "load", "load_folder", "nested_subset", "resize", "stratified_split", "data_dir",
           "preparing"]

VAL_FRACTION = 0.1  # carved from train, stratified; what HPO optimises
SPLIT_SEED = 0  # fixed: every run of every study sees the same validation set
TEST_FRACTION = 0.2  # image folders without a test/ folder: carved from all images, stratified


class DataError(ValueError):
    """A dataset is missing or unreadable; the message says how to get it."""


@dataclass(frozen=True, eq=False)  # identity hash: keys per-process caches of derived arrays
class Dataset:
    name: str
    x_train: np.ndarray  # uint8, NHWC; train minus validation
    y_train: np.ndarray  # int32
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def resolution(self) -> int:
        return self.x_train.shape[1]


def data_dir() -> Path:
    return Path(os.environ.get("HPOBENCH_DATA_DIR", Path.home() / ".cache" / "hpobench"))


@contextlib.contextmanager
def preparing(what: str, source: str | os.PathLike, verb: str = "preparing"):
    """Around a tfds `download_and_prepare()`: one line on stderr before (`hpobench: preparing
    fashion_mnist from SOURCE into DATA_DIR (once) ...`) and one after, with the time taken, and
    whatever is printed meanwhile sent to stderr as well: a command's stdout carries only its result
    (`hpobench evaluate ... | jq` works on a new machine too). tfds prints its progress lines with
    `print` on stdout ("Print is intentional", tensorflow_datasets.core.dataset_builder)."""
    print(f"hpobench: {verb} {what} from {source} into {data_dir()} (once) ...", file=sys.stderr, flush=True)
    t = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):
        yield
    print(f"hpobench: {what} ready ({time.perf_counter() - t:.0f} s); later loads read the cache",
          file=sys.stderr, flush=True)


@contextlib.contextmanager
def _once(cache: Path):
    """Whether `cache` still needs preparing, asked under an exclusive lock held meanwhile: of processes
    preparing the same data at once (a grid's workers or parallel tests on a fresh machine), one prepares
    and the others wait, then read its cache."""
    if (cache / "done").exists():
        yield False
        return
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the process dies
        yield not (cache / "done").exists()


def _arrays(name: str, source: str | None) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], tuple[str, ...]]:
    """(x, y) per split, from the .npy cache or by preparing the tfds builder once."""
    if name in sources.CLASSES:
        # an explicit source gets its own cache, so it never silently reuses another's arrays
        tag = f"-{zlib.crc32(str(Path(source).resolve()).encode()):08x}" if source else ""
        cache = data_dir() / "arrays" / f"{name}-{sources.VERSION}{tag}"
        classes = sources.CLASSES[name]
        with _once(cache) as todo:
            if todo:
                path = sources.find(name, source)
                if path is None:
                    raise DataError(f"dataset {name!r} not found; to get it, {sources.HOW_TO_GET[name]}")
                from hpobench.data import local  # imports tfds: only when preparing
                builder = local.BUILDERS[name](source=path, data_dir=str(data_dir() / "tfds"))
                with preparing(name, path):
                    builder.download_and_prepare()
                    _save(cache, _read_source(builder.as_data_source()))
    else:
        cache = data_dir() / "arrays" / f"{name}-catalog"
        with _once(cache) as todo:
            if todo:
                from hpobench.data import catalog
                _save(cache, catalog.load(name, data_dir() / "tfds"))
        classes = tuple(str(i) for i in range(int(np.load(cache / "y_train.npy").max()) + 1))
    out = {s: (np.load(cache / f"x_{s}.npy"), np.load(cache / f"y_{s}.npy")) for s in ("train", "test")}
    return out, classes


def _read_source(sources) -> dict:
    out = {}
    for split in ("train", "test"):
        ds = sources[split]
        rows = ds.__getitems__(range(len(ds)))
        if rows and "index" in rows[0]:  # image folders: back to sorted member order, not tfds' shuffle
            rows = sorted(rows, key=lambda r: r["index"])
        out[split] = (np.stack([r["image"] for r in rows]), np.array([r["label"] for r in rows], np.int32))
    return out


def _save(cache: Path, arrays: dict) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    for split, (x, y) in arrays.items():
        for key, a in (("x", x), ("y", y)):
            tmp = cache / f"{key}_{split}.tmp.npy"
            np.save(tmp, a)
            tmp.replace(cache / f"{key}_{split}.npy")  # atomic: a killed prepare leaves no half file
    (cache / "done").touch()


@functools.lru_cache(maxsize=4)
def load(name: str, source: str | None = None) -> Dataset:
    """Train/validation/test arrays of `name` (`cifar10`, `fashion_mnist`, or a tfds catalog name)."""
    arrays, classes = _arrays(name, source)
    return _dataset(name, arrays, classes)


def _dataset(name: str, arrays: dict, classes: tuple[str, ...]) -> Dataset:
    (x, y), (x_test, y_test) = arrays["train"], arrays["test"]
    train_idx, val_idx = stratified_split(y, VAL_FRACTION, SPLIT_SEED)
    return Dataset(name, x[train_idx], y[train_idx], x[val_idx], y[val_idx], x_test, y_test, classes)


@functools.lru_cache(maxsize=4)
def load_folder(path: str | os.PathLike, native: int = 32) -> Dataset:
    """A class-per-folder tree of JPEG/PNG images, or a tar archive of one, as a `Dataset`.

    Layout and bad-input errors: `sources.scan_folder` (classes = sorted folder names; hidden
    files and files other than .jpg/.jpeg/.png are ignored). Every image becomes RGB at
    `native` x `native` (`local.ImageFolder`). The tree's `train/` and `test/` folders are the
    splits; without them a stratified `TEST_FRACTION` of every class is carved out as test
    (seed `SPLIT_SEED`). Validation: a stratified `VAL_FRACTION` of train, as for every dataset.
    Prepared once into the tfds/array cache, keyed by the resolved path, a cheap fingerprint
    (file names, sizes, mtimes) and `native`: another or an edited folder is prepared anew.
    """
    if isinstance(native, bool) or not isinstance(native, int) or native < 4:
        raise DataError(f"native size must be an integer >= 4 (pixels), got {native!r}")
    p, fingerprint = sources.folder_fingerprint(path)
    slug = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in p.name)[:40]
    key = f"folder-{slug}-{zlib.crc32(str(p).encode()):08x}-{fingerprint}-{native}px-{sources.VERSION}"
    cache = data_dir() / "arrays" / key
    with _once(cache) as todo:
        if todo:
            _prepare_folder(p, native, key, cache)
    classes = tuple(json.loads((cache / "classes.json").read_text())["classes"])
    arrays = {s: (np.load(cache / f"x_{s}.npy"), np.load(cache / f"y_{s}.npy")) for s in ("train", "test")}
    return _dataset(f"folder/{p.name}", arrays, classes)


def _prepare_folder(p: Path, native: int, key: str, cache: Path) -> None:
    """`load_folder`'s tfds preparation of the tree at `p` into `cache`."""
    tree = sources.scan_folder(p)
    splits = dict(tree.splits)
    if "test" not in splits:
        members = splits["train"]
        rest, held = stratified_split(np.array([label for _, label in members]), TEST_FRACTION, SPLIT_SEED)
        splits = {"train": tuple(members[i] for i in rest), "test": tuple(members[i] for i in held)}
    from hpobench.data import local  # imports tfds: only when preparing
    builder = local.ImageFolder(tree=tree, splits=splits, native=native, data_dir=str(data_dir() / "tfds" / key))
    with preparing(f"folder/{p.name} at {native}x{native}", p):
        builder.download_and_prepare()
        (cache / "classes.json").write_text(json.dumps({"classes": list(tree.classes), "source": str(p),
                                                         "test": "folder" if "test" in tree.splits else "carved"}))
        _save(cache, _read_source(builder.as_data_source()))
