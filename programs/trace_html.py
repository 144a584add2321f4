"""Standalone HTML for a trace: VisProg's visual rationale, with boxes drawn and variables colour-coded."""

from __future__ import annotations

import colorsys
import hashlib
import html
import re
from typing import TYPE_CHECKING, Any

from visorch.tools.kinds import ValueKind
from visorch.tools.rendering import text_block
from visorch.tools.types import VALUE_TYPES, describe_value

if TYPE_CHECKING:
    from visorch.programs.trace import StepRecord, Trace

ROOT_CLASS = "visorch-trace"
"""Every rule of the trace's style is scoped under this class, so a trace shown inside another page
(a Jupyter output, the web app) neither restyles that page nor takes its colours: it keeps its own
light background and dark text in JupyterLab's dark and light themes alike."""

_STYLE = """
.root{font-family:system-ui,-apple-system,Segoe UI,sans-serif;padding:16px 20px;color:#1d1d1f;background:#fafafa;
 border-radius:8px;color-scheme:light}
h1{font-size:20px;margin:0 0 12px} h2{font-size:15px;margin:0}
.program{background:#fff;border:1px solid #ddd;border-radius:8px;padding:12px 16px;font:13px/1.6 ui-monospace,monospace;
 white-space:pre-wrap}
.answer{background:#fff;border:2px solid #2e7d32;border-radius:8px;padding:12px 16px;margin:16px 0;font-size:16px}
.answer.failed{border-color:#c62828}
.step{background:#fff;border:1px solid #ddd;border-radius:8px;margin:14px 0;padding:12px 16px}
.step.failed{border-color:#c62828;background:#fff7f7}.step.skipped{opacity:.65}
.head{display:flex;gap:12px;align-items:baseline;flex-wrap:wrap}
.code{font:13px ui-monospace,monospace}.meta{color:#666;font-size:12px}
.status{font-size:11px;font-weight:600;padding:2px 8px;border-radius:10px;background:#e8f5e9;color:#2e7d32}
.status.failed{background:#ffebee;color:#c62828}.status.skipped{background:#eee;color:#555}
.io{display:grid;grid-template-columns:1fr 1fr;gap:16px;margin-top:10px}
.io h3{font-size:12px;text-transform:uppercase;color:#888;margin:0 0 6px}
.value{margin:4px 0 10px}
.value img{display:block;max-width:100%;max-height:360px;border-radius:4px;border:1px solid #eee}
.value.small img{max-height:150px}.value.small table,.value.small .meta{display:none}
.name{font-weight:600;font-family:ui-monospace,monospace}
.error{color:#c62828;font-family:ui-monospace,monospace;font-size:12px;white-space:pre-wrap}
details pre{font-size:11px;overflow:auto;max-height:240px}
table.boxes{border-collapse:collapse;font-size:12px;margin-top:6px}
table.boxes td,table.boxes th{border-bottom:1px solid #eee;padding:2px 8px;text-align:left}
.text{white-space:pre-wrap;font-family:ui-monospace,monospace;font-size:12px;background:#f5f5f5;padding:6px;border-radius:4px}
"""


def variable_colour(name: str) -> str:
    """A stable, readable colour per variable name."""
    hue = int(hashlib.sha256(name.encode()).hexdigest()[:4], 16) / 0xFFFF
    red, green, blue = colorsys.hls_to_rgb(hue, 0.38, 0.75)
    return f"#{int(red * 255):02x}{int(green * 255):02x}{int(blue * 255):02x}"


def _name(name: str) -> str:
    return f'<span class="name" style="color:{variable_colour(name)}">{html.escape(name)}</span>'


def value_html(value: Any) -> str:
    """HTML for one program value: value classes render themselves; lists and plain values as text."""
    if isinstance(value, VALUE_TYPES):
        return value.to_html()
    if isinstance(value, list):
        return text_block(", ".join(describe_value(item) for item in value))
    return text_block(describe_value(value, limit=2000))


_SHOWN_AS_INPUT = frozenset({ValueKind.IMAGE, ValueKind.DETECTIONS})
"""Input kinds drawn beside a step (small); other inputs are shown only by their source text."""


def _highlight_program(source: str, names: list[str]) -> str:
    escaped = html.escape(source)
    if not names:
        return escaped
    pattern = re.compile(r"\b(" + "|".join(re.escape(name) for name in sorted(names, key=len, reverse=True)) + r")\b")
    return pattern.sub(lambda match: _name(match.group(1)), escaped)


