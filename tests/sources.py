"""The project's modules as installed, read from pyproject.toml: import name -> source file."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def package_dir(package: str) -> Path:
    """Where `package` lives in the checkout: its nearest mapped ancestor in `package-dir`, plus the rest."""
    mapped = SETUPTOOLS["package-dir"]
    parts = package.split(".")
    for i in range(len(parts), 0, -1):
        if ".".join(parts[:i]) in mapped:
            return ROOT / mapped[".".join(parts[:i])] / Path(*parts[i:])
    return ROOT / Path(*parts)


RESEARCH = ("hpobench.experiments.studies",)  # in the checkout only: the wheel leaves the harnesses out


def packages() -> dict[str, Path]:
    """Packages with code, installed or research (a data-only folder has no __init__.py)."""
    dirs = {p: package_dir(p) for p in [*SETUPTOOLS["packages"], *RESEARCH]}
    return {p: d for p, d in dirs.items() if (d / "__init__.py").is_file()}


def modules() -> dict[str, Path]:
    out = {}
    for package, folder in packages().items():
        for f in sorted(folder.glob("*.py")):
            out[package if f.stem == "__init__" else f"{package}.{f.stem}"] = f
    return out
