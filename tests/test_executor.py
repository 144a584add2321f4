"""The executor: dependency order, concurrency of independent steps, failure isolation, timeouts."""

from __future__ import annotations

import html
import json
import time
from pathlib import Path

import pytest
from visorch.programs.executor import ExecutorOptions, StepEvent, execute_program
from visorch.programs.parser import parse_program
from visorch.programs.registry import program_registry
from visorch.programs.trace import StepStatus
from visorch.programs.validator import validate_program
from visorch.tools.catalog import builtin_tools
from visorch.tools.errors import InputError, ToolNotInstalledError, UnknownToolError

from tests.helpers import TEST_TOOLS

REGISTRY = program_registry([*builtin_tools(), *TEST_TOOLS])


def run(source: str, ctx, inputs: dict | None = None, **options):
    validated = validate_program(parse_program(source), REGISTRY, inputs)
    events: list[StepEvent] = []
    trace = execute_program(validated, inputs or {}, ctx, ExecutorOptions(**options), on_event=events.append)
    return trace, events


def test_independent_branches_run_concurrently_and_dependents_wait(builtin_runtime) -> None:
    source = (
        "A=TEST_SLEEP(seconds=0.5, value='a')\n"
        "B=TEST_SLEEP(seconds=0.5, value='b')\n"
        "C=TEST_JOIN(a=A, b=B)\n"
        "FINAL=RESULT(var=C)\n"
    )
    started = time.perf_counter()
    trace, events = run(source, builtin_runtime.context)
    elapsed = time.perf_counter() - started
    assert trace.ok and trace.result == "a+b"
    assert elapsed < 0.9, f"two 0.5 s branches took {elapsed:.2f} s: they did not overlap"
    order = [(event.kind, event.record.target) for event in events]
    assert order.index(("finished", "A")) < order.index(("started", "C"))
    assert order.index(("finished", "B")) < order.index(("started", "C"))
    a, b = trace.step("A"), trace.step("B")
    assert abs(a.started_s - b.started_s) < 0.2


def test_max_workers_one_runs_sequentially(builtin_runtime) -> None:
    source = "A=TEST_SLEEP(seconds=0.3)\nB=TEST_SLEEP(seconds=0.3)\nC=TEST_JOIN(a=A, b=B)\nFINAL=RESULT(var=C)"
    started = time.perf_counter()
    trace, _ = run(source, builtin_runtime.context, max_workers=1)
    assert trace.ok and time.perf_counter() - started >= 0.6


def test_a_failing_step_stops_its_dependents_not_its_siblings(builtin_runtime) -> None:
    source = (
        "BAD=TEST_FAIL(message='boom')\n"
        "GOOD=TEST_SLEEP(seconds=0.1, value='fine')\n"
        "AFTER_BAD=TEST_JOIN(a=BAD, b=GOOD)\n"
        "AFTER_GOOD=TEST_JOIN(a=GOOD, b=GOOD)\n"
        "FINAL=RESULT(var=AFTER_BAD)\n"
    )
    trace, _ = run(source, builtin_runtime.context)
    assert not trace.ok
    assert trace.step("BAD").status == StepStatus.FAILED
    assert trace.step("BAD").error == "RuntimeError: boom"
    assert "RuntimeError: boom" in (trace.step("BAD").error_details or "")
    assert trace.step("GOOD").status == StepStatus.OK
    assert trace.step("AFTER_GOOD").output == "fine+fine"
    assert trace.step("AFTER_BAD").status == StepStatus.SKIPPED
    assert "depends on BAD" in (trace.step("AFTER_BAD").error or "")
    assert trace.step("FINAL").status == StepStatus.SKIPPED
    assert trace.error.startswith("BAD (TEST_FAIL, line 1) failed")


def test_tool_errors_stay_typed_and_attached(builtin_runtime, bus_path: Path) -> None:
    inputs = builtin_runtime.load_inputs(images={"IMAGE": bus_path})
    source = "BOX0=TEST_BOXES(image=IMAGE, count=0)\nIMG=CROP(image=IMAGE, box=BOX0)\nFINAL=RESULT(var=IMG)"
    trace, _ = run(source, builtin_runtime.context, inputs)
    step = trace.step("IMG")
    assert step.status == StepStatus.FAILED and step.error_type == "ToolArgumentError"
    assert "no box to use" in (step.error or "")


def test_step_timeout_marks_the_step_and_skips_dependents(builtin_runtime) -> None:
    source = (
        "SLOW=TEST_SLEEP(seconds=5)\n"
        "FAST=TEST_SLEEP(seconds=0.05, value='ok')\n"
        "NEXT=TEST_JOIN(a=SLOW, b=FAST)\n"
        "FINAL=RESULT(var=NEXT)\n"
    )
    started = time.perf_counter()
    trace, _ = run(source, builtin_runtime.context, step_timeout_s=0.3)
    assert time.perf_counter() - started < 2.0
    assert trace.step("SLOW").status == StepStatus.FAILED
    assert trace.step("SLOW").error_type == "StepTimeoutError"
    assert trace.step("FAST").output == "ok"
    assert trace.step("NEXT").status == StepStatus.SKIPPED


def test_an_unknown_tool_name_names_the_closest_tools() -> None:
    with pytest.raises(UnknownToolError) as raised:
        REGISTRY.require("COUNTT")
    assert raised.value.closest[0] == "COUNT" and "did you mean COUNT" in str(raised.value)
    assert not isinstance(raised.value, ToolNotInstalledError)  # nothing to install: the name is wrong


def test_missing_input_is_an_input_error(builtin_runtime) -> None:
    validated = validate_program(parse_program("C=COLOR(image=IMAGE)\nFINAL=RESULT(var=C)"), REGISTRY)
    with pytest.raises(InputError, match="needs input"):
        execute_program(validated, {}, builtin_runtime.context)


def test_trace_html_and_json(builtin_runtime, bus_path: Path, tmp_path: Path) -> None:
    inputs = builtin_runtime.load_inputs(images={"IMAGE": bus_path})
    source = (
        "BOX0=TEST_BOXES(image=IMAGE, label='person')\n"
        "IMG=CROP(image=IMAGE, box=BOX0, index=1)\n"
        "C=COLOR(image=IMG)\n"
        "N=COUNT(box=BOX0)\n"
        "BAD=TEST_FAIL(message='tool <crashed>')\n"
        "A=EVAL(expr=\"C + ' ' + str(N)\")\n"
        "FINAL=RESULT(var=A)\n"
    )
    trace, _ = run(source, builtin_runtime.context, inputs)
    assert trace.ok
    page = trace.to_html()
    for record in trace.steps:
        assert f"id='step-{record.target}'" in page
        assert html.escape(record.text) in page
    assert page.count("data:image/jpeg;base64,") >= 3  # input, boxes drawn, crop
    assert "tool &lt;crashed&gt;" in page
    assert trace._repr_html_() in page  # the page wraps the inline element
    data = json.loads(trace.to_json())
    assert "base64" not in trace.to_json()
    boxes = data["steps"][0]["output"]
    assert boxes["kind"] == "detections" and len(boxes["boxes"]) == 2 and boxes["image"]["sha256"]
    crop = data["steps"][1]["output"]
    assert crop["kind"] == "image" and crop["parent"]["sha256"] == boxes["image"]["sha256"]
    assert Path(crop["path"]).is_file()
    assert data["result"] == trace.result and data["ok"] is True
    assert data["steps"][4]["status"] == "failed"
    saved = trace.save_html(tmp_path / "t.html")
    assert saved.read_text(encoding="utf-8") == page
