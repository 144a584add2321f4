"""POPE question sampling (Li et al., 2023, "Evaluating Object Hallucination in Large Vision-Language Models").

For each image with at least ``objects_per_image`` annotated categories, ``objects_per_image``
present categories are asked about (answer yes) and as many absent ones (answer no), so every
setting is exactly 50 % yes. The three settings differ only in the absent categories:

- random: drawn uniformly from the categories absent from the image;
- popular: the categories present in the most images of the data set, absent from this image;
- adversarial: the categories that co-occur most with this image's objects (number of images of
  the data set holding both, summed over the image's categories), absent from this image.

Ties break by name; the yes objects of an image are the same in every setting, drawn with a
random generator seeded by (seed, image), so a prefix of the items is stable under ``--limit``.
Questions use POPE's template: "Is there a {object} in the image?".
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Literal

from pydantic import BaseModel

PopeSetting = Literal["random", "popular", "adversarial"]
POPE_SETTINGS: tuple[PopeSetting, ...] = ("random", "popular", "adversarial")
OBJECTS_PER_IMAGE = 3


class PopeQuestion(BaseModel):
    """One POPE yes/no existence question."""

    setting: PopeSetting
    image: str
    object: str
    answer: Literal["yes", "no"]
    question: str


def pope_question_text(category: str) -> str:
    """POPE's template, with 'an' before a vowel."""
    article = "an" if category[:1].lower() in "aeiou" else "a"
    return f"Is there {article} {category} in the image?"


def category_frequency(objects_by_image: Mapping[str, set[str]]) -> Counter[str]:
    """In how many images each category is present."""
    return Counter(category for objects in objects_by_image.values() for category in objects)


def co_occurrence(objects_by_image: Mapping[str, set[str]]) -> Counter[tuple[str, str]]:
    """In how many images each ordered pair of distinct categories appears together."""
    counts: Counter[tuple[str, str]] = Counter()
    for objects in objects_by_image.values():
        for first, second in combinations(sorted(objects), 2):
            counts[(first, second)] += 1
            counts[(second, first)] += 1
    return counts


def negatives(
    setting: PopeSetting,
    objects: set[str],
    categories: Sequence[str],
    frequency: Counter[str],
    pairs: Counter[tuple[str, str]],
    count: int,
    rng: random.Random,
) -> list[str]:
    """``count`` categories absent from an image, chosen as ``setting`` prescribes."""
    absent = sorted(category for category in categories if category not in objects)
    if setting == "random":
        return rng.sample(absent, min(count, len(absent)))
    if setting == "popular":
        return sorted(absent, key=lambda category: (-frequency[category], category))[:count]
    score = {category: sum(pairs[(category, present)] for present in objects) for category in absent}
    return sorted(absent, key=lambda category: (-score[category], category))[:count]


def build_pope_questions(
    objects_by_image: Mapping[str, set[str]],
    categories: Sequence[str],
    seed: int = 0,
    objects_per_image: int = OBJECTS_PER_IMAGE,
    settings: Sequence[PopeSetting] = POPE_SETTINGS,
) -> list[PopeQuestion]:
    """POPE questions for every eligible image: per setting, ``objects_per_image`` yes and as many no.

    Images with fewer present or absent categories than ``objects_per_image`` are skipped. Items
    come image by image, each image's settings together and in each setting yes and no
    shuffled, so the first N questions are close to balanced.
    """
    frequency = category_frequency(objects_by_image)
    pairs = co_occurrence(objects_by_image)
    questions: list[PopeQuestion] = []
    for image in sorted(objects_by_image):
        objects = objects_by_image[image]
        if len(objects) < objects_per_image or len(set(categories) - objects) < objects_per_image:
            continue  # too few present or absent categories to keep the setting at 50 % yes
        rng = random.Random(f"{seed}:{image}")
        present = rng.sample(sorted(objects), objects_per_image)
        for setting in settings:
            absent = negatives(setting, objects, categories, frequency, pairs, objects_per_image, rng)
            block: list[tuple[str, Literal["yes", "no"]]] = [(name, "yes") for name in present]
            block += [(name, "no") for name in absent]
            rng.shuffle(block)
            questions.extend(
                PopeQuestion(
                    setting=setting, image=image, object=name, answer=answer, question=pope_question_text(name)
                )
                for name, answer in block
            )
    return questions
