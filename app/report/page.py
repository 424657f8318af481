"""HTML building blocks of the report: escaped tables, figures and the page itself.

The page is one self-contained file: inline CSS, images as data: URIs, no
script, and a Content-Security-Policy that forbids loading anything else, so
the report opens offline and cannot reach the network.
"""

from collections.abc import Iterable, Sequence
from html import escape

from odweights.app.report.records import Shown

CONTENT_SECURITY_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d1d1d;
background:#fff}
header{background:#24425f;color:#fff;padding:14px 28px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;opacity:.85}
nav{padding:6px 28px;background:#eef2f6;border-bottom:1px solid #d5dde6}
nav a{margin-right:16px;color:#24425f}
section{padding:6px 28px 18px;border-bottom:1px solid #e3e3e3}
h2{font-size:19px;margin:14px 0 8px}h3{font-size:15px;margin:14px 0 6px}
table{border-collapse:collapse;margin:6px 0 10px}
th,td{border:1px solid #d9d9d9;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f3f5f7}td.n{text-align:right;font-variant-numeric:tabular-nums}
pre{background:#f6f8fa;padding:10px;overflow:auto;font-size:12px;max-height:520px}
.grid{display:flex;flex-wrap:wrap;gap:10px}
figure{margin:0;width:260px;border:1px solid #ddd;padding:4px;background:#fafafa}
figure img{display:block;max-width:256px;max-height:256px}
figcaption{font-size:12px;word-break:break-word}figcaption b{display:block}
.missing{width:256px;height:60px;display:flex;align-items:center;justify-content:center;
background:#eee;color:#777;font-size:12px}
.note{color:#555}.warning{color:#9a3412;font-weight:600}
.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;
vertical-align:middle}
"""


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A table; numbers are right-aligned."""
    head = "".join(f"<th>{escape(str(name))}</th>" for name in header)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="n">{_number(value)}</td>'
            if isinstance(value, (int, float)) and not isinstance(value, bool)
            else f"<td>{escape(_text(value))}</td>"
            for value in row
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def key_values(rows: Iterable[tuple[str, object]]) -> str:
    """A two-column table of names and values, without a header."""
    body = "".join(
        f"<tr><th>{escape(name)}</th><td>{escape(_text(value))}</td></tr>" for name, value in rows
    )
    return f"<table><tbody>{body}</tbody></table>"


def _number(value) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:.4g}"


def _text(value) -> str:
    return "-" if value is None else str(value)


def paragraph(text: str, css_class: str | None = None) -> str:
    attribute = f' class="{css_class}"' if css_class else ""
    return f"<p{attribute}>{escape(text)}</p>"


def figures(shown: Sequence[Shown]) -> str:
    """A grid of thumbnails with captions; an example without an image says why."""
    items = []
    for item in shown:
        if item.thumbnail is not None:
            picture = (
                f'<img src="{item.thumbnail.data_uri}" width="{item.thumbnail.width}" '
                f'height="{item.thumbnail.height}" alt="{escape(item.title)}">'
            )
        else:
            picture = '<div class="missing">no image to show</div>'
        caption = "".join(f"<span>{escape(line)}</span><br>" for line in item.lines)
        items.append(
            f"<figure>{picture}<figcaption><b>{escape(item.title)}</b>{caption}"
            "</figcaption></figure>"
        )
    return f'<div class="grid">{"".join(items)}</div>'


def legend(entries: Sequence[tuple[tuple[int, int, int], str]]) -> str:
    spans = "".join(
        f'<span style="background:rgb{colour}"></span>{escape(text)}' for colour, text in entries
    )
    return f'<p class="legend">{spans}</p>'


def section(section_id: str, title: str, parts: list[str]) -> str:
    return f'<section id="{section_id}"><h2>{escape(title)}</h2>{"".join(parts)}</section>'


def document(title: str, subtitle: str, sections: Sequence[tuple[str, str, list[str]]]) -> str:
    """The whole page: header, a table of contents and the sections (id, title, parts)."""
    nav = "".join(f'<a href="#{section_id}">{escape(name)}</a>' for section_id, name, _ in sections)
    body = "".join(section(*entry) for entry in sections)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<header><h1>{escape(title)}</h1><p>{escape(subtitle)}</p></header>"
        f"<nav>{nav}</nav>{body}</body></html>\n"
    )
