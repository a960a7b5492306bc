"""One self-contained HTML page per run: its tables and its pictures, readable in any browser."""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sdt_neuro.atomic import write_text

REPORT_NAME = "index.html"
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 4px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
figure { display: inline-block; margin: 0.5em; vertical-align: top; }
figure img { max-width: 520px; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #555; max-width: 520px; }
p.note { color: #555; }
"""


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.1f}"
    return html.escape(str(value))


def table_html(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """An HTML table of ``rows`` (dicts) with ``columns`` as headers; missing values are blank."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(r[c]) if c in r else ''}</td>" for c in columns) + "</tr>"
                   for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_report(out_dir: str | os.PathLike, title: str, sections: Sequence[tuple[str, str]],
                 pictures: Sequence[tuple[str | os.PathLike, str]], notes: Sequence[str] = ()) -> Path:
    """Write ``index.html`` in ``out_dir``: ``title``, ``notes`` as paragraphs, each section
    ``(heading, html)``, then the pictures ``(png path, caption)`` embedded as data URIs (the page
    stays whole when copied alone). Pictures that do not exist are skipped."""
    out = Path(out_dir)
    parts = [f"<h1>{html.escape(title)}</h1>"]
    parts += [f'<p class="note">{html.escape(n)}</p>' for n in notes]
    for heading, body in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>{body}")
    figures = []
    for path, caption in pictures:
        file = Path(path)
        if not file.is_file():
            continue
        data = base64.b64encode(file.read_bytes()).decode("ascii")
        figures.append(f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(file.name)}">'
                       f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    if figures:
        parts.append("<h2>Pictures</h2>" + "".join(figures))
    page = (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body>{''.join(parts)}</body></html>")
    path = out / REPORT_NAME
    write_text(path, page)
    return path
