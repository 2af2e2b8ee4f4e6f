"""What changes when the package is installed rather than run from this checkout.

The wheel itself, in a clean venv outside the checkout: `make wheel-check`.
"""

import subprocess

import pytest

import hpobench
from hpobench import benchmarks, env
from hpobench.paper import __main__ as paper_main


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


def test_the_study_comes_from_the_checkout_else_the_package(installed, monkeypatch):
    monkeypatch.delenv("HPOBENCH_STUDY", raising=False)
    assert benchmarks.study().parent.name == "_study"  # hpobench/_study/evaluations.parquet in a wheel
    monkeypatch.setenv("HPOBENCH_STUDY", "/elsewhere/trials.parquet")
    assert str(benchmarks.study()) == "/elsewhere/trials.parquet"


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
