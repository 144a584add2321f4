"""Program values carry their own behaviour: kind, conversions, description, JSON and HTML."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from visorch.programs.executor import ExecutorOptions, execute_program
from visorch.programs.parser import parse_program
from visorch.programs.registry import program_registry
from visorch.programs.trace import StepRecord, StepStatus
from visorch.programs.trace_html import value_html
from visorch.programs.validator import validate_program
from visorch.tools.audio import load_audio
from visorch.tools.catalog import builtin_tools
from visorch.tools.detections import Detections
from visorch.tools.kinds import ProgramValue, ValueKind
from visorch.tools.text import OCRText, TextLine, Transcript
from visorch.tools.types import VALUE_TYPES, accepts, coerce, describe_value, kind_of, kind_of_value, value_to_json


@pytest.fixture()
def ctx(builtin_runtime):
    return builtin_runtime.context


@pytest.fixture()
def values(ctx, bus_path: Path, shared_data: Path) -> dict[str, ProgramValue]:
    """One value of every class, on real files: bus.jpg, and a LibriVox clip."""
    bus = ctx.images.load(bus_path)
    boxes = Detections.from_boxes(bus, [(50, 400, 250, 900), (10, 230, 800, 750)], ["person", "bus"], [0.9, 0.8])
    lines = [TextLine(text="STOP", box=(10, 10, 60, 30), confidence=0.9)]
    audio = load_audio(next((shared_data / "speech" / "librivox").glob("*.wav")))
    return {
        "image": bus,
        "detections": boxes,
        "audio": audio,
        "transcript": Transcript(audio=audio, text="hello there", language="en", source="test"),
        "ocr_text": OCRText(image=bus, lines=lines, source="test"),
    }


def test_every_value_class_follows_the_protocol_and_names_its_own_kind(values) -> None:
    assert {type(value) for value in values.values()} == set(VALUE_TYPES)
    for name, value in values.items():
        assert isinstance(value, ProgramValue)
        assert value.value_kind == ValueKind(name) == kind_of_value(value) == kind_of(type(value))
        data = value.to_json_data()
        assert data["kind"] == name and json.loads(json.dumps(data)) == data
        assert value_to_json(value) == data
        assert describe_value(value) == value.describe()
        assert value._repr_html_() == value.to_html() == value_html(value)


def test_conversions_follow_the_declared_widening(values) -> None:
    ocr, transcript = values["ocr_text"], values["transcript"]
    assert accepts(ValueKind.TEXT, ValueKind.OCR_TEXT) and accepts(ValueKind.DETECTIONS, ValueKind.OCR_TEXT)
    assert accepts(ValueKind.TEXT, ValueKind.TRANSCRIPT) and not accepts(ValueKind.DETECTIONS, ValueKind.TRANSCRIPT)
    assert not accepts(ValueKind.TEXT, ValueKind.IMAGE)
    assert coerce(ocr, ValueKind.TEXT) == "STOP" and coerce(transcript, ValueKind.TEXT) == "hello there"
    as_boxes = coerce(ocr, ValueKind.DETECTIONS)
    assert isinstance(as_boxes, Detections) and as_boxes.texts == ["STOP"]
    assert coerce(values["image"], ValueKind.TEXT) is values["image"]
    assert coerce(True, ValueKind.TEXT) == "yes" and coerce(3.0, ValueKind.TEXT) == "3"


def test_descriptions_and_html_show_the_value(values) -> None:
    assert values["image"].describe() == "image 810x1080"
    assert values["detections"].describe().startswith("2 boxes: person 0.90 [50,400,250,900]")
    assert values["ocr_text"].describe() == '1 text lines read: ["STOP"]'
    assert values["transcript"].describe() == 'transcript heard: "hello there"'
    assert values["audio"].describe().startswith("audio ") and values["audio"].describe().endswith(" s")
    assert values["image"].to_html().startswith("<img") and "810x1080" in values["image"].to_html()
    boxes_html = values["detections"].to_html()
    assert "data:image/jpeg;base64," in boxes_html and "<td>person</td>" in boxes_html
    assert "STOP" in values["ocr_text"].to_html() and "<td>text</td>" in values["ocr_text"].to_html()
    assert "language: en" in values["transcript"].to_html()


def test_a_step_record_is_one_model_that_serialises_its_live_values(ctx, bus_path: Path) -> None:
    registry = program_registry(builtin_tools())
    source = "IMAGE0=CROP_LEFTOF(image=IMAGE, box=BOX)\nFINAL=RESULT(var=IMAGE0)"
    image = ctx.images.load(bus_path)
    inputs = {"IMAGE": image, "BOX": Detections.from_boxes(image, [(200, 0, 400, 100)], ["bus"])}
    validated = validate_program(parse_program(source), registry, inputs)
    trace = execute_program(validated, inputs, ctx, ExecutorOptions())
    record = trace.step("IMAGE0")
    assert isinstance(record, StepRecord) and record.status == StepStatus.OK
    dumped = record.model_dump(mode="json")
    assert dumped["output"]["kind"] == "image" and dumped["output"]["width"] == 300
    assert dumped["inputs"]["box"]["kind"] == "detections" and dumped["sources"] == {"image": "IMAGE", "box": "BOX"}
    steps = json.loads(trace.to_json())["steps"]
    assert [step["target"] for step in steps] == ["IMAGE0", "FINAL"] and steps[0] == dumped
