"""Tool cards rendered from the registry: planner prompt text and Markdown docs.

These, the decoding grammar (programs/grammar.py) and the ``visorch tools`` listing all read the
same ToolSpec objects, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from visorch.tools.models.backend import Backend
from visorch.tools.registry import ParamSpec, ToolSpec


def _param_line(param: ParamSpec) -> str:
    default = "" if param.required else f" (optional, default {param.default!r})"
    description = f": {param.description}" if param.description else ""
    return f"{param.name}: {param.type_label()}{default}{description}"


def prompt_card(spec: ToolSpec) -> str:
    """The few lines the planner LLM sees for one tool."""
    lines = [f"{spec.signature()}", f"  {spec.summary}"]
    lines += [f"  - {_param_line(param)}" for param in spec.params]
    if spec.limitations:
        lines.append(f"  Limits: {spec.limitations}")
    lines.append(f"  Example: {spec.example}")
    return "\n".join(lines)


def compact_card(spec: ToolSpec) -> str:
    """One line per tool: signature and summary (the planner prompt, where tokens are scarce)."""
    return f"{spec.signature()}: {spec.summary}"


def prompt_text(specs: Iterable[ToolSpec], compact: bool = True) -> str:
    """All tool cards for a planner prompt, grouped by category."""
    by_category: dict[str, list[ToolSpec]] = {}
    for spec in specs:
        by_category.setdefault(spec.category, []).append(spec)
    render = compact_card if compact else prompt_card
    blocks = []
    for category, members in by_category.items():
        blocks.append(f"# {category}\n" + "\n".join(render(spec) for spec in members))
    return "\n".join(blocks) if compact else "\n\n".join(blocks)


def backend_line(backend: Backend) -> str:
    """One backend as a card fact: its name, title and own notes (accuracy, speed, vocabulary)."""
    notes = f" {backend.notes}" if backend.notes else ""
    return f"`{backend.name}`: {backend.title}.{notes}"


def markdown_card(spec: ToolSpec, status: str | None = None) -> str:
    """One tool as a Markdown section (docs/tools.md); its backends' facts are in :func:`markdown_backends`."""
    lines = [f"### `{spec.name}`", "", spec.summary, ""]
    body = spec.description.split("\n", 1)
    if len(body) > 1 and body[1].strip():
        lines += [body[1].strip(), ""]
    lines += ["| argument | kind | default | description |", "| --- | --- | --- | --- |"]
    for param in spec.params:
        default = "required" if param.required else f"`{param.default!r}`"
        lines.append(f"| `{param.name}` | {param.type_label()} | {default} | {param.description} |")
    lines += ["", f"Returns: **{spec.output.value}**.", ""]
    if spec.capability:
        backends = f"[its backends](#backends-{spec.capability})"
        lines += [f"Needs a model for: `{spec.capability}` ({backends})." + (f" {status}" if status else ""), ""]
    if spec.limitations:
        lines += [f"Limitations: {spec.limitations}", ""]
    lines += ["Example:", "", "```", spec.example, "```", ""]
    return "\n".join(lines)


def markdown_reference(specs: Iterable[ToolSpec], backends: Sequence[Backend] | None = None) -> str:
    """The whole tool reference as Markdown, grouped by category, then each capability's backends and their notes.

    ``backends`` defaults to every backend visorch declares (installed or not), so the reference is
    the same on every machine.
    """
    if backends is None:
        from visorch.tools.catalog import default_backends

        backends = default_backends()
    specs = list(specs)
    by_category: dict[str, list[ToolSpec]] = {}
    for spec in specs:
        by_category.setdefault(spec.category, []).append(spec)
    parts = [
        "# Tool reference",
        "",
        "Generated from the tool registry by `visorch tools --markdown`; do not edit by hand.",
        "",
    ]
    for category, members in by_category.items():
        parts += [f"## {category}", ""]
        parts += [markdown_card(spec) for spec in members]
    parts.append(markdown_backends(backends, {spec.capability for spec in specs if spec.capability}))
    return "\n".join(parts).rstrip() + "\n"


def markdown_backends(backends: Sequence[Backend], capabilities: set[str]) -> str:
    """The backends of each capability the tools need, with their own notes (accuracy, speed, vocabulary)."""
    parts = [
        "## Backends",
        "",
        "Each model tool runs on the preferred installed backend of its capability (`visorch models` lists them; "
        "`visorch tools` shows the notes of the one in use here).",
        "",
    ]
    for capability in sorted(capabilities):
        serving = [backend for backend in backends if backend.capability == capability]
        parts += [f"### Backends: {capability}", ""]
        parts += [f"- {backend_line(backend)}" for backend in serving] or ["- (none declared)"]
        parts.append("")
    return "\n".join(parts)
