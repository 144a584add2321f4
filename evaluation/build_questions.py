"""Build the question set from annotations (never from a model): ``python -m visorch.evaluation.build_questions``.

How each type is made (all choices seeded, inputs sorted first, so a seed gives the same file):

- ``count`` (coco-val, COCO val2017): "How many dogs are in the image?" for an (image, category) pair whose
  instances are all non-crowd and at least ``MIN_AREA`` pixels of segmentation area (COCO's own
  small-object boundary, 32 x 32), with 1 to 6 of them; categories usually seen in piles, bunches,
  stacks or pairs (``UNCOUNTABLE``) are skipped. Counts are spread evenly over 1..6 as far as the data allows.
- ``exists`` (coco-val), half yes, half no: yes when a non-crowd instance of the category covers at
  least ``MIN_AREA``; no when the category is not annotated on the image and no annotated object
  shares its COCO supercategory or a word of its name (so neither "truck" is asked of a picture
  of cars nor "bear" of a teddy bear).
- ``receipt_total`` / ``receipt_date`` / ``receipt_company`` (receipts): the key-file value, only
  where it also appears in that receipt's line transcripts (the total as a number, the others as
  whole words after normalisation), so the answer is legible in the image.
- ``speech_card`` / ``speech_card_count`` (speech/cards + a coco-val image as a distractor): the
  transcript names cards by the clip grammar (``RANK [of] SUIT`` or a bare ``RANK``); each rank
  word is one card. "What card does the speaker name?" only for clips naming exactly one card.
- ``speech_person`` (speech/librivox + coco-val): "Does the speaker mention a man or a woman, and is
  there a person in the image?" Yes needs a clip whose transcript says man/woman (or boy, girl, ...)
  and an image with a person of at least ``MIN_AREA``; no pairs such a clip with an image without
  any person annotation, or a clip that refers to nobody (no person words, names or pronouns) with
  a person image. Clips that refer to people only by name or pronoun are not used.

Every COCO question comes from coco-val (COCO val2017, which the offline detectors were not trained
on), so its figures are not measured on training images; ``sources`` name the split
("coco-val:annotation:ID"). Questions are written round-robin over types, so the first N of the file
cover every type.
"""

from __future__ import annotations

import argparse
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from visorch.evaluation.answers import contains_number, contains_phrase
from visorch.evaluation.coco import CocoDataset, open_coco
from visorch.evaluation.paths import COCO_VAL, QUESTIONS_PATH, default_data_root
from visorch.evaluation.questions import Question
from visorch.evaluation.speech import Utterance, load_speech
from visorch.evaluation.sroie import Receipt, load_receipts

MIN_AREA = 32 * 32
MAX_COUNT = 6
UNCOUNTABLE = frozenset({"broccoli", "carrot", "banana", "book", "dining table", "skis", "bowl"})
TARGETS = {
    "count": 36,
    "exists": 36,
    "receipt_total": 20,
    "receipt_date": 12,
    "receipt_company": 8,
}
PER_CATEGORY_CAP = 4
DISPLAY = {"tv": "TV", "sports ball": "ball", "hair drier": "hair dryer"}
PLURAL = {
    "person": "people", "mouse": "mice", "knife": "knives", "sheep": "sheep", "bus": "buses",
    "couch": "couches", "bench": "benches", "sandwich": "sandwiches", "toothbrush": "toothbrushes",
    "wine glass": "wine glasses", "tv": "TVs", "sports ball": "balls", "hair drier": "hair dryers",
    "scissors": "pairs of scissors", "skis": "pairs of skis",
}  # fmt: skip
CARD_RANKS = frozenset(
    {"ace", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "jack", "queen", "king", "lady"}
)  # the clip grammar's ranks
CARD_SUITS = frozenset({"clubs", "hearts", "diamonds", "spades"})
PERSON_WORDS = frozenset({"man", "woman", "men", "women", "boy", "girl", "child", "children", "lady", "gentleman"})
PERSON_REFERENCES = PERSON_WORDS | frozenset(
    {"he", "she", "him", "her", "his", "hers", "himself", "herself", "they", "them", "mister", "mr", "mrs", "miss"}
)
PERSON_QUESTION = "Does the speaker mention a man or a woman, and is there a person in the image?"

