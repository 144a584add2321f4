"""Crash and resume: runs killed anywhere continue from their checkpoint with no finished tool call repeated.

The fast tests use the model-free tools (and a scripted LLM, a test double, for the agent's roles); the
subprocess tests SIGKILL a real ``visorch ask`` (the offline detector; the embedded LLM in the slow one)
at chosen points and resume it with ``visorch ask --resume`` in a new process or with ``Agent.resume``,
counting real tool invocations with tests/crash_probe.py. Corrupt, truncated and locked checkpoint and
result-cache files are reported and worked around.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from visorch.agent import Agent, AgentConfig
from visorch.config import VisorchSettings
from visorch.grounding import grounded_boxes
from visorch.live import LiveStore
from visorch.llm import ScriptedLLM
from visorch.programs.executor import execute_program
from visorch.programs.trace import Trace
from visorch.programs.value_codec import decode_value, encode_value
from visorch.run_journal import RunJournal, open_checkpoint_database, run_key
from visorch.runtime import Runtime
from visorch.tools.catalog import builtin_tools
from visorch.tools.detections import Detections
from visorch.tools.errors import InputError
from visorch.tools.models.cache import ResultCache
from visorch.tools.text import OCRText, TextLine

from tests.crash_probe import (
    at_begin,
    at_time,
    finished_tool_calls,
    install_probes,
    read_log,
    repeated_calls,
    run_visorch,
)
from tests.helpers import TEST_TOOLS

CROP_PROGRAM = (
    "BOX0=TEST_BOXES(image=IMAGE, label='bus', count=1)\n"
    "IMAGE0=CROP(image=IMAGE, box=BOX0)\n"
    "BOX1=TEST_BOXES(image=IMAGE0, label='person', count=3)\n"
    "ANSWER0=COUNT(box=BOX1)\n"
    "FINAL=RESULT(var=ANSWER0)"
)
ANSWER = json.dumps({"verdict": "ANSWER", "reason": "the count answers it", "missing": ""})


@pytest.fixture()
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    made = Runtime.create(VisorchSettings(home=tmp_path / "home"), tools=[*builtin_tools(), *TEST_TOOLS], backends=[])
    yield made
    made.close()


def _counting(runtime: Runtime, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    log = tmp_path / "calls.jsonl"
    install_probes(log, monkeypatch.setattr)
    return log


# --- exact values and stored traces ------------------------------------------------------------------


def test_values_round_trip_exactly_without_pixels(runtime: Runtime, bus_path: Path) -> None:
    image = runtime.context.images.load(bus_path)
    crop = runtime.context.images.put(image.pil().crop((10, 20, 310, 420)), parent=image, offset=(10, 20))
    masks = np.zeros((2, crop.height, crop.width), dtype=bool)
    masks[0, 5:50, 7:90] = True
    masks[1, 100:, :30] = True
    boxes = [[1.0 / 3.0, 2.25, 100.123456, 200.5], [3.0, 4.0, 30.75, 40.5]]
    found = Detections.from_boxes(crop, boxes, ["person", "dog"], [0.912345678, 0.3], source="x", masks=masks,
                                  texts=["a", "b"], notes=["a caveat"])  # fmt: skip
    text = OCRText(image=image, lines=[TextLine(text="STOP", box=(1.5, 2.5, 3.5, 4.5), confidence=0.97)], source="o")
    encoded = json.dumps(encode_value([found, text, crop, (1, "two"), {"k": 2.5}, None, True]))
    assert "data:image" not in encoded and len(encoded) < 5000  # references and packed masks, no pixels
    back, text_back, crop_back, pair, mapping, nothing, flag = decode_value(json.loads(encoded))
    assert np.array_equal(back.xyxy, found.xyxy) and back.xyxy.dtype == found.xyxy.dtype
    assert back.scores == found.scores and back.labels == found.labels and back.texts == found.texts
    assert np.array_equal(back.masks, masks) and back.notes == found.notes and back.content_key() == found.content_key()
    # (references compare by their fields: a live one also holds decoded pixels)
    assert back.image.model_dump() == crop.model_dump() and back.image.parent is not None
    assert back.in_root_image().records() == found.in_root_image().records()
    assert text_back.model_dump() == text.model_dump() and crop_back.model_dump() == crop.model_dump()
    assert pair == (1, "two") and mapping == {"k": 2.5}
    assert nothing is None and flag is True
    assert crop_back.pil().size == crop.size  # pixels come back from the content-addressed image store


def test_a_stored_trace_rebuilds_its_boxes_evidence_and_html(runtime: Runtime, bus_path: Path) -> None:
    inputs = runtime.load_inputs({"IMAGE": bus_path})
    trace = runtime.run_program(CROP_PROGRAM, inputs)
    stored = trace.to_stored_json()
    assert "base64" not in stored
    again = Trace.from_stored_json(stored)
    assert again.ok and again.result == trace.result == 3
    boxes = grounded_boxes(trace, inputs)
    assert grounded_boxes(again, inputs) == boxes and len(boxes) == 4  # the bus and the 3 people in it
    assert str(again) == str(trace) and again.ancestors("FINAL") == trace.ancestors("FINAL")
    assert again.to_json() == trace.to_json()
    assert "data:image/" in again.to_html()  # the crop is drawn again from the image store


# --- the executor and the journal --------------------------------------------------------------------


def test_restored_steps_are_not_run_again(runtime: Runtime, bus_path: Path, monkeypatch, tmp_path: Path) -> None:
    log = _counting(runtime, monkeypatch, tmp_path)
    inputs = runtime.load_inputs({"IMAGE": bus_path})
    validated = runtime.check(CROP_PROGRAM, inputs)
    first = execute_program(validated, inputs, runtime.context)
    everything = finished_tool_calls(read_log(log))
    assert everything == {"TEST_BOXES": 2, "CROP": 1, "COUNT": 1, "RESULT": 1}
    # as if the process died while BOX1 ran: BOX0 and IMAGE0 had finished and were journaled
    connection, _ = open_checkpoint_database(tmp_path / "checkpoints.sqlite")
    journal = RunJournal(connection)
    key = run_key({"started_at": 1.0, "round": 1, "inputs": inputs}, CROP_PROGRAM)
    for record in first.steps[:2]:
        journal.record_step("t", key, record)
    restored = journal.finished_steps("t", key)
    assert set(restored) == {"BOX0", "IMAGE0"}
    events: list[str] = []
    second = execute_program(validated, inputs, runtime.context, restored=restored,
                             on_event=lambda event: events.append(f"{event.kind} {event.record.target}"))  # fmt: skip
    assert finished_tool_calls(read_log(log)) - everything == {"TEST_BOXES": 1, "COUNT": 1, "RESULT": 1}
    assert [s.restored for s in second.steps] == [True, True, False, False, False]
    assert events[:2] == ["restored BOX0", "restored IMAGE0"] and "started BOX0" not in events
    assert second.result == first.result and grounded_boxes(second, inputs) == grounded_boxes(first, inputs)
    assert second.step("IMAGE0").output.model_dump() == first.step("IMAGE0").output.model_dump()
    # a restored step whose input is not restored runs again (it must read the re-run input)
    only_later = {"IMAGE0": restored["IMAGE0"]}
    third = execute_program(validated, inputs, runtime.context, restored=only_later)
    assert not any(step.restored for step in third.steps) and third.result == 3


def test_the_live_store_reads_traces_back_from_the_journal(runtime: Runtime, bus_path: Path, tmp_path: Path) -> None:
    connection, persistent = open_checkpoint_database(tmp_path / "checkpoints.sqlite")
    assert persistent
    trace = runtime.run_program(CROP_PROGRAM, runtime.load_inputs({"IMAGE": bus_path}))
    LiveStore(journal=RunJournal(connection)).add_trace("thread", trace, "trace-1")
    fresh = LiveStore(journal=RunJournal(sqlite3.connect(tmp_path / "checkpoints.sqlite")))  # another process
    again = fresh.trace("trace-1")
    assert again is not None and again.result == 3 and fresh.threads() == ["thread"]
    assert fresh.trace("no-such-trace") is None


# --- the agent: a finished or interrupted thread in a new process ------------------------------------


def _agent(home: Path, replies: list[Any], **config: Any) -> Agent:
    runtime = Runtime.create(VisorchSettings(home=home), tools=[*builtin_tools(), *TEST_TOOLS], backends=[])
    settings = {"rule_answers": False, "plan_cache": False, **config}
    return Agent(AgentConfig(**settings), runtime=runtime, llm=ScriptedLLM(replies))


def test_a_new_agent_resumes_a_finished_thread_with_its_trace_and_boxes(tmp_path: Path, bus_path: Path) -> None:
    with _agent(tmp_path / "home", [CROP_PROGRAM, ANSWER, "3"]) as agent:
        first = agent.ask(image=bus_path, question="How many people are in the bus?", thread_id="done-thread")
    assert first.text == "3" and len(first.boxes) == 4 and first.timings.tool_calls == 5
    with _agent(tmp_path / "home", []) as fresh:  # no LLM reply left: nothing may run again
        again = list(fresh.resume("done-thread"))
    answer = again[-1].answer
    assert again[0].event == "started" and again[0].data["resumed"]
    assert answer is not None and answer.text == "3" and answer.boxes == first.boxes
    assert answer.trace is not None and answer.trace.result == 3 and answer.evidence == first.evidence
    assert "data:image/" in answer.to_html()


def test_a_run_key_names_one_execution_of_one_run(runtime: Runtime, bus_path: Path, zidane_path: Path) -> None:
    bus, zidane = runtime.load_inputs({"IMAGE": bus_path}), runtime.load_inputs({"IMAGE": zidane_path})
    state = {"started_at": 1.0, "round": 1, "inputs": bus}
    assert run_key(state, CROP_PROGRAM) == run_key(dict(state), CROP_PROGRAM + "\n")  # what a resumed node sees
    others = [{**state, "started_at": 2.0}, {**state, "round": 2}, {**state, "inputs": zidane}]
    assert len({run_key(other, CROP_PROGRAM) for other in others} | {run_key(state, CROP_PROGRAM)}) == 4
    assert run_key(state, CROP_PROGRAM) != run_key(state, CROP_PROGRAM.replace("count=3", "count=2"))


def test_resuming_an_unknown_thread_says_so(tmp_path: Path) -> None:
    with _agent(tmp_path / "home", []) as agent, pytest.raises(InputError, match="no run with thread id 'nope'"):
        list(agent.resume("nope"))


def test_an_execution_interrupted_mid_program_resumes_without_repeating_steps(
    tmp_path: Path, bus_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In one process, for speed: the run is held inside BOX1 (its tool does not return while the test looks, so
    the checkpoint stays where a kill would leave it), then a new agent on the same files resumes it."""
    log = tmp_path / "calls.jsonl"
    install_probes(log, monkeypatch.setattr)
    from visorch.tools.registry import Tool

    probed = Tool._call
    seen = {"TEST_BOXES": 0}
    stop, release = threading.Event(), threading.Event()

    def stopping_call(self: Tool, *arguments: Any, **keywords: Any) -> Any:
        if self.name == "TEST_BOXES":
            seen["TEST_BOXES"] += 1
            if seen["TEST_BOXES"] == 2 and not stop.is_set():
                stop.set()
                release.wait(300)  # the step does not finish in this "process" while the test looks
        return probed(self, *arguments, **keywords)

    monkeypatch.setattr(Tool, "_call", stopping_call)
    home = tmp_path / "home"
    agent = _agent(home, [CROP_PROGRAM, ANSWER, "3"])
    worker = threading.Thread(
        target=lambda: list(agent.stream(image=bus_path, question="How many people are in the bus?", thread_id="t1")),
        daemon=True,
    )
    worker.start()
    assert stop.wait(60)
    before = finished_tool_calls(read_log(log))
    assert before == {"TEST_BOXES": 1, "CROP": 1}
    state = agent.graph.get_state({"configurable": {"thread_id": "t1"}})
    assert state.next == ("execute",)  # checkpointed before execute; BOX0 and IMAGE0 only in the journal
    monkeypatch.setattr(Tool, "_call", probed)
    with _agent(home, [ANSWER, "3"]) as fresh:  # a new agent: new live store, the same checkpoint file
        events = list(fresh.resume("t1"))
    answer = events[-1].answer
    assert answer is not None and answer.text == "3" and len(answer.boxes) == 4
    after = finished_tool_calls(read_log(log)) - before
    assert after == {"TEST_BOXES": 1, "COUNT": 1, "RESULT": 1}
    assert repeated_calls({"TEST_BOXES": 2, "CROP": 1, "COUNT": 1, "RESULT": 1}, before, after) == 0
    assert [e.data["target"] for e in events if e.event == "step_restored"] == ["BOX0", "IMAGE0"]
    assert answer.timings.steps_restored == 2 and answer.timings.tool_calls == 3
    release.set()  # let the abandoned run end (in its temporary folder) so no thread outlives the test
    worker.join(60)
    agent.close()


