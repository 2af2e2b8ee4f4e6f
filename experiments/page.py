"""A report as a list of blocks, written as Markdown (for terminals) and as one self-contained HTML page.

Blocks: `Heading`, `Text` (inline Markdown: **bold** and `code` only), `Items` (a bulleted list),
`Table` (rows of dicts or a DataFrame), `Code` (a command to copy, or preformatted text) and
`Figure` (a PNG file and its caption). `markdown`
links the figures' PNG files; `html` inlines them as base64 data URIs and needs nothing else: no
external style sheet, script, font or network (a small inline script adds copy buttons to the
commands).

    >>> from hpobench.experiments import page
    >>> blocks = [page.Heading("Answer", 1), page.Text("tune **lr**: `[0.01, 0.1]`"), page.Code("hpobench list")]
    >>> print(page.markdown(blocks))
    # Answer
    <BLANKLINE>
    tune **lr**: `[0.01, 0.1]`
    <BLANKLINE>
    ```
    hpobench list
    ```
    <BLANKLINE>
    >>> "<strong>lr</strong>: <code>[0.01, 0.1]</code>" in page.html(blocks, "t")
    True
"""

from __future__ import annotations

import base64
import html as _html
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Text:
    text: str  # inline Markdown: **bold**, `code`


@dataclass
class Table:
    rows: list[dict] | pd.DataFrame
    floatfmt: str = ".4g"

    @property
    def frame(self) -> pd.DataFrame:
        return self.rows if isinstance(self.rows, pd.DataFrame) else pd.DataFrame(self.rows)


@dataclass
class Items:
    items: list[str]  # each inline Markdown


@dataclass
class Code:
    text: str
    copy: bool = True  # a command to copy (a button in HTML), else preformatted text


@dataclass
class Figure:
    path: Path  # a PNG file
    caption: str = ""
    alt: str = ""


def markdown(blocks: list) -> str:
    """The blocks as Markdown; figures as links to their PNG files (by name: the report sits beside them)."""
    out = []
    for b in blocks:
        if isinstance(b, Heading):
            out += ["#" * b.level + " " + b.text, ""]
        elif isinstance(b, Text):
            out += [b.text, ""]
        elif isinstance(b, Items):
            out += [f"- {x}" for x in b.items] + [""]
        elif isinstance(b, Table):
            df = b.frame
            out += [df.to_markdown(index=False, floatfmt=b.floatfmt) if len(df) else "(none)", ""]
        elif isinstance(b, Code):
            out += ["```", b.text, "```", ""]
        elif isinstance(b, Figure):
            out += [f"![{b.alt or b.path.stem}]({b.path.name})"] + ([f"*{b.caption}*"] if b.caption else []) + [""]
        else:
            raise TypeError(f"not a report block: {b!r}")
    return "\n".join(out)


def html(blocks: list, title: str) -> str:
    """The blocks as one HTML page with every figure inlined (module docstring)."""
    body = []
    for b in blocks:
        if isinstance(b, Heading):
            body.append(f"<h{b.level}>{inline(b.text)}</h{b.level}>")
        elif isinstance(b, Text):
            body.append(f"<p>{inline(b.text)}</p>")
        elif isinstance(b, Items):
            body.append("<ul>" + "".join(f"<li>{inline(x)}</li>" for x in b.items) + "</ul>")
        elif isinstance(b, Table):
            body.append(_table(b))
        elif isinstance(b, Code):
            code = f"<pre><code>{_html.escape(b.text)}</code></pre>"
            body.append(f'<div class="cmd"><button type="button">copy</button>{code}</div>' if b.copy
                        else f'<div class="text">{code}</div>')
        elif isinstance(b, Figure):
            png = Path(b.path).read_bytes()
            w, h = (round(x * SCALE) for x in png_size(png))
            data = base64.b64encode(png).decode("ascii")
            body.append(f'<figure><img src="data:image/png;base64,{data}" width="{w}" height="{h}" '
                        f'alt="{_html.escape(b.alt or b.path.stem)}">'
                        + (f"<figcaption>{inline(b.caption)}</figcaption>" if b.caption else "") + "</figure>")
        else:
            raise TypeError(f"not a report block: {b!r}")
    return "\n".join(["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
                      '<meta name="viewport" content="width=device-width, initial-scale=1">',
                      f"<title>{_html.escape(title)}</title>", f"<style>{STYLE}</style>", "</head>", "<body>",
                      *body, f"<script>{COPY}</script>", "</body>", "</html>", ""])


SCALE = 96 / 150  # CSS pixels per PNG pixel: plots.save writes 150 dpi, a browser lays out 96 px per inch


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) in pixels from a PNG's header (its IHDR chunk); ValueError if it is not a PNG."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ValueError("not a PNG file")
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def inline(text: str) -> str:
    """Inline Markdown (**bold**, `code`) as HTML, everything else escaped."""
    parts = re.split(r"(`[^`]*`)", text)
    out = []
    for p in parts:
        if len(p) >= 2 and p.startswith("`") and p.endswith("`"):
            out.append(f"<code>{_html.escape(p[1:-1])}</code>")
        else:
            out.append(re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", _html.escape(p)))
    return "".join(out)


def _table(t: Table) -> str:
    df = t.frame
    if not len(df):
        return "<p>(none)</p>"
    head = "".join(f"<th>{_html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for r in df.itertuples(index=False):
        cells = []
        for v in r:
            num = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
            text = ("" if num and not np.isfinite(v) else format(v, t.floatfmt)) if isinstance(
                v, (float, np.floating)) else str(v)
            cells.append(f'<td class="num">{_html.escape(text)}</td>' if num else f"<td>{inline(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #1d2430; line-height: 1.45; }
h1 { font-size: 1.6em; border-bottom: 2px solid #2f6f4f; padding-bottom: .2em; }
h2 { font-size: 1.25em; margin-top: 1.8em; border-bottom: 1px solid #d0d7de; }
h3 { font-size: 1.05em; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: .9em; }
th, td { border: 1px solid #d0d7de; padding: .25em .6em; text-align: left; vertical-align: top; }
th { background: #f2f5f8; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: .9em; background: #f2f5f8;
       padding: 0 .2em; border-radius: 3px; }
.cmd { position: relative; }
.cmd pre { background: #0f1720; color: #e6edf3; padding: .8em 4.5em .8em 1em; border-radius: 6px; overflow-x: auto;
           white-space: pre-wrap; word-break: break-all; }
.cmd pre code { background: none; color: inherit; padding: 0; }
.cmd button { position: absolute; top: .4em; right: .4em; font-size: .8em; }
.text pre { background: #f6f8fa; padding: .8em 1em; border-radius: 6px; white-space: pre-wrap; font-size: .85em; }
figure { margin: 1em 0 2em; }
figure img { max-width: 100%; height: auto; border: 1px solid #e5e9ee; }
figcaption { font-size: .88em; color: #4b5563; margin-top: .3em; }
"""

COPY = """
document.querySelectorAll('.cmd').forEach(function (d) {
  var b = d.querySelector('button'), c = d.querySelector('code');
  b.addEventListener('click', function () {
    var done = function () { b.textContent = 'copied'; setTimeout(function () { b.textContent = 'copy'; }, 1500); };
    if (navigator.clipboard) { navigator.clipboard.writeText(c.innerText).then(done); return; }
    var r = document.createRange(); r.selectNodeContents(c);
    var s = window.getSelection(); s.removeAllRanges(); s.addRange(r); document.execCommand('copy'); done();
  });
});
"""
