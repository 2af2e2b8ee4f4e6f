"""tfds builders for the offline sources: CIFAR-10 (JPEG archive), Fashion-MNIST (idx), image folders.

They write `array_record` files with `tfds.features.Tensor` features, so they are
prepared and read (`as_data_source()`) without TensorFlow.

    >>> from hpobench.data import local, sources
    >>> b = local.FashionMnistIdx(source=sources.find("fashion_mnist"), data_dir="/tmp/tfds")  # doctest: +SKIP
    >>> b.download_and_prepare(); len(b.as_data_source()["test"])  # doctest: +SKIP
    10000
"""

from __future__ import annotations

import gzip
import io
import posixpath
import tarfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from hpobench.data.sources import CIFAR10_CLASSES, FASHION_CLASSES, VERSION

tfds.disable_progress_bar()


class _LocalBuilder(tfds.core.GeneratorBasedBuilder):
    """Shared set-up: the source path is a constructor argument, not a download."""

    SHAPE: tuple[int, ...] = ()
    CLASSES: tuple[str, ...] = ()

    def __init__(self, *, source: Path, **kwargs):
        self.source = Path(source)
        super().__init__(file_format="array_record", **kwargs)

    def _info(self):
        return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
            "image": tfds.features.Tensor(shape=self.SHAPE, dtype=np.uint8),
            "label": tfds.features.ClassLabel(names=list(self.CLASSES)),
        }), supervised_keys=("image", "label"))

    def _split_generators(self, dl_manager):
        return {split: self._generate_examples(split) for split in ("train", "test")}

    # tfds prints "Downloading and preparing dataset Unknown size ..." and "Dataset ... downloaded
    # and prepared ..." here; nothing is downloaded from a local source, and `data.preparing` says
    # what happens in the project's words.
    def _log_download_bytes(self) -> None:
        pass

    def _log_download_done(self) -> None:
        pass


def _read(source: Path, want) -> Iterator[tuple[str, bytes]]:
    """(member, bytes) of each file of a folder or tar archive whose relative posix path `want`s;
    an archive is read in one pass, in its own order (no seeking in a compressed stream)."""
    from hpobench.data import DataError
    if source.is_dir():
        for p in sorted(source.rglob("*")):
            rel = p.relative_to(source).as_posix()
            if p.is_file() and want(rel):
                try:
                    yield rel, p.read_bytes()
                except OSError as e:
                    raise DataError(f"{p}: unreadable ({e})") from None
        return
    with tarfile.open(source, "r:*") as tar:
        for member in tar:
            rel = posixpath.normpath(member.name).lstrip("/")
            if member.isfile() and want(rel):
                yield rel, tar.extractfile(member).read()


def _decode(data: bytes, where: str, size: int | None = None) -> np.ndarray:
    """An image as uint8 RGB (greyscale replicated, alpha dropped), resized to size x size if given."""
    from PIL import Image

    from hpobench.data import DataError
    try:
        with Image.open(io.BytesIO(data)) as im:
            im = im.convert("RGB")  # also forces the full decode: a truncated file fails here
            if size is not None and im.size != (size, size):
                shrink = im.width >= size and im.height >= size  # area averaging, as the resolution fidelity
                im = im.resize((size, size), Image.Resampling.BOX if shrink else Image.Resampling.BICUBIC)
            return np.asarray(im, dtype=np.uint8)
    except Exception as e:  # PIL raises UnidentifiedImageError, OSError, SyntaxError, ...
        raise DataError(f"{where}: not a readable image ({type(e).__name__}: {e})") from None


class Cifar10Jpeg(_LocalBuilder):
    """CIFAR-10 from `cifar10/{train,test}/<class>/NNNN.jpg` inside a .tar.gz."""

    VERSION = tfds.core.Version(VERSION)
    SHAPE = (32, 32, 3)
    CLASSES = CIFAR10_CLASSES

    def _generate_examples(self, split):
        def want(rel):
            return len(parts := rel.split("/")) == 4 and parts[1] == split
        for rel, data in _read(self.source, want):
            _, _, label, file = rel.split("/")
            yield f"{split}/{label}/{file}", {"image": _decode(data, f"{self.source}:{rel}"), "label": label}


class ImageFolder(_LocalBuilder):
    """Any class-per-folder tree of JPEG/PNG images, or a tar archive of one, at `native` x `native` RGB.

    `tree` is its `sources.scan_folder` (classes, and which member goes to which split);
    every image is resized once, stretched to a square (aspect ratio not kept), by area
    averaging when shrinking and bicubic when enlarging; greyscale and RGBA become RGB.
    """

    VERSION = tfds.core.Version(VERSION)

    def __init__(self, *, tree, splits: dict, native: int, **kwargs):
        self.tree, self.split_members, self.native = tree, splits, native
        self.SHAPE, self.CLASSES = (native, native, 3), tuple(tree.classes)
        super().__init__(source=tree.path, **kwargs)

    def _info(self):
        info = super()._info()  # + the member's position in sorted order: read back in that order
        return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
            **info.features, "index": tfds.features.Tensor(shape=(), dtype=np.int64)}),
            supervised_keys=("image", "label"))

    def _generate_examples(self, split):
        where = {rel: (i, label) for i, (rel, label) in enumerate(self.split_members[split])}
        for rel, data in _read(self.source, where.__contains__):
            i, label = where[rel]
            yield rel, {"image": _decode(data, self.tree.show(rel), self.native), "label": label, "index": i}


def read_idx(path: Path) -> np.ndarray:
    """An idx file (the MNIST format), gzipped or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = np.frombuffer(data, ">u4", count=ndim, offset=4).astype(int)
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


class FashionMnistIdx(_LocalBuilder):
    """Fashion-MNIST from the four idx files of the Debian package."""

    VERSION = tfds.core.Version(VERSION)
    SHAPE = (28, 28, 1)
    CLASSES = FASHION_CLASSES

    def _generate_examples(self, split):
        prefix = "train" if split == "train" else "t10k"
        images = read_idx(self.source / f"{prefix}-images-idx3-ubyte.gz")
        labels = read_idx(self.source / f"{prefix}-labels-idx1-ubyte.gz")
        for i, (image, label) in enumerate(zip(images, labels)):
            yield i, {"image": image[..., None], "label": int(label)}


BUILDERS = {"cifar10": Cifar10Jpeg, "fashion_mnist": FashionMnistIdx}
