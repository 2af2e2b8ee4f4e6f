"""The paper: `template.md` + numbers, tables and figures computed from `results/` (`build.py`)."""
