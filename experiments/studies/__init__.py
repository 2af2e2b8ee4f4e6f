"""Research harnesses: one file per question the paper or an issue asks, each writing `results/<folder>/`.

They sit beside the product (`hpobench.experiments`: the command line, the scope job, grids and
specs) and may import all of it; nothing in the product, the library or the paper imports them
(`tests/test_layers.py`). Run them from a checkout, e.g.
`python -m hpobench.experiments.studies.agreement_study`; the wheel does not ship them.
"""
