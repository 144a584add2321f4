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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel
from visorch.correction import Correction, CorrectionConfig, Corrector
from visorch.correction.rewrite import plural
from visorch.correction.vocabulary import NUMBER_NAMES, find_mentions
from visorch.evaluation.coco import CocoDataset, open_coco
from visorch.evaluation.paths import COCO_VAL
from visorch.evaluation.pope_sampling import category_frequency, co_occurrence, negatives
from visorch.evaluation.predictors import EvaluationRuntime
from visorch.evaluation.task import Aggregate, EvalItem, ItemContext, ItemResult, ItemScore, Prediction
from visorch.tools.vocabulary import singular

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


Placement = Literal["trailing", "subject"]


def inject(caption: str, category: str, placement: Placement = "trailing") -> str:
    """The caption with ``category`` inserted as a trailing phrase (', with a giraffe nearby.'), or as a
    sentence of its own whose subject it is ('A giraffe stands beside them.'), which a rewrite must drop or
    rebuild rather than cut."""
    article = "an" if category[:1] in "aeiou" else "a"
    if placement == "subject":
        return caption.strip().rstrip(".") + f". {article.capitalize()} {category} stands beside a {_anchor(caption)}."
    return caption.strip().rstrip(".") + f", with {article} {category} nearby."


def _anchor(caption: str) -> str:
    """The caption's first object ('man'), so the injected sentence names a true object too."""
    mentions = [m for m in find_mentions(caption) if not m.negated]
    return singular(mentions[0].surface.lower()) if mentions else "wall"


SALIENT_AREA = 0.02
"""A synthetic caption names the classes whose largest box covers at least this share of the image."""


def synthetic_captions(dataset: CocoDataset, most: int = 3) -> dict[int, list[str]]:
    """For COCO folders without captions (coco128, the tuning split): one caption per image naming its most
    salient classes, largest first ('A photo of two dogs, a frisbee and a person.'), as a writer would."""
    coco = dataset.coco
    captions: dict[int, list[str]] = {}
    for image_id, info in coco.imgs.items():
        area = float(info["width"] * info["height"])
        largest: dict[str, float] = defaultdict(float)
        counts: dict[str, int] = defaultdict(int)
        for annotation in coco.imgToAnns[image_id]:
            name = dataset.category_names[annotation["category_id"]]
            largest[name] = max(largest[name], annotation["area"] / area)
            counts[name] += 1
        salient = sorted((n for n in largest if largest[n] >= SALIENT_AREA), key=lambda n: -largest[n])[:most]
        if not salient:
            continue
        phrases = [_phrase(name, counts[name]) for name in salient]
        listed = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
        captions[image_id] = [f"A photo of {listed}."]
    return captions


def _phrase(name: str, count: int) -> str:
    if count == 1:
        return f"{'an' if name[:1] in 'aeiou' else 'a'} {name}"
    return f"{NUMBER_NAMES[count] if count <= 3 else 'several'} {plural(name)}"


