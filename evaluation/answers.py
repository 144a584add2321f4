"""Answer normalisation and exact match: numbers, yes/no and short text.

The rules, applied to both the prediction and the reference:

- text: lower case; apostrophes dropped; every other punctuation mark is a word break; number
  words ("two") and numerals ("2.0", "02") become canonical digits ("2"); articles (a, an, the)
  are dropped. "The ten of clubs." == "10 of clubs"; "25/12/2018" == "25-12-2018".
- number: the whole answer as one number ("two", "2", "2.0", "RM 9.00"), or else the one number
  the answer mentions ("There are 2 people." -> 2). Answers with no number, or with two different
  numbers, do not parse and never match.
- yes/no: only an answer that clearly says yes or no counts; everything else is unanswered, and an
  unanswered item is wrong (on POPE and ``exists``, where half the references are "no", reading a
  failure as "no" would score every failure on an absent object as correct). Clear means:
  a leading yes/no word standing alone ("Yes.", "No, there is not.", "no") or a "there is/are"
  statement ("There is a dog.", "There are no dogs in the image."). An answer that reports a
  failure or says the answer is not known (:func:`reports_no_answer`: "The detector could not run
  on this image.", "LOC failed: no class for refrigerator", "Nothing was detected (the tool
  failed).", "I cannot tell", "not sure") is unanswered even after a leading "No", and so is a bare
  "None" (a missing value printed) and a "No" that starts a phrase ("No class for X").
- Failures and hedges are unanswered for numbers too ("LOC failed on 1 image" is not a count of
  1), and a bare "None" is not the number 0.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Literal

AnswerType = Literal["number", "yes_no", "text"]

_UNITS = {
    "zero": 0, "none": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_ARTICLES = {"a", "an", "the"}
_YES = {"yes", "yeah", "yep", "true", "correct"}
_THERE_IS = {"is", "are", "was", "were", "isnt", "arent", "wasnt", "werent"}
_THERE_IS_NOT = {"no", "not", "none", "nothing", "isnt", "arent", "wasnt", "werent", "neither"}

# Word sequences that say the answer is not known or that a tool failed: such an answer is unanswered.
_NO_ANSWER = (
    ("cannot", "tell"), ("cant", "tell"), ("can", "not", "tell"), ("cannot", "determine"), ("cannot", "say"),
    ("cant", "say"), ("dont", "know"), ("do", "not", "know"), ("not", "sure"), ("unsure",), ("unclear",),
    ("unknown",), ("unable",), ("not", "possible", "to"), ("impossible", "to"), ("no", "way", "to"),
    ("could", "not"), ("couldnt",), ("cannot", "run"), ("did", "not", "run"), ("didnt", "run"), ("not", "run"),
    ("failed",), ("fails",), ("failure",), ("error",), ("errors",), ("exception",), ("no", "class"),
    ("no", "result"), ("no", "results"), ("not", "available"), ("unavailable",), ("timed", "out"),
)  # fmt: skip

# A leading yes/no word that stands alone: followed by the end or a punctuation mark, not by more words.
_LEADING_ANSWER = re.compile(r"^\W*(yes|yeah|yep|true|correct|no|nope|false)\s*(?:$|[,.!;:\-\u2013\u2014(])", re.I)

# A numeral (with thousands separators only in groups of three) or a run of letters/digits.
_TOKEN = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+|[^\W\d_]+|\d+")


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower().replace("'", "").replace("’", ""))


def _numeral(token: str) -> Decimal | None:
    if not token[:1].isdigit() and not token.startswith("."):
        return None
    try:
        return Decimal(token.replace(",", ""))
    except InvalidOperation:
        return None


def canonical_number(value: Decimal) -> str:
    """A number without trailing zeros or exponent: Decimal('2.50') -> '2.5', Decimal('10') -> '10'."""
    text = format(value.normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _numbers_in(tokens: list[str]) -> list[Decimal]:
    """Numbers among tokens, joining "twenty" "one" into 21."""
    values: list[Decimal] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        numeral = _numeral(token)
        if numeral is not None:
            values.append(numeral)
        elif token in _TENS:
            following = tokens[index + 1] if index + 1 < len(tokens) else ""
            if following in _UNITS and 0 < _UNITS[following] < 10:
                values.append(Decimal(_TENS[token] + _UNITS[following]))
                index += 1
            else:
                values.append(Decimal(_TENS[token]))
        elif token in _UNITS:
            values.append(Decimal(_UNITS[token]))
        index += 1
    return values


def numbers_in(text: str) -> list[Decimal]:
    """Every number a text mentions, as numerals or number words, in order."""
    return _numbers_in(_tokens(text))


def contains_number(text: str, value: str) -> bool:
    """Whether ``text`` mentions the number ``value`` gives ("RM 9.00" mentions "9")."""
    wanted = parse_number(value)
    return wanted is not None and any(found == wanted for found in numbers_in(text))


def contains_phrase(text: str, phrase: str) -> bool:
    """Whether normalised ``phrase`` occurs in normalised ``text`` as whole words."""
    wanted = normalise_text(phrase, drop_articles=False)
    return bool(wanted) and f" {wanted} " in f" {normalise_text(text, drop_articles=False)} "


def parse_number(text: str) -> Decimal | None:
    """The one number an answer gives ("two", "2.0", "There are 2 people."), or None."""
    distinct = {value.normalize() for value in _numbers_in(_tokens(text))}
    return distinct.pop() if len(distinct) == 1 else None


def reports_no_answer(text: str) -> bool:
    """Whether an answer reports a failure or says it does not know ("LOC failed ...", "I cannot tell")."""
    tokens = _tokens(text)
    if tokens == ["none"]:
        return True  # a missing value printed, not an answer
    for marker in _NO_ANSWER:
        width = len(marker)
        if any(tuple(tokens[i : i + width]) == marker for i in range(len(tokens) - width + 1)):
            return True
    return False


def parse_yes_no(text: str) -> Literal["yes", "no"] | None:
    """'yes' or 'no' when the answer clearly says so, else None (unanswered; see the module docstring)."""
    if reports_no_answer(text):
        return None
    leading = _LEADING_ANSWER.match(text.strip())
    if leading is not None:
        return "yes" if leading.group(1).lower() in _YES else "no"
    tokens = _tokens(text)
    if len(tokens) >= 3 and tokens[0] == "there" and tokens[1] in _THERE_IS:
        return "no" if tokens[1] in _THERE_IS_NOT or tokens[2] in _THERE_IS_NOT else "yes"
    return None


def normalise_text(text: str, drop_articles: bool = True) -> str:
    """Lower case, punctuation as word breaks, numbers as canonical digits, articles dropped."""
    words: list[str] = []
    tokens = _tokens(text)
    index = 0
    while index < len(tokens):
        token = tokens[index]
        numeral = _numeral(token)
        if numeral is not None:
            words.append(canonical_number(numeral))
        elif token in _TENS or (token in _UNITS and token != "none"):
            pair = _numbers_in(tokens[index : index + 2])
            joined = token in _TENS and len(pair) == 1 and index + 1 < len(tokens) and tokens[index + 1] in _UNITS
            words.append(canonical_number(pair[0]))
            index += 1 if joined else 0
        elif not (drop_articles and token in _ARTICLES):
            words.append(token)
        index += 1
    return " ".join(words)


def normalise_answer(text: str, answer_type: AnswerType) -> str | None:
    """The comparable form of an answer of ``answer_type``, or None when it does not parse."""
    if answer_type != "text" and reports_no_answer(text):
        return None
    if answer_type == "number":
        value = parse_number(text)
        return None if value is None else canonical_number(value)
    if answer_type == "yes_no":
        return parse_yes_no(text)
    normalised = normalise_text(text)
    return normalised or None


def exact_match(prediction: str, reference: str, answer_type: AnswerType) -> bool:
    """Whether ``prediction`` equals ``reference`` after normalisation for ``answer_type``."""
    predicted = normalise_answer(prediction, answer_type)
    return predicted is not None and predicted == normalise_answer(reference, answer_type)
