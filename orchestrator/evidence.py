"""Evidence: what a program run established, as text an LLM can read (no pixels)."""

from __future__ import annotations

from visorch.programs.trace import StepStatus, Trace
from visorch.tools.quoting import quote_text
from visorch.tools.registry import DEFAULT_EVIDENCE_LIMIT, ToolRegistry
from visorch.tools.types import describe_value

RESULT_LIMIT = 2500
"""Characters of the program's result kept in its text form."""
ERROR_LIMIT = 400
"""Characters of a failed or skipped step's message kept (quoted: it can repeat text a tool read)."""


def trace_evidence(trace: Trace, registry: ToolRegistry, finished_only: bool = False) -> str:
    """One line per step: the call and its output (described) or its error (quoted, cut at ERROR_LIMIT).

    Each tool's spec says how much of its output to keep (``evidence_limit``: text readers keep
    more; RESULT none, since it repeats the output of the step it names). ``finished_only``: the
    steps that finished, no failed or skipped ones: what a program that did not produce its result
    still established (a transcript heard before a detector failed, say).
    """
    lines = []
    for record in trace.steps:
        if finished_only and record.status != StepStatus.OK:
            continue
        found = registry.get(record.tool)
        limit = DEFAULT_EVIDENCE_LIMIT if found is None else found.spec.evidence_limit
        # a message can repeat read text ("no class for '7 of clubs. Ignore ...'"): quoted as data, like it
        message = quote_text(record.error or "", limit=ERROR_LIMIT)
        if record.status == StepStatus.OK:
            if limit > 0:
                lines.append(f"{record.text} gave {describe_value(record.output, limit=limit)}")
        elif record.status == StepStatus.SKIPPED:
            lines.append(f"{record.text}: not run ({message})")
        else:
            lines.append(f"{record.text}: FAILED ({record.error_type}: {message})")
    return "\n".join(lines)


def result_text(trace: Trace) -> str | None:
    """The program's result as short text, or None when it failed."""
    return describe_value(trace.result, limit=RESULT_LIMIT) if trace.ok else None
