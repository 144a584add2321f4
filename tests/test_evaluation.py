"""The evaluation harness on small slices of the shared data.

Predictors here are honest test doubles, named as such: the annotations themselves (exact or
perturbed), the reference texts (exact or corrupted) and scripted answerers. They check the
metric, scoring and reporting machinery; they say nothing about any model's accuracy.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import supervision as sv
import typer
from typer.testing import CliRunner
from visorch.evaluation import EvaluationRuntime, load_questions, run_evaluation
from visorch.evaluation.answers import exact_match, normalise_answer, normalise_text, parse_number, parse_yes_no
from visorch.evaluation.build_questions import build_questions
from visorch.evaluation.cli import make_eval_command
from visorch.evaluation.coco import CocoDataset, open_coco
from visorch.evaluation.errors import ResumeMismatchError, UnknownTaskError
from visorch.evaluation.metrics import binary_metrics, character_edits, word_edits
from visorch.evaluation.paths import QUESTIONS_PATH
from visorch.evaluation.pope_sampling import build_pope_questions, category_frequency, co_occurrence
from visorch.evaluation.speech import load_speech
from visorch.evaluation.sroie import load_receipts
from visorch.evaluation.tasks.ocr import match_lines
from visorch.tools.audio import AudioRef
from visorch.tools.images import ImageRef
from visorch.tools.text import TextLine

# --- test doubles ---------------------------------------------------------------------------------


class AnnotationDetectorForTest:
    """Test double: the COCO annotations of the image as detections, optionally with shifted boxes."""

    def __init__(self, dataset: CocoDataset, shift: float = 0.0, seed: int = 0) -> None:
        self.dataset = dataset
        self.shift = shift
        self.seed = seed
        self.ids_by_file = {info["file_name"]: image_id for image_id, info in dataset.coco.imgs.items()}

    def detect(self, image: ImageRef, categories: Sequence[str]) -> sv.Detections:
        """Every annotation (crowd regions included: COCOeval ignores matches to them)."""
        image_id = self.ids_by_file[Path(image.path).name]
        annotations = self.dataset.coco.imgToAnns[image_id]
        if not annotations:
            return sv.Detections.empty()
        rng = np.random.default_rng(self.seed + image_id)
        boxes = []
        for annotation in annotations:
            x, y, w, h = annotation["bbox"]
            dx, dy = rng.uniform(-self.shift, self.shift, size=2) * (w, h)
            boxes.append([x + dx, y + dy, x + w + dx, y + h + dy])
        names = [self.dataset.category_names[a["category_id"]] for a in annotations]
        return sv.Detections(
            xyxy=np.asarray(boxes, dtype=np.float32),
            confidence=np.ones(len(boxes), dtype=np.float32),
            class_id=np.zeros(len(boxes), dtype=int),
            data={"class_name": np.asarray(names, dtype=object)},
        )


class ReferenceReaderForTest:
    """Test double: the receipt's own line transcripts, optionally with the last word of each line dropped."""

    def __init__(self, receipts_path: Path, drop_last_word: bool = False) -> None:
        self.lines = {receipt.image_path.name: receipt.lines for receipt in load_receipts(receipts_path)}
        self.drop_last_word = drop_last_word

    def read(self, image: ImageRef) -> list[TextLine]:
        """Reference lines as OCR output."""
        found = []
        for line in self.lines[Path(image.path).name]:
            text = " ".join(line.text.split()[:-1]) if self.drop_last_word else line.text
            found.append(TextLine(text=text, box=line.box, confidence=1.0))
        return found


class ReferenceTranscriberForTest:
    """Test double: the reference transcript of the clip, optionally without its first word."""

    def __init__(self, speech_path: Path, drop_first_word: bool = False) -> None:
        self.texts = {clip.audio_path.resolve(): clip.text for clip in load_speech(speech_path)}
        self.drop_first_word = drop_first_word

    def transcribe(self, audio: AudioRef) -> str:
        """Reference text for the clip."""
        text = self.texts[Path(audio.path).resolve()]
        return " ".join(text.split()[1:]) if self.drop_first_word else text


@dataclass
class ScriptedAnswerForTest:
    """Test double of the agent's Answer."""

    text: str
    stop_reason: str = "answered"
    trace: dict[str, Any] | None = None


