"""The bundled question set: derived from annotations, reproducible, COCO questions on coco-val (val2017)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from visorch.evaluation import load_questions
from visorch.evaluation.build_questions import build_questions
from visorch.evaluation.coco import CocoDataset, open_coco
from visorch.evaluation.paths import COCO_VAL, QUESTIONS_PATH


@pytest.fixture(scope="module")
def coco_val(shared_data: Path) -> CocoDataset:
    """coco-val: COCO val2017, unseen by the offline detectors."""
    return open_coco(shared_data / COCO_VAL)


def test_question_set_is_derived_reproducible_and_loadable(shared_data: Path) -> None:
    questions = load_questions(data_root=shared_data)
    assert len(questions) >= 80
    assert len({question.id for question in questions}) == len(questions)
    kinds = Counter(question.type for question in questions)
    assert {"count", "exists", "receipt_total", "receipt_date", "speech_card", "speech_person"} <= set(kinds)
    assert all(question.image_path is not None and question.image_path.is_file() for question in questions)
    assert all(q.audio_path is None or q.audio_path.is_file() for q in questions)
    exists = Counter(question.answer for question in questions if question.type == "exists")
    assert exists["yes"] == exists["no"]
    assert all(1 <= int(q.answer) <= 6 for q in questions if q.type == "count")
    # The committed file is exactly what the builder makes with the default seed.
    rebuilt = "".join(q.model_dump_json() + "\n" for q in build_questions(shared_data, seed=0))
    assert rebuilt == QUESTIONS_PATH.read_text(encoding="utf-8")


def test_coco_questions_come_from_coco_val_not_the_detectors_training_split(shared_data: Path) -> None:
    coco_questions = [
        q for q in load_questions(data_root=shared_data) if q.type in ("count", "exists", "speech_person")
    ]
    assert coco_questions
    for question in coco_questions:
        assert question.image.startswith(f"{COCO_VAL}/val2017/"), question.id
        assert all(source.startswith(("coco-val:", "speech:")) for source in question.sources), question.id


def test_count_answers_match_the_coco_val_annotations(shared_data: Path, coco_val: CocoDataset) -> None:
    for question in load_questions(data_root=shared_data):
        if question.type != "count":
            continue
        annotation_ids = [int(source.rsplit(":", 1)[1]) for source in question.sources]
        annotations = coco_val.coco.loadAnns(annotation_ids)
        image_id = annotations[0]["image_id"]
        assert Path(question.image).name == coco_val.coco.imgs[image_id]["file_name"]
        all_of_category = coco_val.coco.getAnnIds(imgIds=[image_id], catIds=[annotations[0]["category_id"]])
        assert sorted(all_of_category) == sorted(annotation_ids)  # every instance counted, none crowd or tiny
        assert all(not a["iscrowd"] and a["area"] >= 32 * 32 for a in annotations)
        assert int(question.answer) == len(annotations)


def test_exists_answers_match_the_coco_val_annotations(shared_data: Path, coco_val: CocoDataset) -> None:
    present = {coco_val.coco.imgs[i]["file_name"]: names for i, names in coco_val.objects_by_image().items()}
    names = {name: name for name in coco_val.category_names.values()} | {
        "TV": "tv",
        "ball": "sports ball",
        "hair dryer": "hair drier",
    }
    for question in load_questions(data_root=shared_data):
        if question.type != "exists":
            continue
        asked = question.question.removeprefix("Is there ").removesuffix(" in the image?").split(" ", 1)[1]
        assert (names[asked] in present[Path(question.image).name]) == (question.answer == "yes"), question.id
