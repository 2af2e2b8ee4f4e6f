"""python -m hpobench.paper [--results DIR] [--out DIR] [--partial]: rebuild the paper from results/.

From the checkout root `python -m paper` runs this too; installed, give --out (the package is no place to write).
"""

import argparse
import time

from hpobench import env
from hpobench.paper.build import HERE, build


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m hpobench.paper", description=__doc__.split("\n")[0])
    p.add_argument("--results", default="results")
    checkout = env.source_tree() is not None
    p.add_argument("--out", default=str(HERE) if checkout else None, required=not checkout,
                   help=f"output folder (default in a checkout: {HERE})")
    p.add_argument("--partial", action="store_true", help="a draft: n/a for parts whose results are missing")
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    paper = build(a.results, a.out, partial=a.partial)
    for note in paper.notes:
        print("note:", note)
    print(f"wrote {a.out}/paper.md, {len(paper.numbers)} numbers and tables, in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
