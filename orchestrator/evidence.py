"""Evidence: what a program run established, as text an LLM can read (no pixels)."""

from __future__ import annotations

from programs.trace import StepStatus, Trace
from tools.types import describe_value

STEP_LIMIT = 600
OCR_LIMIT = 2500


def trace_evidence(trace: Trace) -> str:
    """One line per step: its output (described) or its error; OCR text in full up to a limit."""
    lines = []
    for record in trace.steps:
        if record.status == StepStatus.OK:
            limit = OCR_LIMIT if record.tool in ("OCR", "TRANSCRIBE", "RESULT") else STEP_LIMIT
            lines.append(f"{record.target} = {describe_value(record.output, limit=limit)}")
        elif record.status == StepStatus.SKIPPED:
            lines.append(f"{record.target}: not run ({record.error})")
        else:
            lines.append(f"{record.target}: FAILED ({record.error_type}: {record.error})")
    return "\n".join(lines)


def result_text(trace: Trace) -> str | None:
    """The program's result as short text, or None when it failed."""
    return describe_value(trace.result, limit=OCR_LIMIT) if trace.ok else None
