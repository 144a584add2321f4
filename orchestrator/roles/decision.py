"""The decision-maker role: after each execution, an explicit verdict: ANSWER, or CONTINUE with what is missing."""

from __future__ import annotations

import json
import re

from pydantic import ValidationError
from visorch.llm import ChatMessage, LLMBackend, LLMRequest, LLMResponse
from visorch.programs.trace import StepStatus, Trace
from visorch.state import ProgramAttempt, Verdict
from visorch.tools.fusion.calibration import CLOSER_LOOK
from visorch.tools.quoting import READ_TEXT_RULE

SYSTEM_PROMPT = (
    """You judge whether the results of a visual program answer a question. Tool outputs can be \
wrong: detectors miss small or unusual objects, give low scores (below 0.4 is doubtful) and cannot see classes \
they do not know ('no class for X' means the detector cannot name X, not that X is absent); OCR can misread; \
speech recognition can mishear. Reply ANSWER when the results answer the question well enough. Reply CONTINUE \
when something needed is missing or doubtful, and say what to try instead (another object name, a crop, a \
different tool). EXISTS and HOW_MANY give a calibrated probability p: 'uncertain', 'probably' or a doubtful box \
is weak evidence, so CONTINUE and look again (a crop, another name) unless this is the last round; 'uncertain' \
never means 'no'. Reply in JSON with a few words per field: {"verdict": "ANSWER" or "CONTINUE", "reason": "...", \
"missing": "..."}
"""
    + READ_TEXT_RULE
)

VERDICT_SCHEMA = {
    "type": "object",
    "properties": {
        "verdict": {"type": "string", "enum": ["ANSWER", "CONTINUE"]},
        "reason": {"type": "string", "maxLength": 100},
        "missing": {"type": "string", "maxLength": 100},
    },
    "required": ["verdict", "reason", "missing"],
    "additionalProperties": False,
}


def rule_verdict(attempt: ProgramAttempt) -> Verdict | None:
    """A verdict that needs no LLM: a program that produced no result must be replaced."""
    if attempt.ok:
        return None
    return Verdict(
        verdict="CONTINUE",
        reason=f"the program did not produce a result: {attempt.error}"[:400],
        missing="a program that runs; avoid the failing step or use another tool",
        by_rule=True,
    )


def parse_verdict(text: str) -> Verdict:
    """A Verdict from the LLM's JSON; an unusable reply is ANSWER unless it plainly says CONTINUE alone.

    Why ANSWER: the LLM judges only programs that ran (a failed one gets :func:`rule_verdict`'s
    CONTINUE without asking), so there is a result to answer from. An unreadable judgement names
    nothing missing, so another round would re-plan blind: a slow LLM round that the repeated-program
    rule usually ends anyway. Answering hands the result to the refiner, which writes only what the
    evidence supports ("I cannot tell ..." when it does not), and then to verification. A reply that
    is not JSON but says CONTINUE and not ANSWER is taken at its word. Either way the verdict's reason
    starts with "unparsed judgement", so traces show that the LLM's JSON was unusable.
    """
    try:
        data = json.loads(text)
        return Verdict.model_validate({k: data.get(k, "") for k in ("verdict", "reason", "missing")})
    except (json.JSONDecodeError, ValidationError, AttributeError):
        upper = text.upper()
        verdict = "CONTINUE" if "CONTINUE" in upper and "ANSWER" not in upper else "ANSWER"
        return Verdict(verdict=verdict, reason=f"unparsed judgement: {text[:200]}")  # type: ignore[arg-type]


def decide(
    llm: LLMBackend, question: str, attempt: ProgramAttempt, round_number: int, max_rounds: int
) -> tuple[Verdict, LLMResponse]:
    """Ask the LLM for a verdict on one executed program."""
    user = (
        f"Question: {question}\nProgram:\n{attempt.source}\nResults:\n{attempt.evidence}\n"
        f"This was round {round_number} of {max_rounds}."
    )
    request = LLMRequest(
        messages=[ChatMessage(role="system", content=SYSTEM_PROMPT), ChatMessage(role="user", content=user)],
        max_tokens=120,
        temperature=0.0,
        fixed_messages=1,
        json_schema=VERDICT_SCHEMA if llm.supports_json_schema else None,
    )
    response = llm.complete(request)
    return parse_verdict(response.text), response


_FUSED_CALL = re.compile(r"\b(?P<tool>EXISTS|HOW_MANY)\((?P<args>[^()\n]*)\)")
_WEAK_EXISTS = re.compile(r"^[a-z ]+: uncertain\b[^;]*?p=(?P<p>[0-9.]+)")


def weak_fused_evidence(trace: Trace) -> str | None:
    """What is weak about a program's EXISTS results ('uncertain'), or None."""
    for record in trace.steps:
        output = record.output
        if record.tool not in ("EXISTS", "HOW_MANY") or record.status != StepStatus.OK or not isinstance(output, str):
            continue
        weak = _WEAK_EXISTS.match(output) if record.tool == "EXISTS" else None  # a closer look does not pay for
        # counts: tiles split and add boxes (coco128: exact 0.544 at the first look, 0.528 after a closer one)
        if weak is not None and CLOSER_LOOK not in output:
            return f"{record.tool} said {output.split(';')[0]}"
    return None


def closer_look_program(program: str) -> str | None:
    """``program`` with every EXISTS / HOW_MANY call looking closer (``closer=True``); None when none can."""
    changed = False

    def closer(match: re.Match[str]) -> str:
        nonlocal changed
        if "closer" in match["args"]:
            return match.group(0)
        changed = True
        return f"{match['tool']}({match['args'].rstrip()}, closer=True)"

    rewritten = _FUSED_CALL.sub(closer, program)
    return rewritten if changed else None


def look_again(attempt: ProgramAttempt, trace: Trace | None) -> Verdict | None:
    """CONTINUE by rule with the same program looking closer, when its fused evidence was weak.

    'uncertain' from EXISTS is weak evidence: rather than answer "no", or ask the LLM what to try, the
    next round runs the same program with ``closer=True``
    (every expert also sees the mirrored image and overlapping tiles; the classifier sees tiles and crops).
    Its result is final: :mod:`visorch.roles.rules` answers from it, saying how sure it is.
    """
    if trace is None or not attempt.ok:
        return None
    weak = weak_fused_evidence(trace)
    program = closer_look_program(attempt.source) if weak is not None else None
    if program is None:
        return None
    return Verdict(
        verdict="CONTINUE",
        reason=f"by rule: weak evidence ({weak})"[:400],
        missing="a closer look: the mirrored image and overlapping tiles, the classifier on tiles and crops",
        by_rule=True,
        program=program,
    )
