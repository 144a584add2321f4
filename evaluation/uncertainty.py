"""Answers that state their uncertainty ("yes, probably", "probably 2; another box is doubtful", "I cannot
tell ... leaning no"): which do, and what they lean to, so the harness can report how many answers said
they were unsure and how often they were right anyway (scoring is unchanged: "I cannot tell" is unanswered
and wrong, a hedged "yes, probably" or "probably 2" is scored as its yes or number)."""

from __future__ import annotations

import re
from typing import Literal

from visorch.evaluation.answers import parse_yes_no

_HEDGE = re.compile(r"\b(probably|uncertain|cannot tell|can ?not tell|doubtful|leaning|not sure|unsure)\b", re.I)
_LEANING = re.compile(r"\bleaning (yes|no)\b", re.I)


def states_uncertainty(answer: str) -> bool:
    """Whether the answer says it is unsure (a hedge word), whatever it then answers."""
    return _HEDGE.search(answer) is not None


def yes_no_lean(answer: str) -> Literal["yes", "no"] | None:
    """The yes/no an answer gives or leans to ('I cannot tell (...; leaning yes)' leans yes)."""
    parsed = parse_yes_no(answer)
    if parsed is not None:
        return parsed
    leaning = _LEANING.search(answer)
    return None if leaning is None else "yes" if leaning.group(1).lower() == "yes" else "no"
