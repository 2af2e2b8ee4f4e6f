"""Study v2's evidence (issue 13), from the grids' records, ready for the paper at any stage.

    python -m hpobench.experiments.studies.agreement_study                    # results/ -> results/study_v2/
    python -m hpobench.experiments.studies.agreement_study --n-boot 200 --results R --out O

Reads the grid folders below (each one's Parquet and journal, so cells of a running grid
count); each is optional except the first study's first grid, and a grid that is not there
yet leaves its part out with a note:

    cifar10  scale 1x  cifar10_cpu_v2 (seed 0) + cifar10_cpu_seeds (seeds 1, 2: the noise ceiling)
    cifar10  scale 5x  cifar10_5x + the rungs of cifar10_cpu_v2 for the same configurations; and
                       1x-nested: those rungs against the 1x full on the same configurations and
                       resamples, what the 5x curve is tested against (`transfers`)
    fashion_mnist 1x   fashion_mnist_cpu; compared with cifar10 1x-matched: the CIFAR-10 1x table cut
                       to as many configurations (its first, by id), since agreement grows with
                       their number and the CIFAR-10 grid is the larger

Only configurations recorded at every fidelity (and every seed) of a table are used, so a
grid stopped mid-configuration gives complete, paired tables. Writes to --out:

    pieces/<table>/<fidelity>.parquet|.json   fANOVA at one fidelity with its resamples, and a
                                   fingerprint of the records and settings it came from: a rerun reads
                                   a piece whose fingerprint is unchanged and computes the others, each
                                   written as it finishes (resumable anywhere; deterministic: fixed
                                   seeds, sorted inputs)
    agreement.csv                  every comparison (`analysis.study.rows`), raw Spearman / Kendall
    agreement_replicates.parquet   their resample values
    curves.json                    agreement vs cost ratio per study and view; scales and datasets compared
    budget.csv                     the practitioner's table
    knobs.csv                      which knob to lower: rungs of (nearly) equal cost compared, paired
    hierarchy.csv                  learning rate vs the rest, at each study's full fidelity
    summary.json                   cells, configurations, seeds and CPU-hours of every grid read;
                                   whether each is complete; what was left out and why
"""

from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from hpobench import records, spaces
from hpobench.analysis import bootstrap, encode, errors, study, trials
from hpobench.experiments import spec as specs
from hpobench.fidelity import Fidelity


@dataclass(frozen=True)
class Study:
    dataset: str
    scale: str
    grids: tuple[str, ...]  # the first holds the full fidelity; later ones add rungs for its configurations
    seeds_grid: str | None = None  # seed replicates of the first grid's configurations
    nested: str | None = None  # a scale of the same dataset whose full is also compared on these configurations
    matched: tuple[str, str] | None = None  # (dataset, scale) compared with these, cut to as many configurations


STUDIES = (Study("cifar10", "1x", ("cifar10_cpu_v2",), "cifar10_cpu_seeds"),
           Study("cifar10", "5x", ("cifar10_5x", "cifar10_cpu_v2"), nested="1x"),
           Study("fashion_mnist", "1x", ("fashion_mnist_cpu",), matched=("cifar10", "1x")))
SHARES = (0.02, 0.05, 0.1, 0.25)
BUDGETS = (50, 200)


def read_grid(folder: Path) -> tuple[pd.DataFrame, dict]:
    """A grid folder's finished cells (Parquet + journal) and its meta.json."""
    return records.evaluations(folder), records.read_meta(folder)


def grid_summary(folder: Path, df: pd.DataFrame, meta: dict) -> dict:
    """What a grid holds and cost: CPU-hours from the records (every cell runs on one core):
    `wall_s` (the whole cell: data, compile, train, evaluate) and `cost_s` (training alone)."""
    total = None
    path = meta.get("spec", {}).get("path")
    if path and Path(path).exists():
        total = len(specs.cells(specs.load(path)))
    return {"folder": str(folder), "cells": len(df), "cells_planned": total,
            "complete": total is not None and len(df) >= total,
            "configs": int(df["config_id"].nunique()) if len(df) else 0,
            "seeds": sorted(int(s) for s in df["seed"].unique()) if len(df) else [],
            "failed": int((df["status"] != "ok").sum()) if len(df) else 0,
            "cpu_hours": float(df["wall_s"].sum() / 3600) if len(df) else 0.0,
            "train_cpu_hours": float(df["cost_s"].sum() / 3600) if len(df) else 0.0}


def fingerprint(table: pd.DataFrame, settings: dict) -> str:
    rows = table[["key", "seed", "status", "f1"]].sort_values(["key", "seed"]).astype(str).to_numpy().tolist()
    return hashlib.sha1(json.dumps([settings, rows]).encode()).hexdigest()


