"""The budget-aware scope (issue 31): the chosen set against exact truth on the synthetic family
(`experiments/studies/tunability_synthetic.py` writes `results/tunability_synthetic/`), and the narrowed
ranges against study v2's full-fidelity top 10 (`experiments/studies/scope_ranges.py` writes
`results/scope_ranges/`). The live comparison is `live.read_v3`."""

from __future__ import annotations

import json

from hpobench.paper.render import Paper

NEEDS = ("tunability_synthetic/summary.json", "scope_ranges/summary.json")


def _ci(i: dict) -> str:
    return f"{i['mean']:+.4f} [{i['lower']:+.4f}, {i['upper']:+.4f}]"


def read(p: Paper) -> None:
    src = p.results / NEEDS[0]
    s = json.loads(src.read_text())
    rows = []
    for n, r in s["per_n"].items():
        w, t, lo = r["wins_ties_losses"]
        rows.append(f"N = {n}: size {r['size']:.1f} (best {r['best_size']:.1f}), regret "
                    f"{_ci(r['regret'])} F1, over tuning everything {_ci(r['versus_all'])} ({w}/{t}/{lo})")
    p.put("tun_per_n", "; ".join(rows), src)
    p.put("tun_instances", next(iter(s["per_n"].values()))["instances"], src, "{:d}")
    g = s["grows"]
    p.put("tun_grows", f"{g['mean']:+.2f} [{g['lower']:+.2f}, {g['upper']:+.2f}] (N = {g['to']} minus N = "
          f"{g['from']})", src)
    src = p.results / NEEDS[1]
    r = json.loads(src.read_text())
    span = {k: f"{r[k][0]:.2f}-{r[k][1]:.2f}" for k in ("coverage", "chance", "enrichment")}
    p.put("ranges_coverage", span["coverage"], src)
    p.put("ranges_chance", span["chance"], src)
    p.put("ranges_enrichment", span["enrichment"], src)
    p.put("ranges_size", f"{r['size'][0]:.1f}-{r['size'][1]:.1f}", src)
    top = sorted(r["narrowed"].items(), key=lambda kv: -kv[1])[:2]
    p.put("ranges_narrowed", "; ".join(f"{k} in {v:.0%} of the runs tuning it" for k, v in top), src)
