"""Image-folder datasets (`resnet/folder --data PATH`): layouts, preparation, bad input, a 100-class scope.

The trees are written on the fly with PIL: every class has its own colour (plus noise), so
a tiny net has something to learn. Prepared data goes to the user's cache like every test
(the oneDNN kernels and compiled programs there are reused); each tree's entries are
removed again afterwards.
"""

import shutil
import subprocess
import sys
import tarfile
import zlib

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import hpobench
from hpobench import data
from hpobench.benchmarks import BenchmarkError
from hpobench.data import sources

SCOPE_ARGS = ["--bench-arg", "native=16", "--budget", "7.5", "--n-low", "20", "--n-probe", "15", "--fixed",
              "--low", "epochs=1,data_fraction=0.5,resolution=8", "--probe", "epochs=1,data_fraction=1,resolution=8",
              "--n-boot", "10", "--quiet"]


def make_tree(root, n_classes=3, per_class=6, size=20, splits=False, seed=0):
    """`root/[train|test/]class_NNN/i.{png,jpg}`: class colours, some greyscale and RGBA images."""
    rng = np.random.default_rng(seed)
    for c in range(n_classes):
        colour = rng.integers(0, 256, 3)
        for i in range(per_class):
            split = ("test/" if i % 3 == 0 else "train/") if splits else ""
            folder = root / f"{split}class_{c:03d}"
            folder.mkdir(parents=True, exist_ok=True)
            pixels = np.clip(colour + rng.normal(0, 25, (size, size + i, 3)), 0, 255).astype(np.uint8)
            im = Image.fromarray(pixels)
            im = im.convert("L") if i == 1 else im.convert("RGBA") if i == 2 else im
            im.save(folder / f"{i}.{'jpg' if i % 2 and im.mode != 'RGBA' else 'png'}")
    return root


def forget(path):
    """Remove a tree's prepared data from the cache (its entries carry the crc of its resolved path)."""
    tag = f"-{zlib.crc32(str(path.resolve()).encode()):08x}-"
    for sub in ("arrays", "tfds"):
        for d in (data.data_dir() / sub).glob(f"folder-*{tag}*"):
            shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def tree(tmp_path):
    root = make_tree(tmp_path / "imgs")
    yield root
    forget(root)


@pytest.fixture(scope="session")
def hundred(tmp_path_factory):
    """100 classes x 6 images of 20x(20..25) px, mixed PNG/JPEG, grey and RGBA among them; and noise files."""
    root = make_tree(tmp_path_factory.mktemp("h") / "hundred", n_classes=100)
    (root / "README.txt").write_text("not an image")
    (root / "class_007" / ".DS_Store").write_bytes(b"\0\1")
    (root / ".cache").mkdir()
    (root / ".cache" / "x.png").write_bytes(b"hidden folders are skipped")
    yield root
    forget(root)


def test_scan_flat_split_and_wrapped_layouts(tmp_path):
    flat = sources.scan_folder(make_tree(tmp_path / "flat", n_classes=4))
    assert flat.classes == ("class_000", "class_001", "class_002", "class_003")
    assert set(flat.splits) == {"train"} and len(flat.splits["train"]) == 24
    make_tree(tmp_path / "wrap" / "inner" / "ds", splits=True)
    split = sources.scan_folder(tmp_path / "wrap")
    assert set(split.splits) == {"train", "test"}  # wrapping folders skipped, train/ and test/ used
    assert len(split.splits["train"]) == 12 and len(split.splits["test"]) == 6
    assert split.splits["test"][0] == ("inner/ds/test/class_000/0.png", 0)


