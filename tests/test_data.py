import gzip
import time

import numpy as np
import pytest

from hpobench import data
from hpobench.data import local, sources


@pytest.mark.slow
def test_cifar10_splits(cifar10):
    assert cifar10.x_train.shape == (45000, 32, 32, 3) and cifar10.x_train.dtype == np.uint8
    assert cifar10.x_val.shape == (5000, 32, 32, 3)
    assert cifar10.x_test.shape == (10000, 32, 32, 3)
    assert np.bincount(cifar10.y_val).tolist() == [500] * 10  # stratified validation split
    assert np.bincount(cifar10.y_test).tolist() == [1000] * 10
    assert cifar10.classes[0] == "airplane" and cifar10.num_classes == 10
    # the images are real photos: far from constant, mean near CIFAR-10's known ~120
    assert 100 < cifar10.x_train.mean() < 140 and cifar10.x_train.std() > 50


def test_validation_split_is_deterministic_and_disjoint():
    y = np.repeat(np.arange(10), 50)
    rest, held = data.stratified_split(y, 0.1, seed=0)
    rest2, held2 = data.stratified_split(y, 0.1, seed=0)
    assert np.array_equal(held, held2) and np.array_equal(rest, rest2)
    assert not set(rest) & set(held) and len(rest) + len(held) == len(y)
    assert np.bincount(y[held]).tolist() == [5] * 10


@pytest.mark.slow
def test_second_load_uses_cache(cifar10):
    cache = data.data_dir() / "arrays" / f"cifar10-{sources.VERSION}"
    assert (cache / "done").exists() and (cache / "x_train.npy").exists()


@pytest.mark.slow
def test_fashion_mnist(fashion):
    assert fashion.x_train.shape == (54000, 28, 28, 1)
    assert fashion.x_test.shape == (10000, 28, 28, 1)
    assert np.bincount(fashion.y_val).tolist() == [600] * 10


@pytest.mark.slow
def test_nested_stratified_subsets(cifar10):
    y = cifar10.y_train
    fractions = (0.01, 0.1, 0.25, 0.5, 1.0)
    subsets = [set(data.nested_subset(y, f, seed=0)) for f in fractions]
    for small, big in zip(subsets, subsets[1:]):
        assert small < big
    counts = np.bincount(y[sorted(subsets[1])])
    assert counts.min() == counts.max() == 450  # 10% of 4,500 per class
    assert len(subsets[-1]) == len(y)
    assert set(data.nested_subset(y, 0.1, seed=1)) != subsets[1]  # the data seed matters


def test_subset_rejects_bad_fraction():
    with pytest.raises(ValueError, match="data_fraction"):
        data.nested_subset(np.zeros(10, int), 0.0, seed=0)


def test_resize_is_area_average():
    x = np.arange(2 * 4 * 4 * 1, dtype=np.uint8).reshape(2, 4, 4, 1)
    small = data.resize(x, 2)
    assert small.shape == (2, 2, 2, 1)
    assert small[0, 0, 0, 0] == pytest.approx(np.mean([0, 1, 4, 5]))
    assert data.resize(x, 4) is x
    with pytest.raises(ValueError, match="does not divide"):
        data.resize(x, 3)


def test_missing_dataset_fails_fast_with_instructions(tmp_path, monkeypatch):
    monkeypatch.setenv("HPOBENCH_DATA_DIR", str(tmp_path))
    t = time.perf_counter()
    with pytest.raises(data.DataError, match="HPOBENCH_CIFAR10"):
        data.load.__wrapped__("cifar10", str(tmp_path / "missing.tar.gz"))
    with pytest.raises(data.DataError, match="apt-get install dataset-fashion-mnist"):
        data.load.__wrapped__("fashion_mnist", str(tmp_path))
    with pytest.raises(data.DataError, match="TensorFlow"):  # no TF here: fail at once, never hang
        data.load.__wrapped__("cifar100")
    assert time.perf_counter() - t < 2.0


def test_idx_reader(tmp_path):
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    header = bytes([0, 0, 8, 3]) + np.array([2, 3, 4], ">u4").tobytes()
    path = tmp_path / "x-idx3-ubyte.gz"
    with gzip.open(path, "wb") as f:
        f.write(header + arr.tobytes())
    assert np.array_equal(local.read_idx(path), arr)


def test_builder_reads_the_archive(tmp_path):
    """The CIFAR-10 tfds builder on a two-image archive made here: real JPEG decoding."""
    import io
    import tarfile

    from PIL import Image
    src = tmp_path / "mini.tar.gz"
    with tarfile.open(src, "w:gz") as tar:
        for split, cls, value in (("train", "cat", 10), ("test", "dog", 200)):
            buf = io.BytesIO()
            Image.fromarray(np.full((32, 32, 3), value, np.uint8)).save(buf, "JPEG", quality=95)
            info = tarfile.TarInfo(f"cifar10/{split}/{cls}/0001.jpg")
            info.size = len(buf.getvalue())
            tar.addfile(info, io.BytesIO(buf.getvalue()))
    builder = local.Cifar10Jpeg(source=src, data_dir=str(tmp_path / "tfds"))
    builder.download_and_prepare()
    train = builder.as_data_source()["train"]
    assert len(train) == 1
    row = train[0]
    assert row["label"] == sources.CIFAR10_CLASSES.index("cat")
    assert abs(int(row["image"].mean()) - 10) <= 2
