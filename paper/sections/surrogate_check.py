"""Surrogate v2 (`experiments/studies/surrogate_check.py` writes `results/surrogate_v2/`): the forest refitted
on study v2, tested against real trainings."""

from __future__ import annotations

import json

from hpobench.paper.render import Paper, ci


def read(p: Paper, folder: str = "surrogate_v2") -> None:
    src = p.results / folder / "summary.json"
    s = json.loads(src.read_text())
    h, i, st = s["holdout_full"], s["incumbents"], s["strategies"]
    p.put("sv2_configs", s["configs"], src, "{:d}")
    p.put("sv2_holdout", f"RMSE {h['rmse']:.3f} against an SD of {h['sd']:.3f}, Spearman "
          f"{ci(h['spearman'], h['lower'], h['upper'])}", src)
    p.put("sv2_size", "; ".join(f"{int(r['configs'])}: {ci(r['spearman'], r['lower'], r['upper'])}"
                                for r in s["size"]), src)
    p.put("sv2_incumbents", f"Spearman {ci(i['spearman'], i['lower'], i['upper'])} over {i['runs']} runs, mean "
          f"bias {i['bias']:+.3f}; {i['beats_default_live']} beat the default measured, "
          f"{i['beats_default_predicted']} predicted", src)
    p.put("sv2_landscape", s["landscape"]["share_above_default_predicted"], src, "{:.1%}")
    order = f"{ci(st['kendall'], st['lower'], st['upper'])} over {st['seeds']} paired seeds"
    decisions = (f"{st['same']} of {st['comparisons']} comparisons with `all` decided the same way, "
                 f"{st['live_decided_same']} of the {st['live_decided']} the live runs decide")
    p.put("sv2_order", order, src)
    p.put("sv2_decisions", decisions, src)
    p.put("sv2_kept", "; ".join(f"{k}: {'kept' if v else 'not kept'}" for k, v in s["kept"].items()), src)
    kept = s["kept"]["ranking strategies"]
    p.put("sv2_answer", f"A forest refitted on {s['configs']} of study v2's configurations orders the strategies "
          f"as the live runs do at Kendall {order} ({decisions}), so it is {'' if kept else 'not '}kept for "
          "ranking strategies" + ("" if kept else ": the comparison rests on live runs"), src)