def piece_path(out: Path, name: str, fidelity: Fidelity | str, suffix: str) -> Path:
    """pieces/<table>/<fidelity><suffix>: one stored importance per table and fidelity (a Fidelity or its label)."""
    return out / "pieces" / name / (Fidelity.of(fidelity).label.replace(",", "_").replace("=", "") + suffix)


def stored(js: Path, fp: str, draws: str) -> bool:
    """A stored piece is reused when its records and settings are unchanged and its resamples are
    the table's (pieces written before resamples were named stably carry another name)."""
    got = json.loads(js.read_text())
    return got["fingerprint"] == fp and all(m["resamples"] == draws for m in got["importances"].values())


def pieces(out: Path, name: str, table: pd.DataFrame, space, fids: list[Fidelity], n_boot: int,
           notes: list) -> dict:
    """fANOVA at each fidelity of one table (one seed), one stored piece per fidelity (a few CPU-minutes
    each at 400 configurations): a piece whose fingerprint (the table's records, the fidelity and the
    settings) is unchanged is read back, the others are computed and written as each finishes, so a
    run stopped anywhere resumes. Every piece draws the same resamples (they depend on the table's
    configurations only), so pieces pair across fidelities; a fidelity with too few configurations
    is left out with a note."""
    out_imps = {}
    draws = bootstrap.identity(bootstrap.resamples(encode.config_keys(table, space), n_boot, 0))
    for f in fids:
        settings = {"n_boot": n_boot, "seed": 0, "fidelity": f.label, "method": "fanova"}
        fp = fingerprint(table, settings)
        pq, js = (piece_path(out, name, f, x) for x in (".parquet", ".json"))
        if not (pq.exists() and js.exists() and stored(js, fp, draws)):
            try:
                imps = study.importances(table, space, [f], n_boot, seed=0)
            except errors.TooFew as e:
                notes.append(f"{name} at {f.label}: importance left out ({e})")
                continue
            pq.parent.mkdir(parents=True, exist_ok=True)
            study.to_frame(imps).to_parquet(pq, index=False)
            js.write_text(json.dumps({"fingerprint": fp, "settings": settings, "importances": study.meta_of(imps)},
                                     indent=1, default=spaces.plain) + "\n")
        # always as read back: fresh and stored pieces then pair alike (the resample identity is text)
        out_imps.update(study.from_frame(pd.read_parquet(pq), json.loads(js.read_text())["importances"]))
    return out_imps


def tables(s: Study, results: Path, notes: list) -> tuple | None:
    """The study's paired tables: (space, fidelities, full fidelity, {seed: rows}, {seed: rows}) for the
    main table (seed 0, every configuration) and the seed-replicate table (None without one)."""
    folders = [results / g for g in s.grids]
    if not records.has_meta(folders[0]):
        notes.append(f"{s.dataset} {s.scale}: {folders[0]} not found")
        return None
    frames, metas = zip(*(read_grid(f) for f in folders if records.has_meta(f)))
    space = records.space_of(metas[0])
    first = frames[0]
    if first.empty:
        notes.append(f"{s.dataset} {s.scale}: {folders[0]} holds no cell yet")
        return None
    full = max(trials.fidelities(first), key=lambda f: f.cost)
    keys = set(encode.config_keys(first, space))
    rest = [f[np.isin(encode.config_keys(f, space), list(keys))] for f in frames[1:]]
    df = pd.concat([first, *rest], ignore_index=True)
    top, cost = study.costs(df, [full])[full], study.costs(df, trials.fidelities(df))
    fids = [f for f in cost if cost[f] <= top]
    main = {0: study.recorded(df, space, fids, [0])}
    seeded = None
    if s.seeds_grid and records.has_meta(results / s.seeds_grid):
        extra, _ = read_grid(results / s.seeds_grid)
        both = pd.concat([df, extra], ignore_index=True)
        seeds = sorted(int(x) for x in both["seed"].unique())
        t = study.recorded(both, space, fids, seeds)
        if t["config_id"].nunique() >= 3:
            seeded = {sd: t[t["seed"] == sd] for sd in seeds}
        else:
            notes.append(f"{s.dataset} {s.scale}: {t['config_id'].nunique()} configuration(s) recorded at every "
                         f"fidelity for seeds {seeds}: the noise ceiling needs 3")
    return space, fids, full, main, seeded, df