def _input_html(name: str, source: str | None, value: Any) -> str:
    if source is not None and source.isidentifier() and source not in ("True", "False", "None"):
        label = f"{html.escape(name)} = {_name(source)}"
    else:
        label = f"{html.escape(name)} = <span class='code'>{html.escape(source or '')}</span>"
    shown = value.to_html() if isinstance(value, VALUE_TYPES) and value.value_kind in _SHOWN_AS_INPUT else ""
    return f"<div class='value small'>{label}{shown}</div>"


def _step_html(record: StepRecord) -> str:
    status = record.status.value
    timing = "" if record.duration_s is None else f"{record.duration_s * 1000:.0f} ms"
    if record.cached:
        timing += " (cached)"
    inputs = "".join(_input_html(name, record.sources.get(name), value) for name, value in record.inputs.items())
    if record.ok:
        output = value_html(record.output)
    else:
        details = (
            f"<details><summary>details</summary><pre>{html.escape(record.error_details)}</pre></details>"
            if record.error_details
            else ""
        )
        kind = f"{html.escape(record.error_type)}: " if record.error_type else ""
        output = f"<div class='error'>{kind}{html.escape(record.error or '')}</div>"
        output += details
    return (
        f"<div class='step {status}' id='step-{html.escape(record.target)}'>"
        f"<div class='head'><h2>{_name(record.target)}</h2><span class='code'>{html.escape(record.text)}</span>"
        f"<span class='status {status}'>{status}</span><span class='meta'>line {record.line} · {timing}</span></div>"
        f"<div class='io'><div><h3>inputs</h3>{inputs or '<div class=meta>none</div>'}</div>"
        f"<div><h3>output</h3>{output}</div></div></div>"
    )


def render_trace_fragment(trace: Trace, title: str = "visorch trace", heading: str | None = None) -> str:
    """``trace`` as one self-contained element (scoped style, images as data URIs) to embed in a page."""
    names = [record.target for record in trace.steps] + list(trace.inputs)
    if trace.ok:
        answer = f"<div class='answer'><b>Result:</b> {html.escape(describe_value(trace.result, limit=2000))}</div>"
    else:
        answer = f"<div class='answer failed'><b>Failed:</b> {html.escape(trace.error or 'unknown error')}</div>"
    inputs = "".join(
        f"<div class='step'><div class='head'><h2>{_name(name)}</h2><span class='meta'>input</span></div>"
        f"<div class='value'>{value_html(value)}</div></div>"
        for name, value in trace.inputs.items()
    )
    steps = "".join(_step_html(record) for record in trace.steps)
    header = f"<div>{heading}</div>" if heading else ""
    return scoped_fragment(
        f"<h1>{html.escape(title)}</h1>{header}"
        f"<div class='program'>{_highlight_program(trace.source.strip(), names)}</div>{answer}"
        f"{inputs}{steps}<div class='meta'>ran {trace.duration_s:.2f} s, started {trace.started_at.isoformat()}</div>"
    )


def render_trace_html(trace: Trace, title: str = "visorch trace", heading: str | None = None) -> str:
    """A standalone HTML page for ``trace`` (images embedded as JPEG data URIs)."""
    return html_page(render_trace_fragment(trace, title, heading), title)


def scoped_fragment(body: str) -> str:
    """``body`` inside the trace's root element, with the trace's style scoped to it."""
    return f"<div class='{ROOT_CLASS}'><style>{_SCOPED_STYLE}</style>{body}</div>"


def html_page(fragment: str, title: str) -> str:
    """A standalone page around a fragment made by :func:`scoped_fragment`."""
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>body{{margin:0;padding:16px;background:#fafafa}}</style></head><body>{fragment}</body></html>"
    )


def _scope(css: str, root: str) -> str:
    """Prefix every selector of a flat style sheet with ``.root``; the ``.root`` rule styles the root itself."""
    rules = []
    for selectors, block in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
        scoped = []
        for selector in selectors.split(","):
            selector = selector.strip()
            scoped.append(f".{root}" if selector == ".root" else f".{root} {selector}")
        rules.append(f"{','.join(scoped)}{{{block.strip()}}}")
    return "\n".join(rules)


_SCOPED_STYLE = _scope(_STYLE, ROOT_CLASS)
