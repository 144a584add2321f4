"""Grounding and consistency: the boxes an answer rests on, and an answer that contradicts its program.

This is the verification stage of the graph; post-hoc hallucination correction plugs in beside it.
"""

from __future__ import annotations

import re
from typing import Any

from visorch.programs.trace import Trace
from visorch.state import GroundedBox
from visorch.tools.detections import Detections
from visorch.tools.fusion.grounded import GroundedText
from visorch.tools.images import ImageRef
from visorch.tools.text import OCRText
from visorch.tools.types import format_number

_NUMBER_WORDS = {
    "zero": 0, "no": 0, "none": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
}  # fmt: skip


def grounded_boxes(trace: Trace, inputs: dict[str, Any]) -> list[GroundedBox]:
    """Boxes from the detections the result was computed from, in their input image's coordinates."""
    names = {value.sha256: name for name, value in inputs.items() if isinstance(value, ImageRef)}
    boxes: list[GroundedBox] = []
    for target in [*trace.ancestors(trace.result_target), trace.result_target]:
        record = trace.step(target)
        output = record.output
        if isinstance(output, OCRText | GroundedText):  # read lines, or the fused boxes EXISTS / HOW_MANY rest on
            output = output.to_detections()
        if not record.ok or not isinstance(output, Detections) or len(output) == 0:
            continue
        placed = output.in_root_image()
        image_name = names.get(placed.image.sha256, placed.image.short_id)
        for box in placed.records():
            boxes.append(GroundedBox(**box.model_dump(), image=image_name, step=target))
    unique: dict[tuple[Any, ...], GroundedBox] = {}
    for box in boxes:
        unique.setdefault((box.image, box.box, box.label), box)
    return list(unique.values())


def _numbers_in(text: str) -> list[float]:
    found = [float(value) for value in re.findall(r"-?\d+(?:\.\d+)?", text.replace(",", ""))]
    found += [
        float(_NUMBER_WORDS[word])
        for word in re.findall(r"[a-z]+", text.lower())
        if word in _NUMBER_WORDS and word != "no"
    ]
    return found


def _yes_no(text: str) -> str | None:
    words = re.findall(r"[a-z]+", text.lower())
    if words and words[0] in ("yes", "no"):
        return words[0]
    return None


_YES_NO_START = ("is", "are", "does", "do", "did", "can", "could", "was", "were", "has", "have", "will", "should")
_COUNT_START = ("how many", "count", "what is the number of", "what number of")


def question_form(question: str) -> str:
    """'yes_no', 'count' or 'open', from how the question starts."""
    text = question.strip().lower()
    if text.startswith(_COUNT_START):
        return "count"
    words = re.findall(r"[a-z]+", text)
    if words and words[0] in _YES_NO_START:
        return "yes_no"
    return "open"


def check_consistency(answer: str, result: Any, question: str) -> tuple[str, list[str]]:
    """Keep ``answer`` unless it contradicts the program's result of the question's own form.

    A yes/no question with a yes/no result, or a counting question with a numeric result, must
    state that result; otherwise the result replaces the answer. Returns (answer, corrections).
    Other combinations (text results, a count behind a yes/no question) are left to the refiner.
    """
    form = question_form(question)
    is_yes_no = isinstance(result, bool) or (isinstance(result, str) and result.strip().lower() in ("yes", "no"))
    if form == "yes_no" and is_yes_no:
        expected = ("yes" if result else "no") if isinstance(result, bool) else result.strip().lower()
        said = _yes_no(answer)
        if said != expected:
            return expected, [f"the answer {answer!r} did not match the program's result {expected!r}; used the result"]
        return answer, []
    if form == "count" and isinstance(result, int | float) and not isinstance(result, bool):
        numbers = _numbers_in(answer)
        if float(result) not in numbers or len(set(numbers)) > 1:
            expected = format_number(result)
            return expected, [f"the answer {answer!r} did not state the program's result {expected}; used the result"]
    return answer, []
