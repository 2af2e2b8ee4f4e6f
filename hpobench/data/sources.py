"""Where the offline datasets are found, and what to tell a user who lacks one; image folders scanned.

No heavy imports: checking for data must be instant. `scan_folder` reads the layout of
any class-per-folder image tree (or tar archive of one) without decoding an image.

    >>> from hpobench.data import sources
    >>> sources.find("cifar10")  # doctest: +SKIP
    PosixPath('/work/shared/data/cifar10-jpeg.tar.gz')
"""

from __future__ import annotations

import collections
import hashlib
import os
import posixpath
import tarfile
from dataclasses import dataclass
from pathlib import Path

VERSION = "1.0.0"  # of the local tfds builders; bump when their output changes

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
FASHION_CLASSES = ("t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker",
                   "bag", "ankle boot")

# Where each source is looked for, in order, after its environment variable.
ENV = {"cifar10": "HPOBENCH_CIFAR10", "fashion_mnist": "HPOBENCH_FASHION_MNIST"}
_REPO = Path(__file__).resolve().parents[2]
DEFAULT_PATHS = {
    "cifar10": [Path("../shared/data/cifar10-jpeg.tar.gz"), _REPO.parent / "shared/data/cifar10-jpeg.tar.gz"],
    "fashion_mnist": [Path("/usr/share/datasets/fashion-mnist")],
}
HOW_TO_GET = {
    "cifar10": "put cifar10-jpeg.tar.gz at ../shared/data/ or point $HPOBENCH_CIFAR10 (or --data) at it",
    "fashion_mnist": "run `apt-get install dataset-fashion-mnist` (Debian) or point $HPOBENCH_FASHION_MNIST "
                     "(or --data) at a folder holding the four *-idx*-ubyte.gz files",
}


def find(name: str, path: str | os.PathLike | None = None) -> Path | None:
    """The source path: the explicit one if given, else $ENV, else the first default that exists."""
    if path:
        candidates = [Path(path)]
    elif os.environ.get(ENV[name]):
        candidates = [Path(os.environ[ENV[name]])]
    else:
        candidates = DEFAULT_PATHS[name]
    for c in candidates:
        if name == "cifar10" and c.is_file():
            return c.resolve()
        if name == "fashion_mnist" and (c / "train-images-idx3-ubyte.gz").is_file():
            return c.resolve()
    return None


CLASSES = {"cifar10": CIFAR10_CLASSES, "fashion_mnist": FASHION_CLASSES}


# Image folders: any class-per-folder tree of JPEG/PNG images, or a tar archive of one.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
MIN_TRAIN = 2  # per class: one to train on, one to validate on


@dataclass(frozen=True)
class ImageTree:
    """A scanned image folder (or archive): what `local.ImageFolder` prepares."""

    path: Path  # resolved folder or tar archive
    classes: tuple[str, ...]  # folder names, sorted; a label is an index into this
    splits: dict  # "train" (and "test" when the tree has one) -> ((member, label), ...), sorted by member
    fingerprint: str

    def show(self, member: str = "") -> str:
        """How to name a member in a message: a file path, or archive:member."""
        if not member:
            return str(self.path)
        return str(self.path / member) if self.path.is_dir() else f"{self.path}:{member}"


def _hidden(rel: str) -> bool:
    return any(part.startswith(".") for part in rel.split("/"))


def _listing(path: Path) -> tuple[set[str], list[tuple[str, int, int]]]:
    """(directories, image files as (member, size, mtime_ns)) of a folder or tar archive, relative posix paths.

    Hidden files and folders (a leading '.') and files that are not .jpg/.jpeg/.png are left out.
    """
    from hpobench.data import DataError
    dirs, files = set(), []
    if path.is_dir():
        for root, subdirs, names in os.walk(path):
            subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
            rel = Path(root).relative_to(path).as_posix()
            rel = "" if rel == "." else rel
            dirs.update(posixpath.join(rel, d) for d in subdirs)
            for n in names:
                if not n.startswith(".") and n.lower().endswith(IMAGE_SUFFIXES):
                    st = os.stat(os.path.join(root, n))
                    files.append((posixpath.join(rel, n), st.st_size, st.st_mtime_ns))
        return dirs, files
    try:
        tar = tarfile.open(path, "r:*")
    except (tarfile.TarError, OSError) as e:
        raise DataError(f"{path}: neither a folder nor a readable tar archive ({e})") from None
    with tar:
        for m in tar:
            rel = posixpath.normpath(m.name).lstrip("/")
            if rel in ("", ".") or _hidden(rel):
                continue
            if m.isdir():
                dirs.add(rel)
            elif m.isfile() and rel.lower().endswith(IMAGE_SUFFIXES):
                files.append((rel, m.size, int(m.mtime)))
    for rel, _, _ in files:  # folders implied by members (archives need not list them)
        parent = posixpath.dirname(rel)
        while parent:
            dirs.add(parent)
            parent = posixpath.dirname(parent)
    return dirs, files


