"""What changes when the package is installed rather than run from this checkout.

The wheel itself, in a clean venv outside the checkout: `make wheel-check`.
"""

import fnmatch
import subprocess
from pathlib import Path

import pytest

import hpobench
from hpobench import benchmarks, env
from hpobench.paper import __main__ as paper_main
from sources import SETUPTOOLS


@pytest.fixture
def installed(monkeypatch):
    monkeypatch.setattr(env, "source_tree", lambda: None)


def test_in_the_checkout_results_carry_its_commit():
    head = subprocess.run(["git", "-C", str(env.source_tree()), "rev-parse", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    assert env.source_tree() is not None and env._git_commit().split("+")[0] == head


def test_installed_results_carry_no_commit_of_a_surrounding_repository(installed):
    assert env._git_commit() is None


def test_a_source_tree_inside_another_repository_has_no_commit(tmp_path, monkeypatch):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "hpobench").mkdir()
    monkeypatch.setattr(env, "source_tree", lambda: tmp_path / "hpobench")  # a tree below the git work tree
    assert env._git_commit() is None


def test_the_study_is_the_copy_in_the_package_in_the_checkout_and_installed_alike(monkeypatch):
    monkeypatch.delenv("HPOBENCH_STUDY", raising=False)
    shipped = Path(benchmarks.__file__).resolve().parent / "cifar10_cpu.parquet"
    assert benchmarks.study() == shipped and shipped.is_file()
    monkeypatch.setattr(env, "source_tree", lambda: None)  # installed
    assert benchmarks.study() == shipped
    monkeypatch.setenv("HPOBENCH_STUDY", "/elsewhere/trials.parquet")
    assert str(benchmarks.study()) == "/elsewhere/trials.parquet"


def test_the_shipped_study_is_the_recorded_one_byte_for_byte(monkeypatch):
    monkeypatch.delenv("HPOBENCH_STUDY", raising=False)
    recorded = env.source_tree() / "results" / "cifar10_cpu" / "evaluations.parquet"
    assert benchmarks.study().read_bytes() == recorded.read_bytes(), \
        f"copy {recorded} to {benchmarks.study()}: the package ships the study it records"
    inside = benchmarks.study().relative_to(Path(benchmarks.__file__).resolve().parent).as_posix()
    assert any(fnmatch.fnmatch(inside, p) for p in SETUPTOOLS["package-data"]["hpobench.benchmarks"])  # in the wheel


def test_results_hold_data_only():
    """results/ is what commands produced; the code that produces it lives in the packages."""
    files = subprocess.run(["git", "-C", str(env.source_tree()), "ls-files", "results"], capture_output=True,
                           text=True, check=True).stdout.split()
    assert files and not [f for f in files if f.endswith((".py", ".sh", ".ipynb"))]


def test_a_missing_study_names_both_ways_to_give_one(tmp_path, monkeypatch):
    monkeypatch.setenv("HPOBENCH_STUDY", str(tmp_path / "none.parquet"))
    with pytest.raises(hpobench.BenchmarkError, match="pass table=PATH .* or set \\$HPOBENCH_STUDY"):
        hpobench.get("replay/cifar10-cpu")


def test_the_paper_needs_an_output_folder_when_installed(installed, capsys):
    with pytest.raises(SystemExit):
        paper_main.main(["--results", "results"])
    assert "--out" in capsys.readouterr().err


def test_the_paper_names_a_missing_results_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no results folder .*give --results"):
        paper_main.main(["--results", str(tmp_path / "none"), "--out", str(tmp_path / "out")])
