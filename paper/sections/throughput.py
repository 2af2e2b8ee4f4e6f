"""Training throughput, JAX against PyTorch on the CPU (`experiments/studies/throughput.py` writes
`results/throughput/jax_vs_torch.jsonl`)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from hpobench.paper.render import Paper


def read(p: Paper, path: str = "throughput/jax_vs_torch.jsonl") -> None:
    src = p.results / path
    lines = [json.loads(s) for s in src.read_text().splitlines() if s.strip()]
    peak = next(x["peak_fp32_gflops"] for x in lines if "peak_fp32_gflops" in x)
    df = pd.DataFrame([x for x in lines if "framework" in x])
    t = df.pivot_table(index=["model", "resolution"], columns="framework", values="img_per_s").reset_index()
    p.table("throughput", t.round(0))
    jax = df[df.framework == "jax"]
    p.put("peak_gflops", peak, src, "{:.0f}")
    p.put("jax_share_of_peak", f"{jax['share_of_peak'].min():.0%}-{jax['share_of_peak'].max():.0%}", src)
    p.put("throughput_repeats", len(jax["img_per_s_all"].iloc[0]), src, "{:d}")
    for name, a, b in (("jax_over_xla", "jax", "jax-xla"), ("jax_over_torch_cl", "jax", "torch-cl"),
                       ("torch_bf16_over_jax", "torch-bf16", "jax")):
        ratio = t[a] / t[b] if a in t and b in t else pd.Series([np.nan])
        p.put(name, f"{ratio.min():.2f}-{ratio.max():.2f}", src)
