"""tfds builders for the offline sources: CIFAR-10 (JPEG archive) and Fashion-MNIST (idx).

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
import tarfile
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


class Cifar10Jpeg(_LocalBuilder):
    """CIFAR-10 from `cifar10/{train,test}/<class>/NNNN.jpg` inside a .tar.gz."""

    VERSION = tfds.core.Version(VERSION)
    SHAPE = (32, 32, 3)
    CLASSES = CIFAR10_CLASSES

    def _generate_examples(self, split):
        from PIL import Image
        with tarfile.open(self.source, "r:gz") as tar:
            for member in tar:
                parts = Path(member.name).parts
                if not member.isfile() or len(parts) != 4 or parts[1] != split:
                    continue
                label = parts[2]
                with Image.open(io.BytesIO(tar.extractfile(member).read())) as im:
                    image = np.asarray(im.convert("RGB"), dtype=np.uint8)
                yield f"{split}/{label}/{parts[3]}", {"image": image, "label": label}


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
