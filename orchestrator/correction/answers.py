"""Short answers of the agent (yes/no, a count) as claims about the question's object, so correction can check them.

"yes" to "Is there a dog in the image?" claims "There is a dog."; "3" to "How many dogs are there?" claims
"There are three dogs.". The corrector checks that statement like any text, and the verdicts give the answer:

- yes/no: the object found (supported) -> "yes"; not there (removed: no box at the threshold and the second
  look says absent) -> "no"; unverified (the tools are unsure or cannot look) -> the answer stands.
- count: a corrected count -> the tools' count; the object not there -> "0"; otherwise the answer stands.

Answers that hedge or report a failure ("could not tell", "uncertain", "probably 2", "LOC failed") are
never checked, so correction cannot turn "could not tell" into "no" or into a number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from visorch.correction.result import Correction
from visorch.correction.rewrite import plural
from visorch.correction.types import Claim
from visorch.correction.vocabulary import NUMBER_NAMES, NUMBER_WORDS, find_mentions
from visorch.grounding import question_form
from visorch.tools.vocabulary import normalise, singular

HEDGES = re.compile(
    r"\b(?:cannot|can't|can not|could not|couldn't|not sure|unsure|uncertain|unclear|unknown|don't know|"
    r"do not know|probably|possibly|maybe|might|doubtful|failed|fails|error|unable|no class)\b",
    re.IGNORECASE,
)
"""Words of an answer that hedges or reports a failure: such an answer is not checked."""


@dataclass(frozen=True)
class AnswerClaim:
    """What a short answer claims about the question's object, as a statement the corrector can check."""

    form: Literal["yes_no", "count"]
    name: str
    """The question's object, singular ('dog')."""
    detector_class: str
    said: str
    """The answer: 'yes', 'no', or a count in digits."""
    statement: str


def _said(answer: str, form: str) -> str | None:
    words = re.findall(r"[a-z]+|\d+", answer.lower())
    if not words or len(words) > 12 or HEDGES.search(answer):
        return None
    if form == "yes_no":
        return words[0] if words[0] in ("yes", "no") else None
    numbers = {int(w) for w in words if w.isdigit()} | {
        NUMBER_WORDS[w] for w in words if w in NUMBER_WORDS and w not in ("a", "an")
    }
    if "no" in words[:1] or "none" in words or "zero" in words:
        numbers.add(0)
    return str(numbers.pop()) if len(numbers) == 1 else None


def answer_claim(question: str, answer: str) -> AnswerClaim | None:
    """The claim a short yes/no or count answer makes about the question's one object, or None (not such an
    answer, a hedge, no detector class named, a count of 0 or beyond twelve)."""
    form = question_form(question)
    if form not in ("yes_no", "count"):
        return None
    said = _said(answer, form)
    objects = [m for m in find_mentions(question) if not m.negated]
    if said is None or len({m.detector_class for m in objects}) != 1:
        return None
    name = singular(normalise(objects[0].surface)) or objects[0].detector_class
    if form == "yes_no":
        return AnswerClaim("yes_no", name, objects[0].detector_class, said, f"There is a {name}.")
    count = int(said)
    if count == 0 or count not in NUMBER_NAMES:
        return None  # 'There are no dogs' claims nothing to look for; large counts have no number word
    noun = name if count == 1 else plural(name)
    verb = "is" if count == 1 else "are"
    return AnswerClaim("count", name, objects[0].detector_class, said, f"There {verb} {NUMBER_NAMES[count]} {noun}.")


def states_the_answer(claim: AnswerClaim, checked: Claim) -> bool:
    """Whether a verdict only repeats what the answer says: "no" to "Is there a dog?" is the claim "There is a
    dog." removed, which confirms the answer and is not a correction of it."""
    said_no = claim.form == "yes_no" and claim.said == "no"
    return said_no and checked.kind == "existence" and checked.verdict == "removed"


def corrected_answer(claim: AnswerClaim, correction: Correction) -> str | None:
    """The answer the verdicts call for, or None when the answer stands (supported, or unverified)."""
    names = {c.name for c in correction.concepts if c.detector_class == claim.detector_class}
    existence = next((c for c in correction.claims if c.kind == "existence" and c.concept in names), None)
    if existence is None or existence.verdict == "unverified":
        return None
    if claim.form == "yes_no":
        found = "yes" if existence.verdict == "supported" else "no"
        return None if found == claim.said else found
    if existence.verdict == "removed":
        return "0"
    count = next((c for c in correction.claims if c.kind == "count" and c.concept in names), None)
    if count is not None and count.verdict == "corrected" and count.fix and count.fix != claim.said:
        return count.fix
    return None
