"""The decision-maker's verdict parsing: what an unusable LLM judgement means for the loop."""

from __future__ import annotations

import pytest
from visorch.roles.decision import parse_verdict


def test_a_well_formed_verdict_is_taken_as_given() -> None:
    verdict = parse_verdict('{"verdict": "CONTINUE", "reason": "low score", "missing": "try a crop"}')
    assert (verdict.verdict, verdict.reason, verdict.missing, verdict.by_rule) == (
        "CONTINUE",
        "low score",
        "try a crop",
        False,
    )


@pytest.mark.parametrize(
    "reply",
    [
        "",  # nothing at all
        "The results look fine to me",  # prose
        '{"verdict": "MAYBE", "reason": "", "missing": ""}',  # JSON outside the schema
        '["ANSWER"]',  # JSON, but not an object
        "ANSWER or CONTINUE, hard to say",  # both words: no clear request for another round
    ],
)
def test_an_unusable_verdict_after_a_program_that_ran_answers(reply: str) -> None:
    verdict = parse_verdict(reply)
    assert verdict.verdict == "ANSWER"
    assert verdict.reason.startswith("unparsed judgement")
    assert not verdict.by_rule


def test_an_unparsed_reply_that_plainly_says_continue_continues() -> None:
    verdict = parse_verdict("CONTINUE: the detector score is doubtful")
    assert verdict.verdict == "CONTINUE" and verdict.reason.startswith("unparsed judgement")