def test_prepare_and_load_100_classes(hundred):
    ds = data.load_folder(hundred, 16)
    assert ds.num_classes == 100 and ds.classes[7] == "class_007"
    # no test/ folder: 1 of 6 per class carved for test, then 1 of 5 for validation, stratified
    assert ds.x_train.shape == (400, 16, 16, 3) and ds.x_train.dtype == np.uint8
    assert np.bincount(ds.y_val).tolist() == [1] * 100 and np.bincount(ds.y_test).tolist() == [1] * 100
    assert np.bincount(ds.y_train).tolist() == [4] * 100
    # class colours survive the resize: validation images mostly nearest their own class's mean colour
    # (chance 1%; 100 random colours crowd RGB space, and one image in six is greyscale)
    means = np.stack([ds.x_train[ds.y_train == c].mean(axis=(0, 1, 2)) for c in range(100)])
    val = ds.x_val.mean(axis=(1, 2))
    nearest = np.argmin(((val[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    assert np.mean(nearest == ds.y_val) > 0.4
    again = data.load_folder(str(hundred), 16)  # str or Path, cached arrays: identical
    assert np.array_equal(again.x_val, ds.x_val) and np.array_equal(again.y_train, ds.y_train)


def test_grey_and_rgba_become_rgb_and_sizes_are_native(tree):
    ds = data.load_folder(tree, 8)
    assert ds.x_train.shape[1:] == (8, 8, 3) and ds.x_test.shape[1:] == (8, 8, 3)
    grey = [x for x in np.concatenate([ds.x_train, ds.x_val, ds.x_test])
            if np.array_equal(x[..., 0], x[..., 1]) and np.array_equal(x[..., 1], x[..., 2])]
    assert len(grey) == 3  # one greyscale image per class, replicated to three channels


def test_tar_archive_matches_the_folder(tmp_path):
    root = make_tree(tmp_path / "split", splits=True)
    archive = tmp_path / "split.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root, arcname="split")
    try:
        a, b = data.load_folder(archive, 16), data.load_folder(root, 16)
        assert a.classes == b.classes and len(a.y_test) == 6  # the test/ folder is the test split
        for k in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
            assert np.array_equal(getattr(a, k), getattr(b, k)), k
    finally:
        forget(archive)
        forget(root)


def test_cache_key_follows_path_content_and_native(tree, tmp_path):
    p, before = sources.folder_fingerprint(tree)
    assert p == tree.resolve() and sources.folder_fingerprint(tree)[1] == before
    make_tree(tree, n_classes=4)  # a class added: another dataset
    assert sources.folder_fingerprint(tree)[1] != before
    assert data.load_folder(tree, 16).num_classes == 4
    other = make_tree(tmp_path / "other", n_classes=4)
    try:
        assert sources.folder_fingerprint(other)[1] != sources.folder_fingerprint(tree)[1]  # mtimes differ
        assert data.load_folder(tree, 8).resolution == 8  # native size is part of the key
        keys = [d.name for d in (data.data_dir() / "arrays").glob("folder-imgs-*")
                if f"{zlib.crc32(str(tree.resolve()).encode()):08x}" in d.name]
        assert sorted(k.split("-")[-2] for k in keys) == ["16px", "8px"]
    finally:
        forget(other)


def _single_class(root):
    make_tree(root / "wrap", n_classes=1)  # wrap/class_000/...


def _empty_class(root):
    make_tree(root)
    (root / "class_001" / "0.png").unlink()
    for f in (root / "class_001").iterdir():
        f.unlink()
    (root / "class_001" / "notes.txt").write_text("no images here")


def _corrupt(root):
    make_tree(root)
    (root / "class_002" / "4.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")


def _stray(root):
    make_tree(root)
    shutil.copy(root / "class_000" / "0.png", root / "loose.png")


@pytest.mark.parametrize("make, match", [
    (None, r"imgs: no such file or directory"),
    (_single_class, r"found 1 class \('class_000'\); need at least 2"),
    (_empty_class, r"imgs/class_001: empty class folder"),
    (_corrupt, r"imgs/class_002/4.png: not a readable image"),
    (_stray, r"imgs/loose.png: an image outside a class folder"),
], ids=["missing", "single-class", "empty-class", "corrupt", "stray"])
def test_bad_input_fails_before_training(tmp_path, monkeypatch, capsys, make, match):
    from hpobench import train
    from hpobench.experiments import cli
    root = tmp_path / "imgs"
    if make:
        make(root)

    def no_training(*a, **k):
        raise AssertionError("trained on bad input")
    monkeypatch.setattr(train, "run", no_training)
    try:
        with pytest.raises(BenchmarkError, match=match):
            hpobench.get("resnet/folder", data=str(root)).check()
        argv = ["evaluate", "resnet/folder", "--data", str(root), "--fidelity", "epochs=1,resolution=8"]
        assert cli.main(argv) == 2
        assert pd.Series([capsys.readouterr().err]).str.contains(match).all()
    finally:
        forget(root)


def test_missing_data_and_bad_native_are_clear_errors(capsys, tmp_path):
    from hpobench.experiments import cli
    with pytest.raises(BenchmarkError, match="resnet/folder needs a dataset: --data PATH"):
        hpobench.get("resnet/folder").check()
    assert cli.main(["scope", "resnet/folder", *SCOPE_ARGS, "--out", str(tmp_path / "s")]) == 2
    assert "needs a dataset" in capsys.readouterr().err and not (tmp_path / "s").exists()
    with pytest.raises(BenchmarkError, match="native must be an integer >= 4"):
        hpobench.get("resnet/folder", data="x", native=2)
    bench = hpobench.get("resnet/folder", data="x", native=64)
    assert list(bench.fidelity_space["resolution"].sequence) == [16, 32, 64]
    assert bench.cost({"epochs": 1, "data_fraction": 1.0, "resolution": 32}) == 0.25


def test_grid_spec_takes_data_as_benchmark_arg(tree, tmp_path):
    from hpobench.experiments import spec
    path = tmp_path / "folder.yaml"
    path.write_text(f"name: folder-test\nbenchmark: resnet/folder\nbenchmark_args: {{data: '{tree}', native: 16}}\n"
                    f"configs: {{sample: 2, seed: 0, default: true}}\nfidelities: {{points: [{{epochs: 1}}]}}\n"
                    f"seeds: [0]\n")
    sp = spec.load(path)
    assert sp.benchmark_args == {"data": str(tree), "native": 16} and len(spec.cells(sp)) == 3


@pytest.mark.slow
def test_scope_on_100_classes_via_cli(hundred, tmp_path, capsys):
    """`hpobench scope resnet/folder --data DIR` end to end at a tiny budget (35 to 40 one-epoch trainings at 8 px),
    the architecture and batch size held: one compiled program serves every training."""
    from hpobench.experiments import cli, scope
    out = tmp_path / "scope"
    assert cli.main(["scope", "resnet/folder", "--data", str(hundred), *SCOPE_ARGS, "--out", str(out),
                     "--hold", "depth=8,width=8,batch_size=64"]) == 0
    printed = capsys.readouterr().out
    assert f"report: {out}/report.md" in printed
    report = (out / "report.md").read_text()
    assert "# Search-space scope for `resnet/folder`" in report and "## How it was decided" in report
    assert "low fidelity `data_fraction=0.5,epochs=1,resolution=8`: 20 configurations" in report
    assert (out / "scoped_space.json").exists()
    df = pd.read_parquet(out / "evaluations.parquet")
    assert 35 <= len(df) <= 35 + scope.CONFIRM and (df["status"] == "ok").sum() >= 25  # + the best at low
    assert df["info"].str.contains('"num_classes": 100').all() and (df["config.depth"] == 8).all()


@pytest.mark.slow
def test_processes_preparing_one_tree_at_once_prepare_it_once(tree, tmp_path):
    """Two processes loading a tree nobody prepared yet (a grid's workers, parallel tests): one prepares
    it, the other waits for the lock and reads that cache; both see the same arrays."""
    code = ("import sys; from hpobench import data; d = data.load_folder(sys.argv[1], native=8); "
            "print(d.x_train.shape, int(d.x_train.sum()), d.classes)")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tree)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in outs]
    assert outs[0][0] == outs[1][0] and outs[0][0].strip()
    assert sum("hpobench: preparing folder/" in err for _, err in outs) == 1, [err for _, err in outs]