@dataclass
class ScriptedAnswererForTest:
    """Test double of the agent: answers with ``script(image, question, audio)`` and counts calls."""

    script: Callable[[str, str, str | None], str]
    calls: list[tuple[str, str, str | None]] = field(default_factory=list)

    def ask(self, *, image: str, question: str, audio: str | None = None) -> ScriptedAnswerForTest:
        """The scripted answer, with a small trace."""
        self.calls.append((image, question, audio))
        answer = self.script(image, question, audio)
        return ScriptedAnswerForTest(text=answer, trace={"question": question, "answer": answer})


# --- fixtures --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def coco(shared_data: Path) -> CocoDataset:
    """coco128."""
    return open_coco(shared_data / "coco128")


def _read_results(out_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out_dir / "results.jsonl").read_text().splitlines() if line.strip()]


# --- answers and metrics ---------------------------------------------------------------------------


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


def test_yes_no_and_text_normalise() -> None:
    assert parse_yes_no("Yes.") == "yes"
    assert parse_yes_no("No, there is not.") == "no"
    assert parse_yes_no("There is no dog in the image") == "no"
    assert parse_yes_no("A dog.") is None
    # a hedge is not a "no": counting it as one would inflate POPE's accuracy on absent objects
    assert parse_yes_no("I cannot tell from the tools' results.") is None
    assert parse_yes_no("I don't know.") is None
    assert parse_yes_no("Not sure, the detector cannot name it") is None
    assert parse_yes_no("No, I cannot tell") == "no"  # a leading no is still a no
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
    assert (metrics.true_positives, metrics.false_negatives, metrics.false_positives, metrics.true_negatives) == (
        2,
        1,
        1,
        1,
    )
    assert metrics.accuracy == pytest.approx(3 / 6)
    assert metrics.precision == pytest.approx(2 / 3)
    assert metrics.recall == pytest.approx(2 / 3)
    assert metrics.f1 == pytest.approx(2 / 3)
    assert metrics.yes_ratio == pytest.approx(3 / 5)


def test_line_matching_pairs_by_iou() -> None:
    from visorch.evaluation.sroie import ReceiptLine

    references = [ReceiptLine(text="TOTAL 9.00", box=(0, 0, 100, 20)), ReceiptLine(text="CASH", box=(0, 30, 50, 50))]
    predictions = [
        {"text": "total 9.00", "box": [1, 1, 99, 21]},  # IoU ~0.9 with the first line
        {"text": "noise", "box": [200, 200, 210, 210]},  # matches nothing
    ]
    assert match_lines(references, predictions) == [("total 9.00", "total 9.00"), ("cash", ""), ("", "noise")]


# --- question set ----------------------------------------------------------------------------------


def test_question_set_is_derived_and_loadable(shared_data: Path) -> None:
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


def test_count_answers_match_the_annotations(shared_data: Path, coco: CocoDataset) -> None:
    for question in load_questions(data_root=shared_data):
        if question.type != "count":
            continue
        annotation_ids = [int(source.rsplit(":", 1)[1]) for source in question.sources]
        annotations = coco.coco.loadAnns(annotation_ids)
        image_id = annotations[0]["image_id"]
        category_id = annotations[0]["category_id"]
        all_of_category = coco.coco.getAnnIds(imgIds=[image_id], catIds=[category_id])
        assert sorted(all_of_category) == sorted(annotation_ids)  # every instance counted, none crowd or tiny
        assert all(not a["iscrowd"] and a["area"] >= 32 * 32 for a in annotations)
        assert int(question.answer) == len(annotations)


# --- POPE sampling ---------------------------------------------------------------------------------


def test_pope_sampling_properties(coco: CocoDataset) -> None:
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


# --- tasks end to end ------------------------------------------------------------------------------


