"""The `correct` evaluation: absent objects injected into real COCO captions, then corrected.

Each image's first caption gets one absent COCO category inserted ("..., with a giraffe nearby."),
chosen three ways as POPE chooses negatives (random, popular, adversarial = co-occurring with what
is present). Reported: injected objects removed, true objects wrongly removed, CHAIR-i and CHAIR-s
before and after, LLM calls and time per correction and per stage.
"""

from __future__ import annotations

import json
import random
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from visorch.correction import Corrector
from visorch.correction.vocabulary import find_mentions
from visorch.evaluation.coco import open_coco
from visorch.evaluation.pope_sampling import category_frequency, co_occurrence, negatives

SETTINGS = ("random", "popular", "adversarial")


class InjectedCaption(BaseModel):
    """A real caption with one absent object inserted."""

    image_id: int
    image: str
    setting: str
    caption: str
    text: str
    injected: str
    present: list[str]


def mentioned_classes(text: str) -> set[str]:
    """COCO classes a text names (negated mentions excluded)."""
    return {mention.detector_class for mention in find_mentions(text) if not mention.negated}


def inject(caption: str, category: str) -> str:
    """The caption with ``category`` inserted as a trailing phrase."""
    article = "an" if category[:1] in "aeiou" else "a"
    return caption.strip().rstrip(".") + f", with {article} {category} nearby."


def build_items(data: Path, limit: int | None = None, seed: int = 0) -> list[InjectedCaption]:
    """Injected captions for every image of a COCO folder with captions (3 settings per image)."""
    annotations = data / "annotations"
    dataset = open_coco(annotations / "instances_val2017.json" if (annotations / "instances_val2017.json").is_file()
                        else next(annotations.glob("instances_*.json")))  # fmt: skip
    captions: dict[int, list[str]] = defaultdict(list)
    for entry in json.loads(next(annotations.glob("captions_*.json")).read_text())["annotations"]:
        captions[entry["image_id"]].append(entry["caption"])
    present = dataset.objects_by_image()
    categories = sorted(dataset.category_names.values())
    frequency, pairs = category_frequency(present), co_occurrence(present)
    rng = random.Random(seed)
    items = []
    for image_id in sorted(present)[:limit]:
        if not captions.get(image_id) or not present[image_id]:
            continue
        caption = captions[image_id][0]
        for setting in SETTINGS:
            absent = [c for c in negatives(setting, present[image_id], categories, frequency, pairs, 5, rng)  # type: ignore[arg-type]
                      if c not in mentioned_classes(caption)]  # fmt: skip
            if not absent:
                continue
            items.append(InjectedCaption(image_id=image_id, image=str(dataset.image_path(image_id)), setting=setting,
                                         caption=caption, text=inject(caption, absent[0]), injected=absent[0],
                                         present=sorted(present[image_id])))  # fmt: skip
    return items


@dataclass
class Scores:
    """Figures over a set of corrected items."""

    items: int
    injected_removed: float
    true_mentions: int
    true_lost: float
    chair_i_before: float
    chair_i_after: float
    chair_s_before: float
    chair_s_after: float
    llm_calls_per_item: float
    seconds_per_item: float
    stage_seconds: dict[str, float]


def chair(texts: list[str], present: list[set[str]]) -> tuple[float, float]:
    """(CHAIR-i, CHAIR-s): hallucinated share of mentioned objects, and of texts with any."""
    mentioned = hallucinated = bad_texts = 0
    for text, truth in zip(texts, present, strict=True):
        classes = mentioned_classes(text)
        wrong = classes - truth
        mentioned += len(classes)
        hallucinated += len(wrong)
        bad_texts += bool(wrong)
    return (hallucinated / mentioned if mentioned else 0.0), (bad_texts / len(texts) if texts else 0.0)


def run(corrector: Corrector, items: list[InjectedCaption]) -> tuple[Scores, list[dict[str, Any]]]:
    """Correct every item and score the results."""
    rows = []
    removed = true_total = true_lost = 0
    stage_seconds: dict[str, float] = defaultdict(float)
    calls, seconds = 0, 0.0
    before, after, truths = [], [], []
    for item in items:
        started = time.perf_counter()
        correction = corrector.correct(item.image, item.text)
        elapsed = time.perf_counter() - started
        kept = mentioned_classes(correction.corrected_plain)
        truth = set(item.present)
        true_classes = mentioned_classes(item.caption) & truth
        removed += item.injected not in kept
        true_total += len(true_classes)
        true_lost += len(true_classes - kept)
        calls += correction.llm_calls
        seconds += elapsed
        for stage in correction.stages:
            stage_seconds[stage.name] += stage.seconds
        before.append(item.text)
        after.append(correction.corrected_plain)
        truths.append(truth)
        rows.append({**item.model_dump(), "corrected": correction.corrected, "rewrite": correction.rewrite,
                     "verdicts": correction.verdicts(), "seconds": round(elapsed, 3), "llm_calls": correction.llm_calls,
                     "lost": sorted(true_classes - kept), "injected_kept": item.injected in kept})  # fmt: skip
    count = max(1, len(items))
    chair_i_before, chair_s_before = chair(before, truths)
    chair_i_after, chair_s_after = chair(after, truths)
    scores = Scores(
        items=len(items), injected_removed=removed / count, true_mentions=true_total,
        true_lost=true_lost / true_total if true_total else 0.0, chair_i_before=chair_i_before,
        chair_i_after=chair_i_after, chair_s_before=chair_s_before, chair_s_after=chair_s_after,
        llm_calls_per_item=calls / count, seconds_per_item=seconds / count,
        stage_seconds={name: total / count for name, total in stage_seconds.items()},
    )  # fmt: skip
    return scores, rows
