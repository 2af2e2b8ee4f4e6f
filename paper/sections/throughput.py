"""Training throughput, JAX against PyTorch on the CPU (`experiments/studies/throughput.py` writes
`results/throughput/jax_vs_torch.jsonl`)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from hpobench.paper.render import Paper


def _runs(src) -> tuple[float, pd.DataFrame]:
    """A throughput file's fp32 peak (its machine line) and its runs (one row per framework and model)."""
    lines = [json.loads(s) for s in src.read_text().splitlines() if s.strip()]
    peak = next(x["peak_fp32_gflops"] for x in lines if "peak_fp32_gflops" in x)
    return peak, pd.DataFrame([x for x in lines if "framework" in x])


def read(p: Paper, path: str = "throughput/jax_vs_torch.jsonl") -> None:
    src = p.results / path
    peak, df = _runs(src)
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


CPUS = {"avx512": ("AVX-512 (Intel Xeon)", "throughput/resnet20_2026-12-07.jsonl"),
        "avx2": ("AVX2 (AMD EPYC, Zen 3)", "throughput/resnet20_avx2_2026-12-07.jsonl")}  # tag -> (CPU, file)
CPU_FILES = tuple(path for _, path in CPUS.values())


def read_cpus(p: Paper, files: dict[str, tuple[str, str]] = CPUS) -> None:
    """ResNet-20 against PyTorch's better layout on each CPU (issue 33's runs, one file per CPU)."""
    rows, leads = [], {}
    for tag, (cpu, path) in files.items():
        df = _runs(p.results / path)[1]
        t = df.pivot_table(index="resolution", columns="framework", values="img_per_s")
        share = df[df.framework == "jax"].set_index("resolution")["share_of_peak"]
        lead = (t["jax"] / t[["torch", "torch-cl"]].max(axis=1)).round(2)
        rows += [{"cpu": cpu, "px": int(px), "jax": round(r["jax"]), "torch": round(r["torch"]),
                  "torch-cl": round(r["torch-cl"]), "jax / better torch": lead[px],
                  "jax share of peak": round(float(share[px]), 2)} for px, r in t.iterrows()]
        leads[tag] = (" / ".join(f"{x:.2f}" for x in lead), p.results / path)
    t = pd.DataFrame(rows)
    p.table("throughput_cpus", t)
    for tag, (text, src) in leads.items():
        p.put(f"r20_lead_{tag}", text, src)
    src = p.results / next(iter(files.values()))[1]
    p.put("r20_cpus_at_goal", int((t["jax / better torch"] >= 1.2).sum()), src, "{:d}")
    p.put("r20_cells", len(t), src, "{:d}")