def compare(out: Path, name: str, s: Study, space, fids: list[Fidelity], full: Fidelity, by_seed: dict, n_boot: int,
            notes: list, table: str | None = None) -> tuple[pd.DataFrame, dict]:
    """Agreement rows of one paired table (its seeds), importance pieces computed or read back;
    `table` names the rows when they are not the pieces' own table (another full fidelity)."""
    any_t = next(iter(by_seed.values()))
    keys = encode.config_keys(any_t, space)
    draws = bootstrap.resamples(keys, n_boot, 0)  # the draws per_fidelity makes from the same keys
    imps = {sd: pieces(out, f"{name}-seed{sd}", t, space, fids, n_boot, notes) for sd, t in by_seed.items()}
    imps = {sd: v for sd, v in imps.items() if v}
    ys = {sd: {f: study.metric_by_config(t, space, f) for f in fids} for sd, t in by_seed.items()}
    cost = study.costs(pd.concat(by_seed.values()), fids)
    return study.rows(imps, ys, draws, cost, full, dataset=s.dataset, scale=s.scale, table=table or name), imps


def matched(out: Path, ref: tuple, n: int, n_boot: int, notes: list) -> pd.DataFrame:
    """The reference study's main table cut to its first `n` configurations (by id) and analysed as
    its own table, '<scale>-matched': a comparison with a study of `n` configurations is then not one
    of grid sizes. Its configurations are fixed once the reference has `n`, so its pieces are too."""
    s, space, fids, full, t = ref
    ids = np.sort(t["config_id"].unique())
    if len(ids) < n:
        notes.append(f"{s.dataset} {s.scale}: {len(ids)} configurations, fewer than the {n} it is matched to")
    m = replace(s, scale=f"{s.scale}-matched")
    return compare(out, f"{s.dataset}-{m.scale}-main", m, space, fids, full, {0: t[t["config_id"].isin(ids[:n])]},
                   n_boot, notes)[0]


def cross(agr: pd.DataFrame) -> pd.DataFrame:
    """The rows curves are made of: each low fidelity's Spearman with its full, main tables only."""
    return agr[(agr["kind"] == "cross") & (agr["statistic"] == "spearman") & agr["table"].str.endswith("main")]


def curves(agr: pd.DataFrame, level: float = 0.9) -> dict:
    """Spearman agreement of each low fidelity with full vs cost ratio, per study and view."""
    out = {}
    for (ds, sc, view), g in cross(agr).groupby(["dataset", "scale", "view"], sort=True):
        g = g.sort_values("cost_ratio")
        if g["cost_ratio"].nunique() < 2:
            continue
        out[f"{ds} {sc} {view}"] = {"dataset": ds, "scale": sc, "view": view, "rungs": g["a"].tolist(),
                                    "cost_ratio": g["cost_ratio"].tolist(), "estimate": g["estimate"].tolist(),
                                    **study.fit_curve(g["cost_ratio"].to_numpy(), g["estimate"].to_numpy(),
                                                      np.vstack(g["replicates"].to_list()).T, level)}
    return out


def transfers(agr: pd.DataFrame, a=("cifar10", "1x"), b=("cifar10", "5x"), level: float = 0.9) -> dict:
    """Study b's curve against study a's (dataset, scale), per view: the difference at the geometric
    middle of the shared cost-ratio range, and of the slopes (`study.transfer`)."""
    out = {}
    for view, g in cross(agr).groupby("view", sort=True):
        ga, gb = (g[(g["dataset"] == d) & (g["scale"] == sc)].sort_values("cost_ratio") for d, sc in (a, b))
        if ga["cost_ratio"].nunique() < 2 or gb["cost_ratio"].nunique() < 2:
            continue
        lo = max(ga["cost_ratio"].min(), gb["cost_ratio"].min())
        hi = min(ga["cost_ratio"].max(), gb["cost_ratio"].max())
        if lo > hi:
            continue
        ra, rb = (np.vstack(x["replicates"].to_list()).T for x in (ga, gb))
        out[view] = study.transfer(ga["cost_ratio"], ga["estimate"], ra, gb["cost_ratio"], gb["estimate"], rb,
                                   float(np.sqrt(lo * hi)), level)
    return out