T = TypeVar("T")


def plural(category: str) -> str:
    """The plural used in counting questions ('person' -> 'people')."""
    return PLURAL.get(category, f"{DISPLAY.get(category, category)}s")


def with_article(category: str) -> str:
    """'a dog', 'an elephant', 'a TV'."""
    name = DISPLAY.get(category, category)
    return f"{'an' if name[0].lower() in 'aeiou' else 'a'} {name}"


def pick(
    candidates: Sequence[T],
    count: int,
    rng: random.Random,
    image_of: Callable[[T], Any],
    category_of: Callable[[T], str],
    cap: int = PER_CATEGORY_CAP,
) -> list[T]:
    """Up to ``count`` candidates in seeded order: distinct images and at most ``cap`` per category first."""
    shuffled = list(candidates)
    rng.shuffle(shuffled)
    chosen: list[T] = []
    images: set[Any] = set()
    per_category: Counter[str] = Counter()
    for relaxed in (False, True):
        for candidate in shuffled:
            if len(chosen) >= count:
                return chosen
            if candidate in chosen:
                continue
            if not relaxed and (image_of(candidate) in images or per_category[category_of(candidate)] >= cap):
                continue
            chosen.append(candidate)
            images.add(image_of(candidate))
            per_category[category_of(candidate)] += 1
    return chosen


def _relative(path: Path, data_root: Path) -> str:
    return path.resolve().relative_to(data_root.resolve()).as_posix()


def _annotations_by_image(dataset: CocoDataset) -> dict[int, dict[str, list[dict[str, Any]]]]:
    grouped: dict[int, dict[str, list[dict[str, Any]]]] = {
        image_id: defaultdict(list) for image_id in dataset.coco.imgs
    }
    for annotation in dataset.coco.dataset["annotations"]:
        name = dataset.category_names[annotation["category_id"]]
        grouped[annotation["image_id"]][name].append(annotation)
    return grouped


def _clear(annotation: dict[str, Any]) -> bool:
    return not annotation["iscrowd"] and annotation["area"] >= MIN_AREA


