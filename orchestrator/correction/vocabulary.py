"""Words the correction reads and writes: counts, colours, relations, and object mentions in text.

Object names are mapped onto detector classes with the vocabulary LOC uses (``tools/vocabulary.py``),
so 'men', 'people' and 'a woman' all land on COCO's 'person'.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from visorch.tools.vocabulary import COCO_CLASSES, SYNONYMS, normalise, resolve_class, singular

NUMBER_WORDS: dict[str, int] = {
    "a": 1, "an": 1, "one": 1, "single": 1, "lone": 1, "two": 2, "both": 2, "pair": 2, "couple": 2,
    "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "eleven": 11, "twelve": 12, "dozen": 12,
}  # fmt: skip
NUMBER_NAMES = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine",
                10: "ten", 11: "eleven", 12: "twelve"}  # fmt: skip

BASIC_COLOURS = ("black", "gray", "white", "red", "pink", "orange", "brown", "yellow", "green", "blue", "purple")
"""The names COLOR gives (tools/builtin/color.py)."""

COLOUR_WORDS: dict[str, str] = {
    **{name: name for name in BASIC_COLOURS},
    "grey": "gray", "silver": "gray", "golden": "yellow", "gold": "yellow", "tan": "brown", "beige": "brown",
    "maroon": "red", "crimson": "red", "navy": "blue", "violet": "purple", "teal": "green",
}  # fmt: skip
"""Colour words a text may use, onto COLOR's basic names."""

RELATIONS = ("left of", "right of", "above", "below", "under", "on", "next to", "behind", "in front of", "in")
"""Relations the key-concept grammar lets the LLM name; left/right/above/below/under are checked from boxes."""

PREDICATE_COLOUR = re.compile(
    r"\s+(?:is|are|was|were|looks|appears|painted)\s+(?:(?:all|mostly|bright|dark|light)\s+)?(?P<colour>[A-Za-z]+)\b"
)
"""'the bus is red': a colour said after the noun."""

ARTICLES = {"a", "an"}

NEGATIONS = {"no", "without", "not", "nor", "never", "none"}


def words_of(text: str) -> list[str]:
    """Lower-case words (letters, digits, hyphens inside words)."""
    return re.findall(r"[a-z0-9]+(?:-[a-z0-9]+)?", text.lower())


@dataclass(frozen=True)
class Mention:
    """Where a detector class is named in a text, with the count and colour words just before it."""

    detector_class: str
    surface: str
    """The words as written ('dogs')."""
    start: int
    end: int
    """Character span of the noun in the text."""
    count: int | None
    colour: str | None
    negated: bool


def _alias_table(class_names: Iterable[str]) -> dict[tuple[str, ...], str]:
    """Singular alias word tuples -> class name, longest first when matching."""
    table: dict[tuple[str, ...], str] = {}
    for name in class_names:
        for alias in (name, *SYNONYMS.get(name, ())):
            table[tuple(singular(normalise(alias)).split())] = name
    return table


_COCO_ALIASES = _alias_table(COCO_CLASSES)


def find_mentions(text: str, class_names: Iterable[str] = COCO_CLASSES) -> list[Mention]:
    """Every mention of a detector class in ``text`` (plurals and synonyms understood), left to right."""
    table = _COCO_ALIASES if tuple(class_names) == COCO_CLASSES else _alias_table(class_names)
    longest = max((len(key) for key in table), default=1)
    tokens = [(match.group(0).lower(), match.start(), match.end()) for match in re.finditer(r"[A-Za-z]+", text)]
    found: list[Mention] = []
    index = previous_end = 0
    while index < len(tokens):
        hit = None
        for size in range(min(longest, len(tokens) - index), 0, -1):
            window = tuple(singular(token) for token, _, _ in tokens[index : index + size])
            if window in table:
                hit = (size, table[window])
                break
        if hit is None:
            index += 1
            continue
        size, name = hit
        before = [token for token, _, _ in tokens[max(0, index - 4, previous_end) : index]]
        count = None
        colour = None
        for word in reversed(before):
            if colour is None and word in COLOUR_WORDS:
                colour = COLOUR_WORDS[word]
            if word in NUMBER_WORDS:
                # 'a dog' says there is a dog, not that there is exactly one: no count claim
                count = None if word in ARTICLES else NUMBER_WORDS[word]
                break
        last = tokens[index + size - 1]
        plural = singular(last[0]) != last[0] or last[0] in {"people", "men", "women", "children"}
        if count == 1 and plural:
            count = None  # 'a group of people', 'a herd of cows'
        start, end = tokens[index][1], last[2]
        if colour is None:
            predicate = PREDICATE_COLOUR.match(text, end)
            if predicate and predicate.group("colour").lower() in COLOUR_WORDS:
                colour = COLOUR_WORDS[predicate.group("colour").lower()]
        found.append(
            Mention(
                detector_class=name,
                surface=text[start:end],
                start=start,
                end=end,
                count=count,
                colour=colour,
                negated=any(word in NEGATIONS for word in before[-2:]),
            )
        )
        index += size
        previous_end = index
    return found


def mentioned(name: str, text: str) -> bool:
    """Whether ``name`` (a singular noun, maybe several words) occurs in ``text`` in any number."""
    wanted = singular(normalise(name)).split()
    if not wanted:
        return False
    said = [singular(word) for word in words_of(text)]
    return any(said[i : i + len(wanted)] == wanted for i in range(len(said) - len(wanted) + 1))


def detector_class(name: str, class_names: Iterable[str] = COCO_CLASSES) -> str | None:
    """The detector class an object name maps onto, or None."""
    return resolve_class(name, class_names)


ENGLISH_WORDS = {
    "the", "a", "an", "is", "are", "of", "on", "in", "with", "and", "at", "to", "there", "it", "its", "this",
    "that", "by", "next", "near", "some", "two", "three", "his", "her", "their", "from", "while", "has", "have",
    "sitting", "standing", "man", "woman", "people", "person", "picture", "image", "photo", "front",
}  # fmt: skip


def looks_english(text: str) -> bool:
    """Whether a text of several words reads as English (a share of common English words)."""
    tokens = words_of(text)
    if len(tokens) < 4:
        return True
    common = sum(token in ENGLISH_WORDS for token in tokens)
    return common / len(tokens) >= 0.12