def test_detect_ground_truth_scores_one_and_perturbed_boxes_score_lower(
    shared_data: Path, coco: CocoDataset, tmp_path: Path
) -> None:
    exact = run_evaluation(
        "detect", shared_data / "coco128", tmp_path / "exact", workers=2,
        predictor=AnnotationDetectorForTest(coco), show_progress=False,
    )  # fmt: skip
    assert exact.items == 128 and exact.errors == 0
    assert exact.metrics["map_50"] == pytest.approx(1.0)
    assert exact.metrics["map_50_95"] == pytest.approx(1.0)
    shifted = run_evaluation(
        "detect", shared_data / "coco128", tmp_path / "shifted", limit=32, workers=2,
        predictor=AnnotationDetectorForTest(coco, shift=0.15), show_progress=False,
    )  # fmt: skip
    assert isinstance(shifted.metrics["map_50_95"], float) and isinstance(shifted.metrics["map_50"], float)
    assert shifted.metrics["map_50_95"] < 0.8
    assert shifted.metrics["map_50"] <= 1.0
    assert shifted.metrics["map_50_95"] < shifted.metrics["map_50"]
    for name in ("results.jsonl", "summary.json", "summary.md", "latency.png", "ap50_per_category.png", "run.json"):
        assert (tmp_path / "exact" / name).is_file(), name
    summary = json.loads((tmp_path / "exact" / "summary.json").read_text())
    assert summary["provenance"]["packages"]["pycocotools"]
    assert summary["predictor"]["class"].endswith("AnnotationDetectorForTest")


def test_ocr_reference_text_scores_zero_error(shared_data: Path, tmp_path: Path) -> None:
    receipts = shared_data / "receipts"
    exact = run_evaluation(
        "ocr", receipts, tmp_path / "exact", limit=5, predictor=ReferenceReaderForTest(receipts), show_progress=False
    )
    assert exact.metrics["line_cer"] == 0.0 and exact.metrics["page_wer"] == 0.0
    assert exact.metrics["line_recall"] == 1.0 and exact.metrics["matched_line_cer"] == 0.0
    assert exact.metrics["total_accuracy"] == 1.0  # these five receipts print their total
    corrupted = run_evaluation(
        "ocr", receipts, tmp_path / "corrupted", limit=5,
        predictor=ReferenceReaderForTest(receipts, drop_last_word=True), show_progress=False,
    )  # fmt: skip
    assert isinstance(corrupted.metrics["line_wer"], float) and isinstance(corrupted.metrics["line_cer"], float)
    # Dropping the last word of each line deletes one word per line (lines of one word become empty).
    items = load_receipts(receipts)[:5]
    lines = [line.text for receipt in items for line in receipt.lines]
    assert corrupted.metrics["line_wer"] == pytest.approx(
        sum(1 for text in lines if text.split()) / sum(len(text.split()) for text in lines), abs=1e-4
    )
    assert 0 < corrupted.metrics["line_cer"] < corrupted.metrics["line_wer"]


def test_asr_reference_text_scores_zero_and_dropped_words_count(shared_data: Path, tmp_path: Path) -> None:
    speech = shared_data / "speech"
    exact = run_evaluation(
        "asr", speech, tmp_path / "exact", predictor=ReferenceTranscriberForTest(speech), show_progress=False
    )
    assert exact.items == 10 and exact.errors == 0
    assert exact.metrics["wer"] == 0.0
    assert set(exact.per_type) == {"cards", "librivox"}
    dropped = run_evaluation(
        "asr", speech, tmp_path / "dropped", predictor=ReferenceTranscriberForTest(speech, True), show_progress=False
    )
    clips = load_speech(speech)
    assert dropped.metrics["wer"] == pytest.approx(len(clips) / sum(len(c.text.split()) for c in clips), abs=1e-4)


