"""``pope``: sampling properties and scoring, with scripted test doubles of the agent."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from visorch.evaluation import EvaluationRuntime, run_evaluation
from visorch.evaluation.coco import open_coco
from visorch.evaluation.paths import COCO_TRAIN_SAMPLE, COCO_VAL
from visorch.evaluation.pope_sampling import build_pope_questions, category_frequency, co_occurrence

from tests.evaluation_doubles import ScriptedAnswererForTest
from tests.test_evaluation_qa import FAILURES


@pytest.mark.parametrize("folder", [COCO_VAL, COCO_TRAIN_SAMPLE])
def test_pope_sampling_properties(shared_data: Path, folder: str) -> None:
    coco = open_coco(shared_data / folder)
    objects = {coco.coco.imgs[i]["file_name"]: names for i, names in coco.objects_by_image().items()}
    categories = sorted(coco.category_names.values())
    questions = build_pope_questions(objects, categories, seed=0)
    frequency = category_frequency(objects)
    pairs = co_occurrence(objects)
    assert questions
    for setting in ("random", "popular", "adversarial"):
        of_setting = [q for q in questions if q.setting == setting]
        assert Counter(q.answer for q in of_setting)["yes"] * 2 == len(of_setting)
        for question in of_setting:
            present = objects[question.image]
            assert (question.object in present) == (question.answer == "yes")
    for image, present in objects.items():
        adversarial = [
            q.object for q in questions if q.image == image and q.setting == "adversarial" and q.answer == "no"
        ]
        popular = [q.object for q in questions if q.image == image and q.setting == "popular" and q.answer == "no"]
        if not adversarial:
            continue
        absent = [c for c in categories if c not in present]
        score = {c: sum(pairs[(c, p)] for p in present) for c in absent}
        assert all(score[c] > 0 for c in adversarial)  # they co-occur with the image's objects elsewhere
        assert min(score[c] for c in adversarial) >= max(score[c] for c in absent if c not in adversarial)
        assert min(frequency[c] for c in popular) >= max(frequency[c] for c in absent if c not in popular)
    assert build_pope_questions(objects, categories, seed=0) == questions
    assert build_pope_questions(objects, categories, seed=1) != questions


def _runtime(answerer: ScriptedAnswererForTest, data_root: Path) -> EvaluationRuntime:
    return EvaluationRuntime(make_answerer=lambda _: answerer, data_root=data_root)


def test_pope_on_coco_val_always_yes_answerer(shared_data: Path, tmp_path: Path) -> None:
    answerer = ScriptedAnswererForTest(lambda image, question, audio: "Yes, there is.")
    summary = run_evaluation(
        "pope", None, tmp_path / "out", limit=36, runtime=_runtime(answerer, shared_data), show_progress=False
    )
    assert Path(summary.data_path) == (shared_data / COCO_VAL).resolve()  # the default: val2017
    assert summary.split == "COCO val2017 (coco-val)"
    assert set(summary.per_type) == {"random", "popular", "adversarial"}
    for row in summary.per_type.values():
        assert (row["accuracy"], row["precision"], row["recall"], row["yes_ratio"]) == (0.5, 0.5, 1.0, 1.0)
        low, high = (float(end) for end in str(row["accuracy_95ci"]).split("-"))  # images resampled, not questions
        assert low <= 0.5 <= high and high - low < 0.4
    assert summary.metrics["random_accuracy_95ci"] == summary.per_type["random"]["accuracy_95ci"]
    assert (tmp_path / "out" / "pope_confusion.png").is_file()
    assert (tmp_path / "out" / "summary.md").read_text().startswith("# Evaluation: pope (COCO val2017 (coco-val))")


def test_pope_on_coco_val_failure_answers_are_unanswered_and_wrong(shared_data: Path, tmp_path: Path) -> None:
    """Half of POPE's truths are "no": reading failures as "no" once gave this answerer 50 % accuracy."""
    answerer = ScriptedAnswererForTest(lambda image, question, audio: FAILURES[len(answerer.calls) % len(FAILURES)])
    summary = run_evaluation(
        "pope", None, tmp_path / "out", limit=36, runtime=_runtime(answerer, shared_data), show_progress=False
    )
    assert summary.metrics["accuracy"] == 0.0
    assert summary.metrics["unanswered"] == 36
    for row in summary.per_type.values():  # nothing answered: the ratios are undefined, not 0 ("all no")
        assert row["accuracy"] == 0.0 and row["unanswered"] == 12
        assert row["precision"] is None and row["recall"] is None and row["f1"] is None and row["yes_ratio"] is None


def test_the_accuracy_interval_resamples_images_not_questions() -> None:
    from visorch.evaluation.metrics import image_bootstrap_interval

    # 10 images of 10 questions: half the images all right, half all wrong. Questions resampled alone would give a
    # narrow interval around 0.5; whole images resampled give the honest, wide one.
    outcomes = [(image, image % 2 == 0) for image in range(10) for _ in range(10)]
    interval = image_bootstrap_interval(outcomes)
    assert interval is not None and interval[0] < 0.35 and interval[1] > 0.65
    assert image_bootstrap_interval([(0, True), (0, False)]) is None  # one image: no interval
    assert image_bootstrap_interval([(image, True) for image in range(5)]) == (1.0, 1.0)
