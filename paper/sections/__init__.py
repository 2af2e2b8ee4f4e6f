"""The paper's sections: each reads one harness's files under results/ and puts their numbers, tables and
figures into a `render.Paper`, computing nothing the harness did not (no fits, no resamples, no agreement
statistics: `tests/test_layers.py` checks what the paper imports). Each module names the harness it reads.
"""
