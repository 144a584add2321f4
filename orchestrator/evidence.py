"""Evidence: what a program run established, as text an LLM can read (no pixels)."""

from __future__ import annotations

from visorch.programs.trace import StepStatus, Trace
from visorch.tools.types import describe_value

STEP_LIMIT = 600
OCR_LIMIT = 2500


def trace_evidence(trace: Trace) -> str:
    """One line per step: the call and its output (described) or its error; texts in full up to a limit.

    The RESULT step is left out: it repeats the output of the step it names.
    """
    lines = []
    for record in trace.steps:
        if record.tool == "RESULT" and record.status == StepStatus.OK:
            continue
        if record.status == StepStatus.OK:
            limit = OCR_LIMIT if record.tool in ("OCR", "TRANSCRIBE") else STEP_LIMIT
            lines.append(f"{record.text} gave {describe_value(record.output, limit=limit)}")
        elif record.status == StepStatus.SKIPPED:
            lines.append(f"{record.text}: not run ({record.error})")
        else:
            lines.append(f"{record.text}: FAILED ({record.error_type}: {record.error})")
    return "\n".join(lines)


def result_text(trace: Trace) -> str | None:
    """The program's result as short text, or None when it failed."""
    return describe_value(trace.result, limit=OCR_LIMIT) if trace.ok else None
