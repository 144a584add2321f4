"""Answer normalisation and the metrics' arithmetic, by hand (no data, no models)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from visorch.evaluation.answers import (
    exact_match,
    normalise_answer,
    normalise_text,
    parse_number,
    parse_yes_no,
    reports_no_answer,
)
from visorch.evaluation.metrics import binary_metrics, character_edits, word_edits


def test_numbers_normalise() -> None:
    assert parse_number("two") == Decimal(2)
    assert parse_number("2.0") == Decimal(2)
    assert parse_number("There are 2 people.") == Decimal(2)
    assert parse_number("twenty-one") == Decimal(21)
    assert parse_number("RM 9.00") == Decimal(9)
    assert parse_number("1,234.50") == Decimal("1234.5")
    assert parse_number("2 or 3") is None
    assert parse_number("many") is None
    assert normalise_answer("$8.20", "number") == "8.2"


def test_clear_yes_and_no_answers_parse() -> None:
    assert parse_yes_no("Yes.") == "yes"
    assert parse_yes_no("yes") == "yes"
    assert parse_yes_no("No") == "no"
    assert parse_yes_no("  No!") == "no"
    assert parse_yes_no("No, there is not.") == "no"
    assert parse_yes_no("Yes - two of them") == "yes"
    assert parse_yes_no("There is no dog in the image") == "no"
    assert parse_yes_no("There isn't a cat.") == "no"
    assert parse_yes_no("There is a dog.") == "yes"
    assert parse_yes_no("There are 2 dogs") == "yes"


@pytest.mark.parametrize(
    "answer",
    [
        # failures the agent can return: each used to read as "no", and so scored as correct on every
        # POPE / exists question whose truth is "no" (half of them)
        "The detector could not run on this image.",
        "LOC failed: no class for refrigerator",
        "Nothing was detected (the tool failed).",
        "None",
        # hedges
        "I cannot tell from the tools' results.",
        "I don't know.",
        "Not sure, the detector cannot name it",
        "No, I cannot tell",  # a leading "no" that takes itself back is no answer
        # neither yes nor no
        "No class for refrigerator",  # "No" starting a phrase, not answering
        "Nothing was detected.",
        "no dog",
        "A dog.",
        "yesterday",
        "",
    ],
)
def test_failures_hedges_and_unclear_answers_are_unanswered(answer: str) -> None:
    assert parse_yes_no(answer) is None
    assert not exact_match(answer, "no", "yes_no")  # unanswered is wrong, whatever the truth
    assert not exact_match(answer, "yes", "yes_no")


def test_failures_are_unanswered_for_numbers_too() -> None:
    assert reports_no_answer("LOC failed on 1 image")
    assert normalise_answer("LOC failed on 1 image", "number") is None
    assert normalise_answer("None", "number") is None  # a missing value printed, not zero
    assert normalise_answer("none of them", "number") == "0"
    assert not reports_no_answer("There are 2 dogs.")


def test_text_normalises() -> None:
    assert normalise_text("The Ten of Clubs!") == "10 of clubs"
    assert normalise_text("25/12/2018") == normalise_text("25-12-2018") == "25 12 2018"


def test_exact_match() -> None:
    assert exact_match("two", "2", "number")
    assert exact_match("2.0", "2", "number")
    assert exact_match("Yes.", "yes", "yes_no")
    assert exact_match("10 of clubs.", "ten of clubs", "text")
    assert exact_match("book ta .k (taman daya) sdn bhd", "BOOK TA .K (TAMAN DAYA) SDN BHD", "text")
    assert not exact_match("3", "2", "number")
    assert not exact_match("", "yes", "yes_no")
    assert not exact_match("", "", "text")  # nothing never matches


def test_word_and_character_error_rates_by_hand() -> None:
    # "the cat sat" -> "the cat sit on": one substitution, one insertion over three words.
    words = word_edits(["the cat sat"], ["the cat sit on"])
    assert (words.substitutions, words.insertions, words.deletions, words.hits) == (1, 1, 0, 2)
    assert words.rate == pytest.approx(2 / 3)
    # "abc" -> "abd": one substitution over three characters; pooled with "xy" -> "" (two deletions).
    characters = character_edits(["abc", "xy"], ["abd", ""])
    assert characters.rate == pytest.approx(3 / 5)
    assert word_edits(["a b"], [""]).deletions == 2


def test_binary_metrics_by_hand() -> None:
    truths = [True, True, True, False, False, False]
    answers: list[bool | None] = [True, True, False, True, False, None]
    metrics = binary_metrics(truths, answers)
    # TP 2, FN 1, FP 1, TN 1, unanswered 1.
    counts = (metrics.true_positives, metrics.false_negatives, metrics.false_positives, metrics.true_negatives)
    assert counts == (2, 1, 1, 1)
    assert metrics.accuracy == pytest.approx(3 / 6)
    assert metrics.precision == pytest.approx(2 / 3)
    assert metrics.recall == pytest.approx(2 / 3)
    assert metrics.f1 == pytest.approx(2 / 3)
    assert metrics.yes_ratio == pytest.approx(3 / 5)