def count_questions(dataset: CocoDataset, data_root: Path, rng: random.Random, total: int) -> list[Question]:
    """'How many X are in the image?' with small unambiguous counts, spread over 1..6."""
    by_count: dict[int, list[tuple[int, str, list[dict[str, Any]]]]] = defaultdict(list)
    for image_id, categories in sorted(_annotations_by_image(dataset).items()):
        for category, instances in sorted(categories.items()):
            if category in UNCOUNTABLE or not all(_clear(a) for a in instances):
                continue
            if 1 <= len(instances) <= MAX_COUNT:
                by_count[len(instances)].append((image_id, category, instances))
    picked: list[tuple[int, str, list[dict[str, Any]]]] = []
    counts = range(MAX_COUNT, 0, -1)  # rarest first, so the frequent counts fill what the rare ones cannot
    for position, count in enumerate(counts):
        quota = -(-(total - len(picked)) // (len(counts) - position))
        picked.extend(pick(by_count[count], quota, rng, lambda c: c[0], lambda c: c[1]))
    return [
        Question(
            id=f"count-{image_id}-{category.replace(' ', '_')}",
            type="count",
            image=_relative(dataset.image_path(image_id), data_root),
            question=f"How many {plural(category)} are in the image?",
            answer=str(len(instances)),
            answer_type="number",
            sources=[f"{COCO_VAL}:annotation:{a['id']}" for a in instances],
        )
        for image_id, category, instances in picked
    ]


def exists_questions(dataset: CocoDataset, data_root: Path, rng: random.Random, total: int) -> list[Question]:
    """'Is there a X in the image?', half yes (clearly visible) and half no (absent, unrelated supercategory)."""
    supercategory = {category["name"]: category["supercategory"] for category in dataset.coco.dataset["categories"]}
    grouped = _annotations_by_image(dataset)
    seen_categories = sorted({name for categories in grouped.values() for name in categories})
    positives: list[tuple[int, str, list[dict[str, Any]]]] = []
    negatives: list[tuple[int, str, list[dict[str, Any]]]] = []
    for image_id, categories in sorted(grouped.items()):
        if not categories:
            continue  # unannotated images cannot support a 'no'
        present_supers = {supercategory[name] for name in categories}
        present_words = {word for name in categories for word in name.split()}
        for category, instances in sorted(categories.items()):
            clear = [a for a in instances if _clear(a)]
            if clear:
                positives.append((image_id, category, clear))
        for category in seen_categories:
            related = supercategory[category] in present_supers or present_words.intersection(category.split())
            if category not in categories and not related:
                negatives.append((image_id, category, []))
    yes = pick(positives, total // 2, rng, lambda c: c[0], lambda c: c[1])
    no = pick(negatives, total - len(yes), rng, lambda c: c[0], lambda c: c[1], cap=2)
    questions = []
    for image_id, category, instances in yes + no:
        questions.append(
            Question(
                id=f"exists-{image_id}-{category.replace(' ', '_')}",
                type="exists",
                image=_relative(dataset.image_path(image_id), data_root),
                question=f"Is there {with_article(category)} in the image?",
                answer="yes" if instances else "no",
                answer_type="yes_no",
                sources=[f"{COCO_VAL}:annotation:{a['id']}" for a in instances] or [f"{COCO_VAL}:image:{image_id}"],
            )
        )
    return questions


def receipt_questions(receipts: Sequence[Receipt], data_root: Path, rng: random.Random) -> list[Question]:
    """Total, date and company questions whose answers are legible in the receipt's transcripts."""
    asked = {
        "total": ("receipt_total", "What is the total amount on the receipt?", "number"),
        "date": ("receipt_date", "What is the date on the receipt?", "text"),
        "company": ("receipt_company", "What is the name of the company on the receipt?", "text"),
    }
    questions: list[Question] = []
    for field, (kind, text, answer_type) in asked.items():
        usable = []
        for receipt in (r for r in receipts if r.problem is None):
            value = receipt.fields.get(field, "").strip()
            transcript = "\n".join(line.text for line in receipt.lines)
            legible = (
                contains_number(transcript, value) if answer_type == "number" else contains_phrase(transcript, value)
            )
            if value and legible:
                usable.append((receipt, value))
        chosen = pick(usable, TARGETS[kind], rng, lambda c: c[0].receipt_id, lambda c: "receipt", cap=len(usable))
        for receipt, value in chosen:
            questions.append(
                Question(
                    id=f"{kind.replace('_', '-')}-{receipt.receipt_id}",
                    type=kind,
                    image=_relative(receipt.image_path, data_root),
                    question=text,
                    answer=value,
                    answer_type="number" if answer_type == "number" else "text",
                    sources=[f"receipts:key/{receipt.receipt_id}.json#{field}"],
                )
            )
    return questions


def cards_named(text: str) -> int:
    """How many cards a clip names: one per rank word (the clip grammar has no other way to name one)."""
    return sum(1 for word in text.split() if word in CARD_RANKS)


def card_questions(
    clips: Sequence[Utterance], images: Sequence[Path], data_root: Path, rng: random.Random
) -> list[Question]:
    """'What card does the speaker name?' (one-card clips) and 'How many cards ...?' (all clips)."""
    questions = []
    for clip in clips:
        file_id = clip.utterance_id.split("/")[-1]
        audio = _relative(clip.audio_path, data_root)
        source = [f"speech:{clip.utterance_id}"]
        words = clip.text.split()
        suits = [word for word in words if word in CARD_SUITS]
        if cards_named(clip.text) == 1 and len(suits) == 1:
            image = rng.choice(images)
            questions.append(
                Question(
                    id=f"speech-card-{file_id}",
                    type="speech_card",
                    image=_relative(image, data_root),
                    audio=audio,
                    question="What card does the speaker name?",
                    answer=clip.text,
                    answer_type="text",
                    sources=source,
                )
            )
        questions.append(
            Question(
                id=f"speech-card-count-{file_id}",
                type="speech_card_count",
                image=_relative(rng.choice(images), data_root),
                audio=audio,
                question="How many playing cards does the speaker name?",
                answer=str(cards_named(clip.text)),
                answer_type="number",
                sources=source,
            )
        )
    return questions


def person_questions(
    clips: Sequence[Utterance], dataset: CocoDataset, data_root: Path, rng: random.Random
) -> list[Question]:
    """Image + speech yes/no questions combining a person mention (transcript) and a person (annotations)."""
    grouped = _annotations_by_image(dataset)
    with_person = [(i, [a for a in c["person"] if _clear(a)]) for i, c in sorted(grouped.items()) if "person" in c]
    with_person = [(image_id, clear) for image_id, clear in with_person if clear]
    without_person = [
        image_id for image_id, categories in sorted(grouped.items()) if categories and "person" not in categories
    ]
    questions = []
    for clip in clips:
        words = set(clip.text.split())
        mentions = bool(words & PERSON_WORDS)
        if not mentions and words & PERSON_REFERENCES:
            continue  # refers to someone by name or pronoun: 'mentions a man' would be arguable
        pairs: list[tuple[int, list[dict[str, Any]], bool]] = []
        image_id, clear = rng.choice(with_person)
        pairs.append((image_id, clear, mentions))
        if mentions:
            pairs.append((rng.choice(without_person), [], False))
        for image_id, instances, answer in pairs:
            file_id = clip.utterance_id.split("/")[-1]
            questions.append(
                Question(
                    id=f"speech-person-{file_id}-{image_id}",
                    type="speech_person",
                    image=_relative(dataset.image_path(image_id), data_root),
                    audio=_relative(clip.audio_path, data_root),
                    question=PERSON_QUESTION,
                    answer="yes" if answer else "no",
                    answer_type="yes_no",
                    sources=[f"speech:{clip.utterance_id}"]
                    + ([f"{COCO_VAL}:annotation:{a['id']}" for a in instances] or [f"{COCO_VAL}:image:{image_id}"]),
                )
            )
    return questions


def interleave(groups: Iterable[Sequence[Question]]) -> list[Question]:
    """Round-robin over the groups, so any prefix covers every type."""
    lists = [list(group) for group in groups]
    merged: list[Question] = []
    for index in range(max((len(group) for group in lists), default=0)):
        merged.extend(group[index] for group in lists if index < len(group))
    return merged


def build_questions(data_root: Path, seed: int = 0) -> list[Question]:
    """Every question, derived from the annotations under ``data_root``."""
    rng = random.Random(seed)
    dataset = open_coco(data_root / COCO_VAL)
    images = [dataset.image_path(image_id) for image_id in sorted(dataset.coco.imgs)]
    counts = count_questions(dataset, data_root, rng, TARGETS["count"])
    exists = exists_questions(dataset, data_root, rng, TARGETS["exists"])
    rng.shuffle(exists)
    receipts = receipt_questions(load_receipts(data_root / "receipts"), data_root, rng)
    by_type: dict[str, list[Question]] = defaultdict(list)
    for question in receipts:
        by_type[question.type].append(question)
    cards = card_questions(load_speech(data_root / "speech" / "cards"), images, data_root, rng)
    people = person_questions(load_speech(data_root / "speech" / "librivox"), dataset, data_root, rng)
    return interleave([counts, exists, *by_type.values(), cards, people])


def write_questions(questions: Sequence[Question], path: Path) -> None:
    """One JSON object per line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(question.model_dump_json() + "\n" for question in questions), encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: build the question set and print how many of each type."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--data-root", type=Path, default=None, help="shared data root (default: the settings' data_root)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=QUESTIONS_PATH)
    arguments = parser.parse_args(argv)
    data_root = default_data_root(arguments.data_root)
    questions = build_questions(data_root, arguments.seed)
    write_questions(questions, arguments.out)
    kinds = Counter(question.type for question in questions)
    answers = Counter(q.answer for q in questions if q.answer_type == "yes_no")
    print(f"wrote {len(questions)} questions to {arguments.out}: {dict(kinds)}; yes/no answers: {dict(answers)}")


if __name__ == "__main__":
    main()
