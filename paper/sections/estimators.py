"""The estimators against their best peers (issue 15): the importance battery's table
(`experiments/studies/importance_battery.py` writes `results/importance_battery/`) and the multi-fidelity
optimizers' goal lines (`bohb_peers.py` writes `results/bohb_peers/`). Each is quoted as the harness's
summary.md shows it (the number's source), read from the structured file written beside it."""

from __future__ import annotations

import json

from hpobench.paper.render import Paper

BEFORE = "ours (before: forest)"  # the battery's name for the estimator before the boosted surrogate


def read(p: Paper) -> None:
    bat = p.results / "importance_battery"
    p.put("battery_table", battery_table(json.loads((bat / "summary.json").read_text())["paired"]),
          bat / "summary.md")
    peers = p.results / "bohb_peers"
    p.put("peers_goal", "\n".join("  " + s for s in goal_lines(json.loads((peers / "goal.json").read_text()))),
          peers / "summary.md")


def battery_table(paired: list[dict]) -> str:
    """summary.json's "paired" rows (one per n x estimator, on the tables every estimator ran) as a markdown
    table: tau-b and L1 against the exact truth, CPU seconds per call; "-" for an estimator not run."""
    by = {(r["n"], r["estimator"]): r for r in paired}
    ran = {r["estimator"] for r in paired}

    def c(n, col, e, fmt="{:.3f}"):
        return "-" if e not in ran else fmt.format(by[n, e][col] if (n, e) in by else float("nan"))

    lines = ["| n | tables | ours tau-b | Optuna tau-b | before tau-b | ours L1 | Optuna L1 | before L1 |"
             " ours CPU s / call (point; with resamples) | Optuna CPU s / call |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for n in sorted({r["n"] for r in paired}):
        lines.append(f"| {n} | {c(n, 'tables', 'ours', '{:.0f}')} | {c(n, 'tau', 'ours')} | {c(n, 'tau', 'optuna')} | "
                     f"{c(n, 'tau', BEFORE)} | {c(n, 'l1', 'ours')} | {c(n, 'l1', 'optuna')} | "
                     f"{c(n, 'l1', BEFORE)} | {c(n, 'point_cpu_s_median', 'ours', '{:.2f}')}; "
                     f"{c(n, 'cpu_s_median', 'ours', '{:.1f}')} | {c(n, 'point_cpu_s_median', 'optuna', '{:.2f}')} |")
    return "\n".join(lines)


def goal_lines(g: dict) -> list[str]:
    """goal.json's verdict for each of ours: met or not, the functions at or below the best peer, and per
    function our median final regret against the best peer's."""
    out = []
    for ours, v in g["optimizers"].items():
        cells = ", ".join(f"{k} {c['ours']:.3g} vs {c['best']:.3g} ({c['ratio']:.3f}x)"
                          for k, c in v["functions"].items())
        out.append(f"- **{ours}**: {'met' if v['met'] else 'NOT met'} ({v['wins']}/{v['n']} at or below the "
                   f"best peer): {cells}")
    return out