def folder_fingerprint(path: str | os.PathLike) -> tuple[Path, str]:
    """(resolved path, fingerprint): cheap, no file is read. A folder: every image file's path, size
    and mtime (and the folder names); an archive: its size and mtime. Any edit changes it."""
    from hpobench.data import DataError
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"{p}: no such file or directory (expected a class-per-folder image tree "
                        f"or a tar archive of one)")
    p = p.resolve()
    if p.is_dir():
        dirs, files = _listing(p)
        text = "\n".join(sorted(dirs)) + "\n" + "\n".join(f"{r}\t{s}\t{t}" for r, s, t in sorted(files))
    else:
        st = p.stat()
        text = f"{st.st_size}\t{st.st_mtime_ns}"
    return p, hashlib.sha1(text.encode()).hexdigest()[:16]


def scan_folder(path: str | os.PathLike) -> ImageTree:
    """Find the classes and splits of an image folder or tar archive; a clear error on bad input.

    Layout: `<class>/<image>` (images at any depth below the class folder), optionally under
    `train/` and `test/` (then those are the splits; otherwise everything is train, and the
    caller carves a test split), and optionally wrapped in single folders (`cifar10/train/...`).
    Errors (`DataError`, naming the path): missing path, fewer than 2 classes, an empty class
    folder, images outside a class folder, a test class that train lacks, a class with fewer
    than 2 training images. Unreadable images are found when decoding (`local.ImageFolder`).
    """
    from hpobench.data import DataError
    p, fingerprint = folder_fingerprint(path)
    dirs, files = _listing(p)
    tree = ImageTree(p, (), {}, fingerprint)
    kids: dict[str, set[str]] = {}
    for d in dirs:
        kids.setdefault(posixpath.dirname(d), set()).add(d)
    direct: dict[str, list[str]] = {}
    for rel, _, _ in files:
        direct.setdefault(posixpath.dirname(rel), []).append(rel)
    node = ""
    while not direct.get(node) and len(kids.get(node, ())) == 1 and \
            posixpath.basename(next(iter(kids[node]))) != "train":
        node = next(iter(kids[node]))  # a wrapping folder: look inside
    if not kids.get(node):
        if direct.get(node) and node:
            raise DataError(f"{tree.show()}: found 1 class ({posixpath.basename(node)!r}); need at least 2, "
                            f"one folder of images each")
        raise DataError(f"{tree.show(node)}: no class folders with .jpg/.jpeg/.png images; expected "
                        f"<class>/<image> (at least 2 classes), optionally under train/ and test/")
    names = {posixpath.basename(k): k for k in kids[node]}
    roots = {s: names[s] for s in ("train", "test") if s in names} if "train" in names else {"train": node}
    splits, classes = {}, None
    for split, root in roots.items():
        stray = sorted(direct.get(root, []))
        if stray:
            raise DataError(f"{tree.show(stray[0])}: an image outside a class folder; expected "
                            f"{tree.show(root)}/<class>/<image>")
        found = sorted(posixpath.basename(k) for k in kids.get(root, ()))
        if split == "train":
            classes = tuple(found)
            if len(classes) < 2:
                raise DataError(f"{tree.show(root)}: found {len(classes)} class folder(s) {list(classes)}; "
                                f"need at least 2")
        else:
            extra = sorted(set(found) - set(classes))
            if extra:
                raise DataError(f"{tree.show(posixpath.join(root, extra[0]))}: test class {extra[0]!r} is not "
                                f"among the training classes")
        prefix, index = root + "/" if root else "", {c: i for i, c in enumerate(classes)}
        members = sorted((rel, index[rel[len(prefix):].split("/")[0]])
                         for rel, _, _ in files if rel.startswith(prefix) and rel[len(prefix):].count("/") >= 1)
        counts = collections.Counter(label for _, label in members)
        for c in found:
            n = counts[index[c]]
            if n == 0:
                raise DataError(f"{tree.show(posixpath.join(root, c))}: empty class folder "
                                f"(no .jpg/.jpeg/.png images)")
            if split == "train" and n < MIN_TRAIN + ("test" not in roots):
                raise DataError(f"{tree.show(posixpath.join(root, c))}: only {n} image(s); a class needs at "
                                f"least {MIN_TRAIN + ('test' not in roots)} (train and validation"
                                f"{'' if 'test' in roots else ', and test: the tree has no test/ folder'})")
        if not members:
            raise DataError(f"{tree.show(root)}: no images in the {split} folder")
        splits[split] = tuple(members)
    return ImageTree(p, classes, splits, fingerprint)
