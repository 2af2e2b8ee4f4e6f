"""Where the offline datasets are found, and what to tell a user who lacks one.

No heavy imports: checking for data must be instant.

    >>> from hpobench.data import sources
    >>> sources.find("cifar10")  # doctest: +SKIP
    PosixPath('/work/shared/data/cifar10-jpeg.tar.gz')
"""

from __future__ import annotations

import os
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
