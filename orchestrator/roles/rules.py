"""Rule verdicts with rule answers: when the evidence needs no judgement, no LLM is asked.

A program ran, its result has the question's own form and the evidence behind it is confident:
then the verdict is ANSWER and the answer is the result itself, both recorded as by rule.

- "How many ...?" with a count of at least 1, every box counted at least ``min_score``.
- "Is there ...?" / "Are there ...?" with 'yes', from boxes of which one is at least ``min_score``.
- "What does it say?" / "What is written ...?" with OCR text whose every line is at least
  ``min_text_confidence``.

- EXISTS / HOW_MANY (calibrated, fused experts): a confident verdict or count; a probable count hedged
  ("probably 2; another box is doubtful"); after the closer look (``closer=True``, planned by
  :func:`visorch.roles.decision.look_again`) an uncertain existence too: "yes, probably (p=0.64 ...)",
  or "I cannot tell" at p=0.5.

- A program whose result is the text itself, read by OCR or heard by TRANSCRIBE and not empty (the
  planner's rule for reading a value or answering about what is said): the verdict is ANSWER and the
  refiner writes the answer from that text (``answer`` is empty). Asking the decision-maker first
  only adds a call, and a small one misjudges quoted text ("the transcript does not mention a card"
  of the transcript "10 of clubs."): another round cannot read more than the text there is.

Everything else goes to the LLM decision-maker, which can plan again: zero detections (a 'no' or
a count of 0 rests on what a detector did not see), low scores, open questions answered from boxes,
empty text or speech heard with a note (near-silence), failed steps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from visorch.grounding import question_form
from visorch.programs.trace import StepStatus, Trace
from visorch.state import Verdict
from visorch.tools.detections import Detections
from visorch.tools.fusion.calibration import CLOSER_LOOK
from visorch.tools.text import OCRText, Transcript
from visorch.tools.types import format_number

DEFAULT_MIN_SCORE = 0.4
"""Detector scores below this are doubtful (the decision-maker's prompt says the same)."""
DEFAULT_MIN_TEXT_CONFIDENCE = 0.8

_EXISTS_TEXT = re.compile(r"^[a-z ]+: (?P<verdict>present|absent|uncertain)\b[^;]*?p=(?P<p>[0-9.]+)")
"""EXISTS's result ('dog: present, p=0.91 (...)'): calibrated, so a confident verdict needs no LLM."""
_HOW_MANY_TEXT = re.compile(r"^(?P<count>\d+) \(p=(?P<p>[0-9.]+)\)")
"""HOW_MANY's confident result ('3 (p=0.81); ...'); a hedged one ('probably 2 ...') is answered with its doubt."""
_HOW_MANY_HEDGED = re.compile(r"^probably (?P<count>\d+) \(p=(?P<p>[0-9.]+)\)(?:; (?P<doubtful>\d+) more)?")
LEAN_MARGIN = 0.01
"""After the closer look, an 'uncertain' p at least this far from 0.5 is answered with its lean, hedged ('yes,
probably'); at p=0.50 the answer is "I cannot tell", never a "no". Chosen on coco128 (``benchmarks/fusion.py
--rules``): the lean of the pooled looks (calibration.pool_looks) between 0.45 and 0.55 was right 20 of 33 times
there, so "I cannot tell" for that whole band (the margin 0.05 before) withheld more right answers than wrong ones
(POPE-style accuracy 0.863 against 0.878)."""

_READ_QUESTION = re.compile(
    r"^\s*(what does (it|the \w+( \w+)?) say|what is written|what (text|words?) (is|are)|read the)\b", re.I
)


@dataclass(frozen=True)
class RuleAnswer:
    """A verdict and an answer that followed from the evidence by rule."""

    verdict: Verdict
    answer: str
    """Empty when the refiner writes the answer (from text the program read)."""


def _detections_behind(trace: Trace) -> list[Detections] | None:
    """The detections the result was computed from; None when text (OCR, speech) is among its sources."""
    found = []
    for target in [*trace.ancestors(trace.result_target), trace.result_target]:
        output = trace.step(target).output
        if isinstance(output, OCRText | Transcript):
            return None
        if isinstance(output, Detections):
            found.append(output)
    return found


def _scores(detections: list[Detections]) -> list[float]:
    return [score if score is not None else 0.0 for found in detections for score in found.scores]


def rule_answer(
    question: str,
    trace: Trace,
    min_score: float = DEFAULT_MIN_SCORE,
    min_text_confidence: float = DEFAULT_MIN_TEXT_CONFIDENCE,
) -> RuleAnswer | None:
    """The verdict and answer by rule, or None when the evidence needs the LLM's judgement."""
    if not trace.ok or any(record.status != StepStatus.OK for record in trace.steps):
        return None
    result = trace.result
    form = question_form(question)
    calibrated = _calibrated_answer(form, result)
    if calibrated is not None:
        return calibrated
    if form == "count" and isinstance(result, int | float) and not isinstance(result, bool) and result >= 1:
        detections = _detections_behind(trace)
        scores = _scores(detections or [])
        if not scores or min(scores) < min_score:
            return None
        reason = f"counted {format_number(result)} boxes, each scored at least {min_score:g}"
        return _ruled(reason, format_number(result))
    if form == "yes_no" and _is_yes(result):
        detections = _detections_behind(trace)
        scores = _scores(detections or [])
        if not scores or max(scores) < min_score:
            return None
        return _ruled(f"a box scored {max(scores):.2f} (at least {min_score:g})", "yes")
    if isinstance(result, OCRText) and result.lines:
        if _READ_QUESTION.match(question) and min(line.confidence for line in result.lines) >= min_text_confidence:
            text = " ".join(line.text for line in result.lines)
            return _ruled(f"every line read with confidence at least {min_text_confidence:g}", text)
        return _ruled(f"the program read {len(result.lines)} line(s) of text; the answer is written from them", "")
    if isinstance(result, Transcript) and result.text.strip() and not result.notes:
        return _ruled("the program heard the speech; the answer is written from its transcript", "")
    return None


def _calibrated_answer(form: str, result: object) -> RuleAnswer | None:
    """A confident EXISTS / HOW_MANY result answers by rule; so does a weak one after the closer look, saying
    how sure it is. A weak first look returns None (the decision rule looks closer, see roles.decision)."""
    if not isinstance(result, str):
        return None
    existence = _EXISTS_TEXT.match(result)
    if form == "yes_no" and existence is not None and existence["verdict"] != "uncertain":
        answer = "yes" if existence["verdict"] == "present" else "no"
        return _ruled(f"EXISTS: {existence['verdict']} with calibrated p={existence['p']}", answer)
    looked_closer = CLOSER_LOOK in result
    if form == "yes_no" and existence is not None and looked_closer:
        reason = f"EXISTS: still uncertain after a closer look, p={existence['p']}"
        return _ruled(reason, _hedged_yes_no(existence["p"]))
    counted = _HOW_MANY_TEXT.match(result)
    if form == "count" and counted is not None:
        return _ruled(f"HOW_MANY: {counted['count']} with calibrated p={counted['p']}", counted["count"])
    hedged = _HOW_MANY_HEDGED.match(result)
    if form == "count" and hedged is not None:  # stated with its doubt (a closer look does not pay for counts)
        doubtful = int(hedged["doubtful"] or 0)
        more = {0: "", 1: "; another box is doubtful"}.get(doubtful, "; a few more boxes are doubtful")
        return _ruled(f"HOW_MANY: probably {hedged['count']}, p={hedged['p']}",
                      f"probably {hedged['count']}{more}")  # fmt: skip
    return None


def _hedged_yes_no(p: str) -> str:
    """The answer to a yes/no question whose evidence stayed uncertain: its lean, hedged, or 'I cannot tell'."""
    probability = float(p)
    if probability >= 0.5 + LEAN_MARGIN:
        return f"yes, probably (p={p} after a closer look)"
    if probability <= 0.5 - LEAN_MARGIN:
        return f"no, probably not (p={p} after a closer look)"
    lean = "yes" if probability >= 0.5 else "no"
    return f"I cannot tell (p={p} after a closer look; leaning {lean})"


def _is_yes(result: object) -> bool:
    return result is True or (isinstance(result, str) and result.strip().lower() == "yes")


def _ruled(reason: str, answer: str) -> RuleAnswer:
    return RuleAnswer(Verdict(verdict="ANSWER", reason=f"by rule: {reason}", by_rule=True), answer)