def test_visorch_ask_resume_checks_its_arguments(tmp_path: Path, bus_path: Path, monkeypatch) -> None:
    from typer.testing import CliRunner
    from visorch.cli import app

    monkeypatch.setenv("VISORCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("VISORCH_CONFIG", str(tmp_path / "none.toml"))
    runner = CliRunner()
    both = runner.invoke(app, ["ask", str(bus_path), "How many?", "--resume", "t"])
    assert both.exit_code == 1 and "give no image, question or audio with it" in both.output
    neither = runner.invoke(app, ["ask"])
    assert neither.exit_code == 1 and "--resume THREAD" in neither.output
    unknown = runner.invoke(app, ["ask", "--resume", "never-ran"])
    assert unknown.exit_code == 1 and "no run with thread id 'never-ran'" in unknown.output


# --- corrupt, truncated and locked files --------------------------------------------------------------


def _real_database(path: Path, rows: int = 2000) -> None:
    """A real SQLite file of about 1 MB (so truncating it cuts pages the schema points to)."""
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE filler (blob BLOB)")
    connection.executemany("INSERT INTO filler VALUES (?)", [(os.urandom(500),) for _ in range(rows)])
    connection.commit()
    connection.close()


def _damage(path: Path, how: str) -> sqlite3.Connection | None:
    """Make ``path`` garbage, truncated, or locked by another connection (returned: keep it open)."""
    if how == "garbage":
        path.write_bytes(os.urandom(20_000))
        return None
    if how == "truncated":
        _real_database(path)
        with path.open("r+b") as handle:
            handle.truncate(path.stat().st_size // 2)
        return None
    holder = sqlite3.connect(path, isolation_level=None)  # another process's exclusive lock
    holder.execute("CREATE TABLE IF NOT EXISTS filler (blob BLOB)")
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO filler VALUES (x'00')")
    return holder


@pytest.mark.parametrize("how", ["garbage", "truncated", "locked"])
def test_an_unusable_checkpoint_file_is_reported_and_the_question_still_answered(
    how: str, tmp_path: Path, bus_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("visorch.run_journal.LOCK_WAIT_S", 0.3)
    target = tmp_path / "checkpoints.sqlite"
    holder = _damage(target, how)
    with caplog.at_level(logging.WARNING), _agent(tmp_path / "home", [CROP_PROGRAM, ANSWER, "3"],
                                                  checkpoint_path=target) as agent:  # fmt: skip
        answer = agent.ask(image=bus_path, question="How many people are in the bus?", thread_id="t")
        assert answer.text == "3" and len(answer.boxes) == 4 and not agent.checkpoints_persist
        assert answer.trace is not None  # the journal works in memory too
        with pytest.raises(InputError, match="in-memory checkpoints"):
            list(agent.resume("another-thread"))
    warned = " ".join(record.getMessage() for record in caplog.records)
    assert str(target) in warned and ("locked" if how == "locked" else "move it aside or delete it") in warned
    assert "cannot be resumed" in warned
    if holder is not None:
        holder.close()


@pytest.mark.parametrize("how", ["garbage", "truncated", "locked"])
def test_an_unusable_result_cache_is_reported_and_kept_in_memory(
    how: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    target = tmp_path / "results.sqlite"
    holder = _damage(target, how)
    with caplog.at_level(logging.WARNING):
        cache = ResultCache(target, lock_wait_s=0.3)
    cache.put("key", {"boxes": 3})
    assert cache.lookup("key") == (True, {"boxes": 3}) and cache.lookup("other") == (False, None)
    warned = " ".join(record.getMessage() for record in caplog.records)
    assert str(target) in warned and "in memory only" in warned
    assert ("another process holds it" if how == "locked" else "move it aside or delete it") in warned
    cache.close()
    if holder is not None:
        holder.close()


def test_a_result_cache_locked_while_in_use_goes_on_in_memory(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    target = tmp_path / "results.sqlite"
    cache = ResultCache(target, memory_items=1, lock_wait_s=0.3)
    cache.put("a", 1)
    holder = sqlite3.connect(target, isolation_level=None)  # another process takes the write lock and keeps it
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO results VALUES ('x', x'00', 0)")
    with caplog.at_level(logging.WARNING):
        cache.put("b", 2)  # the write waits 0.3 s, then the cache goes on without its file
    assert cache.lookup("b") == (True, 2) and cache.lookup("a") == (False, None)  # "a" was only on disk now
    assert str(target) in caplog.text and "could not be written" in caplog.text
    holder.close()


def test_a_garbage_result_cache_does_not_stop_the_runtime(tmp_path: Path, bus_path: Path, caplog) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "results.sqlite").write_bytes(b"not a database" * 100)
    with caplog.at_level(logging.WARNING):
        runtime = Runtime.create(VisorchSettings(home=home), tools=[*builtin_tools(), *TEST_TOOLS], backends=[])
    trace = runtime.run_program(CROP_PROGRAM, runtime.load_inputs({"IMAGE": bus_path}))
    assert trace.ok and trace.result == 3 and "results.sqlite" in caplog.text
    runtime.close()


# --- SIGKILL a real `visorch ask`, resume it in a new process -----------------------------------------

DETECTOR_PROGRAM = (
    "BOX0=LOC(image=IMAGE, object='bus')\n"
    "IMAGE0=CROP(image=IMAGE, box=BOX0)\n"
    "BOX1=LOC(image=IMAGE0, object='person')\n"
    "ANSWER0=COUNT(box=BOX1)\n"
    "FINAL=RESULT(var=ANSWER0)"
)
"""Two detector calls with a crop between them: a kill in the second leaves two finished steps to restore."""
COUNT_QUESTION = "How many people are in the picture?"
"""(Its one slot is 'people': the plan cache fills templates with two slots out of order, see the report.)"""


def _offline_pack_or_skip() -> Path:
    from visorch.llm.llama_cpp_backend import default_gguf_path
    from visorch.tools.models.manager import default_weights_root

    if not default_gguf_path().is_file() or not (default_weights_root() / "nanodet-m" / "nanodet.onnx").is_file():
        pytest.skip("the offline pack is not installed: run visorch models install-offline")
    return default_weights_root()


def _environment(home: Path, weights: Path, llm: bool = False, **extra: str) -> dict[str, str]:
    """An isolated visorch home (results, checkpoints, plan cache, images), the shared weights, no config file;
    without ``llm`` the LLM is a file that does not exist, so a run that needed it fails at once."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("VISORCH_")}
    env.update({
        "VISORCH_HOME": str(home), "VISORCH_WEIGHTS_DIR": str(weights), "VISORCH_CONFIG": str(home / "none.toml"),
        "VISORCH_LLM_TIMEOUT_S": "1500", "VISORCH_AGENT__RULE_MIN_SCORE": "0.05",
        "VISORCH_AGENT__CALIBRATED_REWRITE": "false",  # the seeded LOC/CROP/LOC/COUNT program runs as written
        **extra,
    })  # fmt: skip
    if not llm:
        env["VISORCH_LLM_MODEL"] = str(home / "no-llm-in-this-run.gguf")
    return env


def _seed_plan_cache(home: Path, weights: Path, question: str, program: str) -> None:
    """Put ``program`` in the home's plan cache for ``question`` (as an answered run would), so no LLM plans it."""
    settings = VisorchSettings(home=home, weights_dir=weights)
    with Agent(AgentConfig.from_settings(settings), settings=settings, llm=ScriptedLLM([])) as agent:
        assert agent.services.plan_cache is not None
        agent.services.plan_cache.store(question, program, ["IMAGE"])
        assert agent.services.plan_cache.lookup(question, ["IMAGE"]) == program


@pytest.fixture(scope="module")
def detector_baseline(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One uninterrupted run of the detector program (from the plan cache, verdict and answer by rule)."""
    weights = _offline_pack_or_skip()
    root = tmp_path_factory.mktemp("baseline")
    home = root / "home"
    _seed_plan_cache(home, weights, COUNT_QUESTION, DETECTOR_PROGRAM)
    log = root / "calls.jsonl"
    run = run_visorch(log, _environment(home, weights), ["ask", str(_bus()), COUNT_QUESTION, "--json", "--quiet"])
    answer = run.answer()
    assert answer["timings"]["llm_calls"] == 0 and answer["timings"]["plan_cache_hits"] == 1
    assert run.calls["LOC"] == 2 and answer["text"].isdigit()
    plan_cache = (home / "plan-cache.json").read_text()
    return {"answer": answer, "calls": run.calls, "plan_cache": plan_cache, "wall_s": run.wall_s}


def _bus() -> Path:
    from tests.conftest import ultralytics_asset

    return ultralytics_asset("bus.jpg")


def _trial_home(tmp_path: Path, baseline: dict) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / "plan-cache.json").write_text(baseline["plan_cache"])
    return home


def _same_answer(resumed: dict, baseline: dict) -> None:
    assert resumed["text"] == baseline["text"] and resumed["stop_reason"] == baseline["stop_reason"]
    assert resumed["boxes"] == baseline["boxes"] and resumed["evidence"] == baseline["evidence"]


@pytest.mark.slow
def test_sigkill_in_a_tool_step_then_visorch_ask_resume(tmp_path: Path, detector_baseline: dict) -> None:
    weights = _offline_pack_or_skip()
    env = _environment(_trial_home(tmp_path, detector_baseline), weights)
    log = tmp_path / "calls.jsonl"
    ask = ["ask", str(_bus()), COUNT_QUESTION, "--thread", "killed-in-loc", "--json", "--quiet"]
    killed = run_visorch(log, env, ask, kill=at_begin("tool", 2, tool="LOC"), hold=("LOC", 2))
    assert killed.killed and killed.stages == ["tool LOC"]
    assert killed.calls == {"LOC": 1, "CROP": 1}  # BOX0 and IMAGE0 had finished
    html = tmp_path / "resumed.html"
    resumed = run_visorch(log, env, ["ask", "--resume", "killed-in-loc", "--json", "--html", str(html)])
    answer = resumed.answer()
    _same_answer(answer, detector_baseline["answer"])
    assert repeated_calls(detector_baseline["calls"], killed.calls, resumed.calls) == 0
    assert answer["timings"]["steps_restored"] == 2 and answer["timings"]["tool_calls"] == 3
    assert "BOX0 = LOC finished before the crash" in resumed.stderr
    page = html.read_text(encoding="utf-8")
    assert COUNT_QUESTION in page and "Grounded on" in page  # the trace and its boxes, in a new process


@pytest.mark.slow
def test_sigkill_then_agent_resume_with_the_result_cache_off(
    tmp_path: Path, detector_baseline: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run journal alone keeps finished steps from running twice (no result cache to answer from)."""
    weights = _offline_pack_or_skip()
    home = _trial_home(tmp_path, detector_baseline)
    env = _environment(home, weights, VISORCH_MODELS__CACHE_RESULTS="false")
    log = tmp_path / "calls.jsonl"
    ask = ["ask", str(_bus()), COUNT_QUESTION, "--thread", "no-cache", "--json", "--quiet"]
    killed = run_visorch(log, env, ask, kill=at_begin("tool", 2, tool="LOC"), hold=("LOC", 2))
    assert killed.killed and killed.calls == {"LOC": 1, "CROP": 1}
    assert not (home / "results.sqlite").exists()
    install_probes(log, monkeypatch.setattr)
    for name, value in env.items():
        if name.startswith("VISORCH_"):
            monkeypatch.setenv(name, value)
    settings = VisorchSettings()
    assert not settings.models.cache_results
    with Agent(AgentConfig.from_settings(settings), settings=settings) as agent:
        events = list(agent.resume("no-cache"))
    answer = events[-1].answer
    assert answer is not None and answer.trace is not None
    _same_answer(json.loads(answer.model_dump_json()), detector_baseline["answer"])
    resumed_calls = finished_tool_calls(read_log(log), os.getpid())
    assert repeated_calls(detector_baseline["calls"], killed.calls, resumed_calls) == 0
    assert [event.data["target"] for event in events if event.event == "step_restored"] == ["BOX0", "IMAGE0"]


@pytest.mark.slow
def test_sigkill_at_random_moments_resumes_with_nothing_repeated(tmp_path: Path, detector_baseline: dict) -> None:
    weights = _offline_pack_or_skip()
    import random

    chooser = random.Random(17)
    for index in range(2):
        trial = tmp_path / f"trial{index}"
        trial.mkdir()
        env = _environment(_trial_home(trial, detector_baseline), weights)
        log = trial / "calls.jsonl"
        ask = ["ask", str(_bus()), COUNT_QUESTION, "--thread", "t", "--json", "--quiet"]
        moment = chooser.uniform(0.3, 0.95) * detector_baseline["wall_s"]  # start-up is most of it
        killed = run_visorch(log, env, ask, kill=at_time(moment))
        if not killed.killed:  # it finished first: that answer must be the baseline's
            _same_answer(killed.answer(), detector_baseline["answer"])
            continue
        resumed = run_visorch(log, env, ["ask", "--resume", "t", "--json", "--quiet"])
        if resumed.returncode == 1 and "has nothing to resume" in resumed.stderr:
            assert not killed.calls  # killed while starting, before its first checkpoint: no tool had run
            resumed = run_visorch(log, env, ask)  # so the question is asked again
        _same_answer(resumed.answer(), detector_baseline["answer"])
        assert repeated_calls(detector_baseline["calls"], killed.calls, resumed.calls) == 0, killed.stages


@pytest.mark.slow
@pytest.mark.timeout(3600)  # three planner calls: minutes on a quiet laptop, far more on a loaded machine
def test_sigkill_while_the_embedded_llm_plans_then_resume(tmp_path: Path) -> None:
    """A kill during the planner's LLM call (the real embedded LLM): the resumed run plans again and gives the
    uninterrupted run's answer; no tool had run, so none can repeat. Prefix states are off in both runs so
    each process evaluates the same prompt the same way (a restored state may round differently)."""
    weights = _offline_pack_or_skip()
    extra = {"VISORCH_LLM_PREFIX_STATES": "0", "VISORCH_AGENT__MAX_ROUNDS": "1"}
    question = ["ask", str(_bus()), "How many people are in the picture?", "--json", "--quiet"]
    baseline_env = _environment(tmp_path / "baseline", weights, llm=True, **extra)
    baseline = run_visorch(tmp_path / "baseline.jsonl", baseline_env, question)
    expected = baseline.answer()
    assert expected["timings"]["llm_calls"] >= 1
    planned = [line["t"] for line in read_log(tmp_path / "baseline.jsonl") if line["what"] == "plan"]
    env = _environment(tmp_path / "home", weights, llm=True, **extra)
    log = tmp_path / "calls.jsonl"
    into_the_call = 0.6 * (planned[1] - planned[0])  # past loading the model, while it writes the program
    killed = run_visorch(log, env, [*question, "--thread", "in-plan"], kill=at_begin("plan", delay=into_the_call))
    assert killed.killed and killed.stages == ["plan"] and not killed.calls
    resumed = run_visorch(log, env, ["ask", "--resume", "in-plan", "--json", "--quiet"])
    answer = resumed.answer()
    _same_answer(answer, expected)
    assert [program["source"] for program in answer["programs"]] == [p["source"] for p in expected["programs"]]
    assert repeated_calls(baseline.calls, killed.calls, resumed.calls) == 0