def test_asr_unreadable_audio_is_an_error_not_a_crash(shared_data: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    source = shared_data / "speech" / "cards"
    (corpus / "001.wav").symlink_to(source / "001.wav")
    (corpus / "002.wav").write_bytes(b"RIFF this is not audio")
    (corpus / "corpus.transcription").write_text("<s> ten of clubs </s> (001)\n<s> four queen of clubs </s> (002)\n")
    transcriber = ReferenceTranscriberForTest(source)
    transcriber.texts[(corpus / "001.wav").resolve()] = "ten of clubs"
    summary = run_evaluation("asr", corpus, tmp_path / "out", predictor=transcriber, show_progress=False)
    assert summary.errors == 1 and summary.error_types == {"AudioLoadError": 1}
    assert summary.metrics["wer"] == pytest.approx(4 / 7, abs=1e-4)  # the failed clip's four words count as deleted


def _question_file(shared_data: Path, tmp_path: Path, count: int) -> Path:
    questions = load_questions(data_root=shared_data)[:count]
    missing = questions[0].model_copy(update={"id": "missing-image", "image": "coco128/train2017/nope.jpg"})
    path = tmp_path / "questions.jsonl"
    path.write_text("".join(q.model_dump_json() + "\n" for q in [*questions, missing]))
    return path


def test_qa_scores_per_type_and_records_a_missing_image(shared_data: Path, tmp_path: Path) -> None:
    path = _question_file(shared_data, tmp_path, 16)
    answers = {(q.image, q.question, q.audio): q for q in load_questions(path, shared_data)}

    def script(image: str, question: str, audio: str | None) -> str:
        relative = Path(image).relative_to(shared_data).as_posix()
        truth = answers[(relative, question, audio and Path(audio).relative_to(shared_data).as_posix())]
        if truth.type == "count":
            return f"There are {truth.answer}.0 of them."  # right, in another form
        if truth.type == "exists":
            return "No."  # right only for the 'no' questions
        return truth.answer.lower()

    answerer = ScriptedAnswererForTest(script)
    summary = run_evaluation(
        "qa", path, tmp_path / "out", runtime=EvaluationRuntime(make_answerer=lambda _: answerer), show_progress=False
    )
    assert summary.items == 17 and summary.errors == 1
    assert summary.error_types == {"ImageLoadError": 1}
    assert len(answerer.calls) == 16  # the missing image never reached the answerer
    # Three count questions answered right; the fourth is the missing-image copy, wrong by rule.
    assert summary.per_type["count"] == {"accuracy": 0.75, "items": 4, "errors": 1}
    exists = [q for q in load_questions(path, shared_data) if q.type == "exists"]
    assert summary.per_type["exists"]["accuracy"] == pytest.approx(sum(q.answer == "no" for q in exists) / len(exists))
    results = {row["id"]: row for row in _read_results(tmp_path / "out")}
    assert results["missing-image"]["status"] == "error" and results["missing-image"]["correct"] is False
    first = next(row for row in results.values() if row["status"] == "ok")
    assert (tmp_path / "out" / first["trace"]).is_file()
    assert (tmp_path / "out" / "accuracy_per_type.png").is_file()


def test_resume_continues_after_an_interruption(shared_data: Path, tmp_path: Path) -> None:
    path = _question_file(shared_data, tmp_path, 8)
    answerer = ScriptedAnswererForTest(lambda image, question, audio: "yes")
    runtime = EvaluationRuntime(make_answerer=lambda _: answerer)
    first = run_evaluation("qa", path, tmp_path / "out", limit=4, runtime=runtime, show_progress=False)
    assert first.finished == 4 and len(answerer.calls) == 4
    stale = [{**row, "scores": {"stale": 1.0}} for row in _read_results(tmp_path / "out")]
    (tmp_path / "out" / "results.jsonl").write_text("".join(json.dumps(row) + "\n" for row in stale))
    with (tmp_path / "out" / "results.jsonl").open("a") as handle:
        handle.write('{"id": "cut-off-mid-wri')  # a crash while writing a line
    second = run_evaluation("qa", path, tmp_path / "out", runtime=runtime, workers=3, show_progress=False)
    assert second.items == 9 and second.finished == 9 and second.resumed == 4
    assert len(answerer.calls) == 4 + 4  # the four new questions with images; the missing one fails before asking
    rows = _read_results(tmp_path / "out")
    assert len({row["id"] for row in rows}) == len(rows) == 9
    assert not any("stale" in row["scores"] for row in rows)  # kept results are scored again
    with pytest.raises(ResumeMismatchError):
        run_evaluation("qa", path, tmp_path / "out", seed=5, runtime=runtime, show_progress=False)


def test_pope_always_yes_answerer(shared_data: Path, tmp_path: Path) -> None:
    answerer = ScriptedAnswererForTest(lambda image, question, audio: "Yes, there is.")
    summary = run_evaluation(
        "pope", shared_data / "coco128", tmp_path / "out", limit=36,
        runtime=EvaluationRuntime(make_answerer=lambda _: answerer), show_progress=False,
    )  # fmt: skip
    assert set(summary.per_type) == {"random", "popular", "adversarial"}
    for row in summary.per_type.values():
        assert (row["accuracy"], row["precision"], row["recall"], row["yes_ratio"]) == (0.5, 0.5, 1.0, 1.0)
    assert (tmp_path / "out" / "pope_confusion.png").is_file()


def test_cli_command_runs_a_task(shared_data: Path, tmp_path: Path) -> None:
    answerer = ScriptedAnswererForTest(lambda image, question, audio: "no")
    app = typer.Typer()
    runtime = EvaluationRuntime(make_answerer=lambda _: answerer, config={"llm": {"model": "m", "api_key": "sk-1"}})
    app.command("eval")(make_eval_command(lambda config: runtime))
    app.command("other")(lambda: None)  # two commands, as in the real CLI, so 'eval' is a sub-command
    result = CliRunner().invoke(
        app, ["eval", "pope", "--data", str(shared_data / "coco128"), "--limit", "6", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "accuracy" in result.output
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["metrics"]["accuracy"] == 0.5 and summary["config"]["config_file"] is None
    assert summary["config"]["llm"] == {"model": "m", "api_key": "<redacted>"}
    with pytest.raises(UnknownTaskError):
        run_evaluation("nope", None, tmp_path / "x", show_progress=False)


def test_interrupted_run_keeps_finished_items(shared_data: Path, tmp_path: Path) -> None:
    path = _question_file(shared_data, tmp_path, 6)

    def script(image: str, question: str, audio: str | None) -> str:
        if len(answerer.calls) > 3:
            raise KeyboardInterrupt  # the user presses Ctrl-C during the fourth question
        return "yes"

    answerer = ScriptedAnswererForTest(script)
    runtime = EvaluationRuntime(make_answerer=lambda _: answerer)
    with pytest.raises(KeyboardInterrupt):
        run_evaluation("qa", path, tmp_path / "out", runtime=runtime, show_progress=False)
    assert len(_read_results(tmp_path / "out")) == 3
    answerer.script = lambda image, question, audio: "yes"
    summary = run_evaluation("qa", path, tmp_path / "out", runtime=runtime, show_progress=False)
    assert summary.resumed == 3 and summary.finished == 7


def test_missing_data_path_says_what_layout_is_expected(tmp_path: Path) -> None:
    from visorch.evaluation.errors import DatasetLayoutError

    for task in ("detect", "ocr", "asr", "pope"):
        with pytest.raises(DatasetLayoutError, match="give"):
            run_evaluation(task, tmp_path, tmp_path / "out", predictor=object(), show_progress=False)


def test_ocr_receipts_with_missing_or_malformed_annotations_are_bad_items(shared_data: Path, tmp_path: Path) -> None:
    source = shared_data / "receipts" / "data"
    copy = tmp_path / "receipts"
    for folder in ("img", "box", "key"):
        (copy / folder).mkdir(parents=True)
    ids = sorted(path.stem for path in (source / "img").glob("*.jpg"))[:4]
    for receipt_id in ids:
        shutil.copy(source / "img" / f"{receipt_id}.jpg", copy / "img")
        shutil.copy(source / "box" / f"{receipt_id}.csv", copy / "box")
        shutil.copy(source / "key" / f"{receipt_id}.json", copy / "key")
    (copy / "box" / f"{ids[1]}.csv").unlink()
    (copy / "key" / f"{ids[2]}.json").write_text("{not json")
    with (copy / "box" / f"{ids[3]}.csv").open("a") as rows:
        rows.write("12,oops\n")
    summary = run_evaluation(
        "ocr", copy, tmp_path / "report", predictor=ReferenceReaderForTest(copy), show_progress=False
    )
    assert summary.items == 4 and summary.errors == 3
    errors = {json.loads(line)["id"]: json.loads(line) for line in (tmp_path / "report" / "results.jsonl").open()}
    assert errors[ids[0]]["status"] == "ok"
    assert "box.csv" not in str(errors[ids[1]]) and f"box/{ids[1]}.csv is missing" in str(errors[ids[1]])
    assert f"key/{ids[2]}.json is not valid JSON" in str(errors[ids[2]])
    assert f"box/{ids[3]}.csv line" in str(errors[ids[3]]) and "malformed" in str(errors[ids[3]])
    assert summary.metrics["total_accuracy"] == 1.0  # only the good receipt counts, and its total is printed
