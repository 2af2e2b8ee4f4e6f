"""tfds catalog datasets (cifar10, cifar100, ...): needs TensorFlow and a network once.

Never lets tfds hang: without TensorFlow it fails at once; with it, a dataset that
is not yet prepared is only downloaded after a 2 s reachability check, since
`tfds.load` with no network retries for minutes.

    >>> from hpobench.data import catalog
    >>> catalog.load("cifar100", "/tmp/tfds")  # doctest: +SKIP
"""

from __future__ import annotations

import importlib.util
import socket
from pathlib import Path

import numpy as np

DOWNLOAD_HOST = ("storage.googleapis.com", 443)


def _reachable(host: tuple[str, int], timeout: float = 2.0) -> bool:
    try:
        socket.create_connection(host, timeout=timeout).close()
        return True
    except OSError:
        return False


def load(name: str, data_dir: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from hpobench.data import DataError, preparing
    if importlib.util.find_spec("tensorflow") is None:
        raise DataError(f"dataset {name!r} is a tfds catalog dataset and needs TensorFlow: "
                        f"pip install 'hpobench[tfds-catalog]' on a machine with network access "
                        f"(offline sources here: cifar10, fashion_mnist)")
    import tensorflow_datasets as tfds
    try:
        builder = tfds.builder(name, data_dir=str(data_dir))
    except Exception as e:  # tfds raises DatasetNotFoundError and friends
        raise DataError(f"unknown tfds dataset {name!r}: {e}") from None
    if not builder.is_prepared():
        if not _reachable(DOWNLOAD_HOST):
            raise DataError(f"tfds dataset {name!r} is not prepared in {data_dir} and the download "
                            f"host is unreachable; prepare it on a machine with network access")
        with preparing(f"tfds dataset {name}", f"https://{DOWNLOAD_HOST[0]}", verb="downloading"):
            builder.download_and_prepare()
    out = {}
    for split in ("train", "test"):
        x, y = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1, as_supervised=True))
        out[split] = (np.asarray(x, np.uint8), np.asarray(y, np.int32))
    return out
