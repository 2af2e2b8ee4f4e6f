"""The scope's report a person opens: report.html self-contained (figures inlined) and opening with the answer,
rendered in headless Chromium (Debian's package: not blank, every image loads); its blocks (`page`); the figures
(`plots`: importance sorted by the cheap fidelity's share with shares clipped to [0, 1], marginals with bootstrap
bands, interactions, parallel coordinates, cheap against probe)."""

import base64
import html.parser
import io
import re
import shutil
import subprocess

import matplotlib.image
import numpy as np
import pytest

from hpobench.analysis import plots
from hpobench.analysis.decision import Rule
from hpobench.analysis.importance import Importance
from hpobench.experiments import page, scope

CHROMIUM = shutil.which("chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
FIGURES = ("importance", "marginals", "interactions", "parallel", "rankings")


class _Page(html.parser.HTMLParser):
    """The tags of a page that could load something, and its text in order."""

    def __init__(self):
        super().__init__()
        self.imgs, self.loads, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a)
        for key in ("src", "href"):
            if a.get(key) and not a[key].startswith("data:"):
                self.loads.append((tag, a[key]))
        if tag == "link":
            self.loads.append((tag, a.get("href")))

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def scoped(tmp_path_factory):
    """A real scope of synthetic/partial at budget 300, its analysis on 10 resamples (importance and gains)."""
    out = tmp_path_factory.mktemp("report") / "scope"
    return out, scope.run("synthetic/partial", 300, out, n_boot=10, rule_settings=Rule(n_boot=10), progress=False)


@pytest.mark.slow
def test_the_html_report_is_self_contained_and_opens_with_the_answer(scoped):
    out, res = scoped
    text = (out / "report.html").read_text()
    p = _Page()
    p.feed(text)
    assert p.loads == []  # nothing outside the file: no link, script src, remote image
    assert "http://" not in text and "https://" not in text
    assert [i["alt"] for i in p.imgs] == list(FIGURES)
    for i in p.imgs:
        head, data = i["src"].split(",", 1)
        assert head == "data:image/png;base64"
        img = matplotlib.image.imread(io.BytesIO(base64.b64decode(data)), format="png")
        assert img.shape[0] > 100 and img.shape[1] > 100
    words = " ".join(p.text)
    dec = res.decision
    order = [f"<strong>Tune {len(dec.tune)} hyperparameter(s)", "<strong>Fixed</strong>", "<strong>Start from",
             f"<strong>Plan: {dec.plan.name}</strong>", "<p>Run it:</p>", "<strong>Which data chose:</strong>",
             "<h2>Figures</h2>", "<h2>How it was decided</h2>", "<h2>Decision</h2>", "<p>Greedy path at",
             "<h2>Importance</h2>"]
    at = [text.index(w) for w in order]
    assert at == sorted(at), dict(zip(order, at))
    for x in dec.tune:  # each tuned hyperparameter with its range, each fixed one with its value
        assert re.search(rf"<td>{x}</td><td>{re.escape(scope._range(dec.ranges[x]))}</td>", text), x
    for x, v in dec.fix.items():
        assert f"<td>{x}</td><td>{scope._short(v)}</td>" in text
    md = (out / "report.md").read_text()
    command = md[md.index("Run it:"):].split("```")[1].strip()
    assert f"<code>{command}</code>" in text and command.startswith("hpobench tune synthetic/partial")
    assert dec.guard[1:] in words


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (`make test` installs it: "
                                             "apt-get install chromium)")
