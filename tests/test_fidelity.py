"""The Fidelity value type (hpobench/fidelity.py) and the analysis keyed by it."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import hpobench
from hpobench import records
from hpobench.analysis import errors, importance, sample, trials
from hpobench.fidelity import Fidelity

V2 = Path(__file__).resolve().parents[1] / "results" / "cifar10_cpu_v2"
LOW, FULL = {"epochs": 1, "data_fraction": 0.05}, {"epochs": 81, "data_fraction": 1.0}


def test_equal_and_hashed_by_its_knobs_whatever_their_order_or_cost():
    a = Fidelity.of({"data_fraction": 0.1, "epochs": 8}, cost=0.2)
    b = Fidelity.of({"epochs": np.int64(8), "data_fraction": np.float64(0.1)})
    assert a == b and hash(a) == hash(b) and {a: 1}[b] == 1
    assert a == {"epochs": 8, "data_fraction": 0.1} and a != {"epochs": 8} and a != Fidelity.of({"epochs": 4})
    assert type(b["epochs"]) is int and type(b["data_fraction"]) is float  # numpy scalars made plain
    assert len({a, b, Fidelity.of({"epochs": 8})}) == 2
    with pytest.raises(AttributeError):
        a.cost = 1.0  # frozen


def test_ordered_by_cost_unknown_last_then_by_values():
    f = [Fidelity.of({"epochs": e, "data_fraction": d}, cost=c)
         for e, d, c in ((8, 0.1, 0.8), (2, 0.1, 0.2), (4, 0.05, 0.2), (1, 1.0, None), (1, 0.5, 0.2))]
    assert [x.label for x in sorted(f)] == ["epochs=1,data_fraction=0.5", "epochs=2,data_fraction=0.1",
                                            "epochs=4,data_fraction=0.05", "epochs=8,data_fraction=0.1",
                                            "epochs=1,data_fraction=1"]
    assert f[1] < f[0] and f[0] > f[2] and f[3] >= f[0] and max(f) is f[3]


def test_label_round_trips_and_types_values_as_before():
    f = Fidelity.of({"data_fraction": 0.1, "epochs": 8, "resolution": 16})
    assert f.label == str(f) == "data_fraction=0.1,epochs=8,resolution=16"
    back = Fidelity.parse(f.label)
    assert back == f and back.label == f.label and list(back) == list(f)
    assert [type(v) for v in back.values()] == [float, int, int]
    one = Fidelity.of({"data_fraction": 1.0, "epochs": 81, "lr_scale": 1e-05, "kind": "a"})
    assert one.label == "data_fraction=1,epochs=81,lr_scale=1e-05,kind=a"  # %g, as the written tables have it
    assert Fidelity.parse(one.label).label == one.label and Fidelity.parse(one.label)["kind"] == "a"
    assert Fidelity.of(None).label == "all" and Fidelity.parse("all") == Fidelity() and not Fidelity()
    assert Fidelity.of(f.label) == f and Fidelity.of(f) is f and Fidelity.of(f, cost=2.0).cost == 2.0
    assert math.isnan(back.cost) and repr(Fidelity.parse("epochs=8", cost=0.5)) == "Fidelity('epochs=8', cost=0.5)"
    for bad in ("epochs", "=8", "epochs=8,,data_fraction=1", "epochs=8,epochs=4"):
        with pytest.raises(ValueError, match="fidelity"):
            Fidelity.parse(bad)
    with pytest.raises(TypeError, match="mapping"):
        Fidelity.of(8)


def test_short_is_the_papers_text():
    f = Fidelity.parse("data_fraction=0.025,epochs=8,resolution=16")
    assert f.short == "8 ep, 0.025 data, 16 px" and f.text("data_fraction") == "0.025"
    assert Fidelity.of({"epochs": 3, "width": 2.5}).short == "3 ep, width=2.5"


def test_a_mapping_wherever_a_fidelity_dict_goes():
    b = hpobench.get("synthetic/agree")
    f = Fidelity.of({"epochs": 3, "data_fraction": 0.25})
    assert dict(f) == f.knobs == {"epochs": 3, "data_fraction": 0.25} and {**f} == f.knobs
    assert b.evaluate(b.default, f).info["fidelity"] == b.evaluate(b.default, dict(f)).info["fidelity"]
    assert b.cost(f) == b.cost(dict(f))


def test_fidelities_of_a_table_with_cost_in_the_old_order_and_at_selects_their_rows():
    df = records.read(V2)[0]
    fids = trials.fidelities(df)
    assert all(isinstance(f, Fidelity) for f in fids) and fids == sorted(fids)
    # the order trials.fidelities always had: median cost, then the knob values in column order
    key = [(float(trials.at(df, f)["cost"].median()), tuple(f[k] for k in trials.fidelity_columns(df))) for f in fids]
    assert key == sorted(key) and [f.cost for f in fids] == [c for c, _ in key]
    f = fids[3]
    rows = trials.at(df, f)
    assert len(rows) and rows.equals(trials.at(df, dict(f))) and rows.equals(trials.at(df, f.label))
    assert (rows["fidelity.epochs"] == f["epochs"]).all() and (rows["fidelity.resolution"] == f["resolution"]).all()
    assert trials.fidelities(df.drop(columns=[c for c in df if c.startswith("fidelity.")])) == [Fidelity()]
    with pytest.raises(errors.AnalysisError, match="width"):
        trials.at(df, Fidelity.of({"width": 2}))


def test_per_fidelity_is_keyed_by_fidelity():
    b = hpobench.get("synthetic", agreement=1.0, seed=3)
    df = sample.table(b, 30, [LOW, FULL], seed=3)
    imps = importance.per_fidelity(df, b.config_space, n_boot=0)
    low, full = Fidelity.of(LOW), Fidelity.of(FULL)
    assert list(imps) == [low, full] and imps[low].fidelity == low
    assert imps[full].fidelity.cost > imps[low].fidelity.cost  # the table's cost, carried along
    given = importance.per_fidelity(df, b.config_space, [FULL, LOW], n_boot=0)  # dicts given: in their order
    assert list(given) == [full, low] and np.array_equal(given[low].value, imps[low].value)
    skipped = {}
    importance.per_fidelity(pd.concat([df, sample.table(b, 3, [{"epochs": 9}], seed=4)]), b.config_space,
                            n_boot=0, skipped=skipped)
    assert list(skipped) == [Fidelity.of(b.fidelity({"epochs": 9}))]