def build_items(
    data: Path, limit: int | None = None, seed: int = 0, placement: Placement = "trailing"
) -> list[InjectedCaption]:
    """Injected captions for every image of a COCO folder (3 settings per image): its first real caption
    (captions_*.json), or for folders without captions (coco128) a synthetic one naming its salient classes."""
    annotations = data / "annotations"
    dataset = open_coco(annotations / "instances_val2017.json" if (annotations / "instances_val2017.json").is_file()
                        else next(annotations.glob("instances_*.json")))  # fmt: skip
    caption_files = sorted(annotations.glob("captions_*.json"))
    captions: dict[int, list[str]] = defaultdict(list)
    if not caption_files:
        captions.update(synthetic_captions(dataset))
    for entry in json.loads(caption_files[0].read_text())["annotations"] if caption_files else []:
        captions[entry["image_id"]].append(entry["caption"])
    present = dataset.objects_by_image()
    categories = sorted(dataset.category_names.values())
    by_key = {str(image_id): objects for image_id, objects in present.items()}
    frequency, pairs = category_frequency(by_key), co_occurrence(by_key)
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
            text = inject(caption, absent[0], placement)
            items.append(InjectedCaption(image_id=image_id, image=str(dataset.image_path(image_id)), setting=setting,
                                         caption=caption, text=text, injected=absent[0],
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
    cpu_seconds_per_item: float
    """Process CPU time (all threads: the LLM's, the detectors') per item."""
    stage_seconds: dict[str, float]
    stage_cpu_seconds: dict[str, float]
    """Process CPU time per stage (all threads) per item."""


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


def _findings(correction: Correction, classes: set[str]) -> dict[str, str]:
    """Class -> the existence verdict and finding of the concepts of ``classes`` (why one was lost or kept)."""
    names = {c.name: c.detector_class for c in correction.concepts if c.detector_class in classes}
    return {str(names[c.concept]): f"{c.verdict}: {c.finding}" for c in correction.claims
            if c.kind == "existence" and c.concept in names}  # fmt: skip


def run(corrector: Corrector, items: list[InjectedCaption]) -> tuple[Scores, list[dict[str, Any]]]:
    """Correct every item and score the results."""
    rows = []
    removed = true_total = true_lost = 0
    stage_seconds: dict[str, float] = defaultdict(float)
    stage_cpu: dict[str, float] = defaultdict(float)
    calls, seconds, cpu = 0, 0.0, 0.0
    before, after, truths = [], [], []
    for item in items:
        started, cpu_started = time.perf_counter(), time.process_time()
        correction = corrector.correct(item.image, item.text)
        elapsed = time.perf_counter() - started
        cpu += time.process_time() - cpu_started
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
            stage_cpu[stage.name] += stage.cpu_seconds
        before.append(item.text)
        after.append(correction.corrected_plain)
        truths.append(truth)
        rows.append({**item.model_dump(), "corrected": correction.corrected, "rewrite": correction.rewrite,
                     "verdicts": correction.verdicts(), "seconds": round(elapsed, 3), "llm_calls": correction.llm_calls,
                     "lost": sorted(true_classes - kept), "injected_kept": item.injected in kept,
                     "findings": _findings(correction, (true_classes - kept) | {item.injected})})  # fmt: skip
    count = max(1, len(items))
    chair_i_before, chair_s_before = chair(before, truths)
    chair_i_after, chair_s_after = chair(after, truths)
    scores = Scores(
        items=len(items), injected_removed=removed / count, true_mentions=true_total,
        true_lost=true_lost / true_total if true_total else 0.0, chair_i_before=chair_i_before,
        chair_i_after=chair_i_after, chair_s_before=chair_s_before, chair_s_after=chair_s_after,
        llm_calls_per_item=calls / count, seconds_per_item=seconds / count, cpu_seconds_per_item=cpu / count,
        stage_seconds={name: total / count for name, total in stage_seconds.items()},
        stage_cpu_seconds={name: total / count for name, total in stage_cpu.items()},
    )  # fmt: skip
    return scores, rows


class CorrectItem(EvalItem):
    """One injected caption to correct; ``type`` is how the absent object was chosen."""

    image_id: int
    image_path: Path
    caption: str
    text: str
    injected: str
    present: list[str]


class CorrectTask:
    """`correct`: Woodpecker-style correction of COCO captions with an absent object injected."""

    name = "correct"
    summary = "hallucination correction of captions with injected absent objects (random, popular, adversarial)"

    def default_data(self, data_root: Path) -> Path:
        """coco-val (COCO val2017 with captions) in the shared data."""
        return data_root / COCO_VAL

    def load_items(self, data_path: Path, seed: int, data_root: Path) -> list[CorrectItem]:
        """Three injected captions per image (one per setting), seeded."""
        return [
            CorrectItem(
                id=f"{item.setting}-{item.image_id}-{item.injected.replace(' ', '_')}",
                type=item.setting,
                image_id=item.image_id,
                image_path=Path(item.image),
                caption=item.caption,
                text=item.text,
                injected=item.injected,
                present=item.present,
            )
            for item in build_items(data_path, seed=seed)
        ]

    def build_predictor(self, runtime: EvaluationRuntime, backend: str | None) -> Corrector:
        """A corrector on the default runtime: the LLM path, or no LLM with ``--backend rules``."""
        if backend == "rules":
            return Corrector(llm=None, config=CorrectionConfig(concepts="lexical", rewrite="rules"))
        return Corrector()

    def predict(self, item: CorrectItem, predictor: Corrector, context: ItemContext) -> Prediction:
        """The corrected caption, its verdicts and costs; the correction's JSON goes to the traces folder."""
        correction = predictor.correct(item.image_path, item.text)
        path = context.trace_path(item.id)
        path.write_text(correction.model_dump_json(indent=1, exclude={"image"}), encoding="utf-8")
        value = {
            "corrected": correction.corrected, "corrected_plain": correction.corrected_plain,
            "rewrite": correction.rewrite, "verdicts": correction.verdicts(), "llm_calls": correction.llm_calls,
            "seconds": correction.seconds, "stage_seconds": {s.name: s.seconds for s in correction.stages},
        }  # fmt: skip
        return Prediction(value=value, trace=f"{context.traces_dir.name}/{path.name}")

    def score(self, item: CorrectItem, prediction: dict[str, Any] | None) -> ItemScore:
        """Correct when the injected object is gone and no true object the caption named was lost."""
        if prediction is None:
            return ItemScore(correct=False)
        kept = mentioned_classes(prediction["corrected_plain"])
        truth = set(item.present)
        true_classes = mentioned_classes(item.caption) & truth
        lost = true_classes - kept
        before, after = mentioned_classes(item.text), kept
        scores = {
            "injected_removed": float(item.injected not in kept), "true_mentions": float(len(true_classes)),
            "true_lost": float(len(lost)), "mentioned_before": float(len(before)),
            "hallucinated_before": float(len(before - truth)), "mentioned_after": float(len(after)),
            "hallucinated_after": float(len(after - truth)),
        }  # fmt: skip
        return ItemScore(correct=item.injected not in kept and not lost, scores=scores)

    def aggregate(self, pairs: Sequence[tuple[CorrectItem, ItemResult]]) -> Aggregate:
        """Injected removed, true lost, CHAIR-i and CHAIR-s before and after, per setting and overall."""

        def figures(chosen: Sequence[tuple[CorrectItem, ItemResult]]) -> dict[str, float | int | str | None]:
            scored = [result for _, result in chosen if result.scores]
            total = lambda key: sum(result.scores.get(key, 0.0) for result in scored)  # noqa: E731
            count = len(chosen)
            ok = [result.prediction for _, result in chosen if result.prediction]
            return {
                "items": count,
                "errors": sum(result.status == "error" for _, result in chosen),
                "injected_removed": round(total("injected_removed") / count, 4) if count else None,
                "true_lost": round(total("true_lost") / total("true_mentions"), 4) if total("true_mentions") else None,
                "chair_i_before": round(total("hallucinated_before") / total("mentioned_before"), 4)
                if total("mentioned_before") else None,
                "chair_i_after": round(total("hallucinated_after") / total("mentioned_after"), 4)
                if total("mentioned_after") else None,
                "chair_s_before": round(sum(r.scores.get("hallucinated_before", 0) > 0 for r in scored) / count, 4)
                if count else None,
                "chair_s_after": round(sum(r.scores.get("hallucinated_after", 0) > 0 for r in scored) / count, 4)
                if count else None,
                "llm_calls_per_item": round(sum(p["llm_calls"] for p in ok) / len(ok), 3) if ok else None,
                "seconds_per_item": round(sum(p["seconds"] for p in ok) / len(ok), 3) if ok else None,
            }  # fmt: skip

        stages: dict[str, float] = defaultdict(float)
        done = [result.prediction for _, result in pairs if result.prediction]
        for prediction in done:
            for name, seconds in prediction["stage_seconds"].items():
                stages[name] += seconds / len(done)
        per_type = {setting: figures([p for p in pairs if p[0].type == setting]) for setting in SETTINGS}
        return Aggregate(
            metrics=figures(pairs), per_type={k: v for k, v in per_type.items() if v["items"]}, breakdown="setting",
            details={"seconds per stage (mean)": {k: round(v, 3) for k, v in stages.items()}},
            notes=["CHAIR over the COCO classes the texts name (negated mentions excluded); true_lost over the "
                   "classes the original caption named that the image has"],
        )  # fmt: skip

    def plots(self, pairs: Sequence[tuple[CorrectItem, ItemResult]], aggregate: Aggregate, out_dir: Path) -> list[Path]:
        """No plots: the figures are a handful of rates."""
        return []