def test_the_html_report_renders_in_chromium(scoped, tmp_path):
    out, _ = scoped
    shot = tmp_path / "report.png"
    args = [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    subprocess.run([*args, f"--screenshot={shot}", "--window-size=1280,2000", (out / "report.html").as_uri()],
                   check=True, capture_output=True, timeout=120)
    img = matplotlib.image.imread(shot)[..., :3]
    assert img.shape[:2] == (2000, 1280)
    assert img.std() > 0.05 and (img.min(-1) < 0.9).mean() > 0.02  # drawn on, not blank
    # every image loads: a script run at the load event marks the body with the count of broken ones
    probe = tmp_path / "probe.html"
    probe.write_text((out / "report.html").read_text().replace("</body>", (
        "<script>window.addEventListener('load', function () { var b = Array.from(document.images).filter("
        "function (i) { return !i.complete || i.naturalWidth === 0; }); document.body.setAttribute('data-images', "
        "document.images.length); document.body.setAttribute('data-broken', b.length); });</script></body>")))
    dom = subprocess.run([*args, "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()], check=True,
                         capture_output=True, text=True, timeout=120).stdout
    assert re.search(r'<body data-images="(\d+)" data-broken="(\d+)"', dom).groups() == (str(len(FIGURES)), "0")


def test_blocks_are_written_as_markdown_and_as_escaped_html(tmp_path):
    fig = plots.save(plots.plt.figure(figsize=(2, 2)), tmp_path / "f")[0]
    blocks = [page.Heading("Scope", 1), page.Text("tune **lr** in `[0.01, 0.1]` <b>not bold</b>"),
              page.Items(["a", "b"]), page.Table([dict(hp="lr", share=0.12345, n=3)]),
              page.Code("hpobench tune x --out 'a<b'"), page.Code("verdict", copy=False), page.Figure(fig, "cap")]
    md = page.markdown(blocks)
    assert md.startswith("# Scope\n") and "- a\n- b" in md and "| lr   |  0.1235 |   3 |" in md
    assert "```\nhpobench tune x --out 'a<b'\n```" in md and "![f](f.png)\n*cap*" in md
    text = page.html(blocks, "t")
    assert "<strong>lr</strong> in <code>[0.01, 0.1]</code> &lt;b&gt;not bold&lt;/b&gt;" in text
    assert '<td class="num">0.1235</td><td class="num">3</td>' in text
    assert "<code>hpobench tune x --out &#x27;a&lt;b&#x27;</code>" in text
    assert text.count("<button") == 1  # a copy button for the command only
    assert f'src="data:image/png;base64,{base64.b64encode(fig.read_bytes()).decode()}"' in text


def _importance(fidelity: dict, value, lower, upper) -> Importance:
    v = np.array(value, float)
    return Importance("fanova", fidelity, ["a", "b", "c"], v, np.array(lower, float), np.array(upper, float), 0.9,
                      np.zeros((0, 3)), 30)


def test_importance_bars_are_sorted_by_the_cheap_share_and_clipped_to_shares(tmp_path):
    cheap = _importance({"epochs": 1}, [0.1, 0.6, 0.3], [0.0, 0.3, 0.1], [0.4, 1.03, 0.5])
    probe = _importance({"epochs": 8}, [0.7, 0.1, 0.2], [0.4, 0.0, 0.0], [1.2, 0.3, 0.4])
    imps = {cheap.fidelity: cheap, probe.fidelity: probe}
    t = plots.importance_table(imps)
    assert plots.bar_order(t, "epochs=1") == ["b", "c", "a"]  # by the cheap fidelity's share, not the probe's
    assert plots.bar_order(t, top=2) == ["a", "c"]  # importance_bars' default: the last fidelity (the paper's)
    assert t["upper"].max() == 1.0 and t.set_index(["fidelity", "hp"]).loc[("epochs=1", "b"), "upper"] == 1.0
    assert (t.loc[t["fidelity"] == "epochs=8", "value"].to_numpy() == probe.value).all()
    ped = Importance("ped-anova", {"epochs": 1}, ["a"], np.array([3.0]), np.array([2.0]), np.array([4.0]), 0.9,
                     np.zeros((0, 1)), 30)
    assert plots.interval(ped)[2][0] == 4.0  # a divergence, not a share: not clipped
    paths = plots.importance(imps, tmp_path / "imp")
    assert [p.suffix for p in paths] == [".png", ".pdf"] and all(p.stat().st_size > 1000 for p in paths)
    # drawn cheap first: the PNG differs from the bars sorted by the probe
    assert plots.importance(imps, tmp_path / "by", by=probe.fidelity)[0].read_bytes() != paths[0].read_bytes()


@pytest.mark.slow
def test_the_figures_show_bands_interactions_and_both_rankings(scoped):
    """Figures recomputed from the scope's data: the marginal band holds the point curve, the pair shares are
    symmetric, in [0, 1], n/a for a parent with its own child."""
    import pandas as pd

    import hpobench
    from hpobench.analysis import importance, tunability
    out, res = scoped
    bench = hpobench.get("synthetic/partial")
    df = pd.read_parquet(out / "evaluations.parquet")
    low = importance.per_fidelity(df, bench.config_space, [res.plan.low], n_boot=5, metric=bench.metric)
    imp = next(iter(low.values()))
    enc = imp.extra["encoded"]
    surs = tunability.fit_all(enc, 10, 0)
    grid = np.linspace(0, 1, 9)
    lines = np.array([plots.marginal(s, enc.space, "lr", grid) for s in surs])
    assert lines.shape == (len(surs), 9) and np.isfinite(lines).all() and np.ptp(lines[0]) > 0
    lo, hi = np.quantile(lines[1:], [0.05, 0.95], axis=0)
    assert (lo < hi).any()
    names = ["branch", "left_x", "right_x", "lr", "x1"]
    t = plots.pair_shares(imp, names)
    m = t.to_numpy()
    assert np.isnan(np.diag(m)).all() and np.allclose(m, m.T, equal_nan=True)
    assert np.isnan(t.loc["branch", "left_x"]) and np.isnan(t.loc["branch", "right_x"])  # parent and child
    assert np.nanmin(m) >= 0 and np.nanmax(m) <= 1 and np.isfinite(t.loc["lr", "x1"])
    for f in FIGURES:
        assert (out / f"{f}.png").stat().st_size > 5000 and (out / f"{f}.pdf").exists()