def run(results: str | Path = "results", out: str | Path | None = None, n_boot: int = 200) -> dict:
    results = Path(results)
    out = Path(out) if out is not None else results / "study_v2"
    if n_boot < 2:
        raise ValueError(f"n_boot {n_boot}: intervals need resamples (the command line asks for at least 20)")
    out.mkdir(parents=True, exist_ok=True)
    notes, parts, hier, grids, mains = [], [], [], {}, {}  # mains: (dataset, scale) -> study, space, fids, full, rows
    for s in STUDIES:
        for g in s.grids + ((s.seeds_grid,) if s.seeds_grid else ()):
            if records.has_meta(results / g) and g not in grids:
                grids[g] = grid_summary(results / g, *read_grid(results / g))
        got = tables(s, results, notes)
        if got is None:
            continue
        space, fids, full, main, seeded, _ = got
        mains[s.dataset, s.scale] = s, space, fids, full, main[0]
        name = f"{s.dataset}-{s.scale}"
        agr, imps = compare(out, f"{name}-main", s, space, fids, full, main, n_boot, notes)
        parts.append(agr)
        if 0 in imps and full in imps[0]:
            hier += [{"dataset": s.dataset, "scale": s.scale, **r} for r in study.hierarchy(imps[0][full])]
        if seeded:
            parts.append(compare(out, f"{name}-seeds", s, space, fids, full, seeded, n_boot, notes)[0])
        if (s.dataset, s.nested) in mains:
            other = mains[s.dataset, s.nested][3]
            # the other scale's full on these configurations and resamples: the transfer test compares like
            # with like (agreement grows with the number of configurations, and the 5x grid trails the 1x one)
            cost, nested = study.costs(main[0], fids), replace(s, scale=f"{s.nested}-nested")
            low = [f for f in fids if cost[f] <= cost[other]]
            parts.append(compare(out, f"{name}-main", nested, space, low, other, main, n_boot, notes,
                                 table=f"{s.dataset}-{nested.scale}-main")[0])
        if s.matched in mains:
            parts.append(matched(out, mains[s.matched], main[0]["config_id"].nunique(), n_boot, notes))
    if not parts:
        raise FileNotFoundError(f"no study records under {results}: " + "; ".join(notes))
    agr = pd.concat(parts, ignore_index=True)
    reps = agr[["replicates"]].assign(row=np.arange(len(agr)))
    reps["replicates"] = reps["replicates"].map(lambda r: np.asarray(r, float).tolist())
    reps.to_parquet(out / "agreement_replicates.parquet", index=False)
    agr.drop(columns="replicates").assign(row=np.arange(len(agr))).to_csv(out / "agreement.csv", index=False)
    cv = curves(agr)
    (out / "curves.json").write_text(json.dumps({"curves": cv, "transfer": transfers(agr, a=("cifar10", "1x-nested")),
                                                "dataset": transfers(agr, a=("cifar10", "1x-matched"),
                                                                     b=("fashion_mnist", "1x")),
                                                "size": transfers(agr, a=("cifar10", "1x-matched"),
                                                                  b=("cifar10", "1x"))}, indent=1) + "\n")
    budget = []
    for c in cv.values():
        if c["view"] != "importance":
            continue
        g = cross(agr)
        g = g[(g["view"] == "importance") & (g["dataset"] == c["dataset"]) & (g["scale"] == c["scale"])]
        t = study.budget_table(g, c, int(g["n_configs"].iloc[0]), SHARES, BUDGETS)
        budget.append(t.assign(dataset=c["dataset"], scale=c["scale"], n_scope=int(g["n_configs"].iloc[0])))
    if budget:
        pd.concat(budget, ignore_index=True).to_csv(out / "budget.csv", index=False)
    pd.DataFrame(hier).to_csv(out / "hierarchy.csv", index=False)
    pd.concat([study.knobs(g, np.vstack(g["replicates"].to_list()).T).assign(table=t, view=v)
               for (t, v), g in cross(agr).groupby(["table", "view"], sort=True)], ignore_index=True).to_csv(
        out / "knobs.csv", index=False)
    summary = {"n_boot": n_boot, "level": 0.9, "grids": grids, "notes": notes,
               "tables": {t: {"n_configs": int(g["n_configs"].iloc[0]), "seeds": int(g["seeds"].max())}
                          for t, g in agr.groupby("table", sort=True)}}
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=spaces.plain) + "\n")
    return summary


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m hpobench.experiments.studies.agreement_study",
                                description=__doc__.split("\n")[0])
    p.add_argument("--results", default="results")
    p.add_argument("--out", default=None, help="default: RESULTS/study_v2")
    p.add_argument("--n-boot", type=int, default=200, help="bootstrap resamples over configurations")
    a = p.parse_args(argv)
    if a.n_boot < 20:
        p.error(f"--n-boot {a.n_boot}: 90% intervals need at least 20 resamples")
    s = run(a.results, a.out, a.n_boot)
    for name, t in s["tables"].items():
        print(f"{name}: {t['n_configs']} configurations, {t['seeds']} seed(s)")
    for g, v in s["grids"].items():
        print(f"{g}: {v['cells']} of {v['cells_planned']} cells, {v['cpu_hours']:.2f} CPU-hours")
    for n in s["notes"]:
        print("note:", n)


if __name__ == "__main__":
    main()
