"""Bad input found by trying visorch as a new user would: each case is a typed error or a sane result.

Covers issue 17's "fix first" list: declared ranges of numeric tool arguments, long EVAL chains,
.vp files with a BOM or invalid UTF-8, output paths that cannot be written, short quotes of long
values in errors, the missing-input message, and silent audio that must not become words.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import pytest
from typer.testing import CliRunner
from visorch.cli import app
from visorch.programs.errors import ExpressionError, ProgramValidationError, shorten_quotes
from visorch.programs.expression import MAX_INTEGER_BITS, parse_expression
from visorch.programs.parser import parse_program
from visorch.programs.registry import program_registry
from visorch.programs.validator import validate_program
from visorch.tools.cards import markdown_card, prompt_card
from visorch.tools.catalog import builtin_tools, model_tools
from visorch.tools.errors import ToolArgumentError
from visorch.tools.registry import Range, tool
from visorch.tools.types import ValueKind

ALL_TOOLS = program_registry([*builtin_tools(), *model_tools()])


def _issues(source: str) -> str:
    with pytest.raises(ProgramValidationError) as caught:
        validate_program(parse_program(source), ALL_TOOLS)
    return str(caught.value)


def _cli(*arguments: str, home: Path) -> object:
    runner = CliRunner()
    return runner.invoke(app, list(arguments), env={"VISORCH_HOME": str(home)}, catch_exceptions=False)


# --- numeric arguments: the range is declared once and checked everywhere -------------------------------


def test_every_numeric_argument_of_every_tool_declares_its_range() -> None:
    numeric = [(item.name, param) for item in ALL_TOOLS for param in item.spec.params if param.kind == ValueKind.NUMBER]
    assert len(numeric) >= 10
    for name, param in numeric:
        assert param.value_range is not None, f"{name}.{param.name} has no Range"
        label = param.value_range.label()
        assert label in prompt_card(ALL_TOOLS[name].spec), (name, param.name)
        assert label in markdown_card(ALL_TOOLS[name].spec), (name, param.name)


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("BOX0=LOC(image=IMAGE, object='person', min_score=-1)", "'min_score' must be 0 to 1; got -1"),
        ("BOX0=LOC(image=IMAGE, object='person', min_score=5)", "'min_score' must be 0 to 1; got 5"),
        ("BOX0=FIND(image=IMAGE, min_score=1.5)", "'min_score' must be 0 to 1; got 1.5"),
        ("IMAGE0=CROP(image=IMAGE, box=BOX9, margin=-5)", "'margin' must be 0 to 5; got -5"),
        ("IMAGE0=CROP(image=IMAGE, box=BOX9, index=-3)", "'index' must be at least -1; got -3"),
    ],
)
def test_out_of_range_literals_are_refused_by_check(line: str, fragment: str) -> None:
    setup = "BOX9=LOC(image=IMAGE, object='bus')\n" if "BOX9" in line else ""
    target = line.split("=", 1)[0]
    assert fragment in _issues(f"{setup}{line}\nFINAL=RESULT(var={target})\n")


def test_in_range_literals_pass_check() -> None:
    validate_program(
        parse_program(
            "BOX0=LOC(image=IMAGE, object='bus', min_score=0)\n"
            "IMAGE0=CROP(image=IMAGE, box=BOX0, index=-1, margin=0.25)\nFINAL=RESULT(var=IMAGE0)\n"
        ),
        ALL_TOOLS,
    )


@tool(name="SCALE", category="test", example="ANSWER0=SCALE(value=0.5)")
def _scale(value: Annotated[float, Range(0, 1), "a fraction"]) -> float:
    """Return the fraction given (a real tool with a declared range)."""
    return value


def test_run_time_values_outside_the_range_are_refused_by_the_tool() -> None:
    assert _scale.prepare_arguments({"value": 0.5}) == {"value": 0.5}
    with pytest.raises(ToolArgumentError, match="'value' must be 0 to 1; got -5"):
        _scale.prepare_arguments({"value": -5})


def test_a_range_on_a_non_number_is_a_definition_error() -> None:
    with pytest.raises(TypeError, match="has a Range but is not a number"):

        @tool(name="BAD", category="test", example="ANSWER0=BAD(text='a')")
        def _bad(text: Annotated[str, Range(0, 1), "text"]) -> str:
            """Not a number."""
            return text


def test_grammar_only_offers_literals_inside_the_range() -> None:
    import re

    from visorch.programs.grammar import program_regex

    pattern = re.compile(program_regex(ALL_TOOLS))
    assert pattern.fullmatch("BOX0=LOC(image=IMAGE, object='bus', min_score=0.5)\nFINAL=RESULT(var=BOX0)")
    assert not pattern.fullmatch("BOX0=LOC(image=IMAGE, object='bus', min_score=-1)\nFINAL=RESULT(var=BOX0)")
    assert not pattern.fullmatch("BOX0=LOC(image=IMAGE, object='bus', min_score=5)\nFINAL=RESULT(var=BOX0)")


# --- EVAL: long flat chains, big numbers, deep calls ------------------------------------------------------


def _eval_program(expression: str) -> str:
    return f'ANSWER0=EVAL(expr="{expression}")\nFINAL=RESULT(var=ANSWER0)\n'


def test_a_thousand_term_chain_checks_and_runs(builtin_runtime) -> None:
    source = _eval_program(" + ".join(["1"] * 1000))
    builtin_runtime.check(source, {})
    trace = builtin_runtime.run_program(source, {})
    assert trace.ok and trace.result == 1000


def test_a_huge_chain_is_refused_by_check_with_a_clear_message(builtin_runtime) -> None:
    source = _eval_program("+".join(["1"] * 500_001))
    with pytest.raises(ProgramValidationError, match="characters long; EVAL takes at most 10,000"):
        builtin_runtime.check(source, {})
    with pytest.raises(ProgramValidationError, match=r"parts .* EVAL takes at most 5,000"):
        builtin_runtime.check(_eval_program("+".join(["1"] * 4000)), {})


def test_products_of_large_numbers_fail_as_expression_errors(builtin_runtime) -> None:
    source = _eval_program(" * ".join(["99999999999999999999"] * 300))
    trace = builtin_runtime.run_program(source, {})
    assert not trace.ok and "number too large" in (trace.error or "")
    with pytest.raises(ExpressionError, match=f"more than {MAX_INTEGER_BITS} bits"):
        parse_expression("int(1e300) * int(1e300) * int(1e300) * int(1e300)").evaluate({})


def test_nested_calls_take_linear_time() -> None:
    expression = parse_expression("abs(" * 25 + "-1" + ")" * 25)
    started = time.process_time()
    assert expression.evaluate({}) == 1
    assert time.process_time() - started < 1.0  # it was 2**25 evaluations before


def test_number_literals_with_too_many_digits_are_syntax_errors() -> None:
    with pytest.raises(ExpressionError, match="too long"):
        parse_expression("9" * 5000)


# --- .vp files, output paths and messages (the command line) ----------------------------------------------


def test_a_byte_order_mark_is_stripped(tmp_path: Path) -> None:
    program = tmp_path / "bom.vp"
    program.write_text("BOX0=LOC(image=IMAGE, object='bus')\nFINAL=RESULT(var=BOX0)\n", encoding="utf-8-sig")
    assert program.read_bytes().startswith(b"\xef\xbb\xbf")
    result = _cli("check", str(program), home=tmp_path)
    assert result.exit_code == 0 and "valid, 2 steps" in result.stdout
    assert len(parse_program("\ufeffFINAL=RESULT(var=IMAGE)").steps) == 1


def test_invalid_utf8_is_one_clear_error(tmp_path: Path) -> None:
    program = tmp_path / "bad.vp"
    program.write_bytes(b"BOX0=LOC(image=IMAGE, object='b\xff\xfes')\nFINAL=RESULT(var=BOX0)\n")
    result = _cli("check", str(program), home=tmp_path)
    assert result.exit_code == 1
    assert "is not UTF-8 text (byte 0xff on line 1" in result.stderr and "internal error" not in result.stderr


@pytest.mark.parametrize("case", ["folder", "missing parent", "read-only"])
def test_unwritable_output_paths_fail_before_the_run(tmp_path: Path, bus_path: Path, case: str) -> None:
    read_only = tmp_path / "read-only"
    read_only.mkdir()
    (read_only / "trace.json").write_text("{}")
    os.chmod(read_only / "trace.json", 0o444)
    target = {"folder": tmp_path, "missing parent": tmp_path / "nope" / "t.json", "read-only": read_only / "trace.json"}
    if case == "read-only" and os.geteuid() == 0:
        target[case] = Path("/proc/visorch-trace.json")  # root may write any mode; /proc refuses new files
    result = _cli("run", "count_people", "--image", str(bus_path), "--json", str(target[case]), home=tmp_path)
    assert result.exit_code == 1 and "internal error" not in result.stderr
    assert "--json" in result.stderr and "LOC" not in result.stderr  # no step ran


def test_the_result_is_printed_even_when_the_trace_cannot_be_written(
    tmp_path: Path, bus_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from visorch.programs.trace import Trace

    def refuse(self: Trace, path: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Trace, "save_json", refuse)
    source = tmp_path / "count.vp"
    source.write_text("ANSWER0=EVAL(expr='2 + 2')\nFINAL=RESULT(var=ANSWER0)\n")
    result = _cli("run", str(source), "--json", str(tmp_path / "trace.json"), home=tmp_path)
    assert result.exit_code == 1
    assert result.stdout.strip() == "4"
    assert "could not be written (No space left on device)" in result.stderr


def test_a_library_program_without_its_image_says_so(tmp_path: Path) -> None:
    result = _cli("run", "count_people", home=tmp_path)
    assert result.exit_code == 1
    assert "this program needs --image" in result.stderr and "()" not in result.stderr


def test_long_arguments_are_quoted_cut_short(tmp_path: Path) -> None:
    program = tmp_path / "big.vp"
    program.write_text("BOX0=LOC(image=IMAGE, object='" + "x" * 1_000_000 + "', min_score=5)\nFINAL=RESULT(var=BOX0)\n")
    result = _cli("check", str(program), home=tmp_path)
    assert result.exit_code == 1 and "min_score" in result.stderr
    assert len(result.stderr) < 2_000
    assert shorten_quotes("no class for '" + "y" * 500 + "'").endswith("(440 more characters)'")


def test_check_refuses_a_huge_text_argument_that_run_would_only_fail_on() -> None:
    def program(name: str) -> str:
        return f"BOX0=LOC(image=IMAGE, object='{name}')\nFINAL=RESULT(var=BOX0)\n"

    too_long = r"'object' is 1,000,000 characters long, .*at most 10,000"
    with pytest.raises(ProgramValidationError, match=too_long) as caught:
        validate_program(parse_program(program("x" * 1_000_000)), ALL_TOOLS)
    assert len(str(caught.value)) < 1_000
    validate_program(parse_program(program("x" * 10_000)), ALL_TOOLS)


# --- silence is no speech --------------------------------------------------------------------------------


def _write_wav(path: Path, samples: np.ndarray) -> Path:
    import soundfile

    soundfile.write(str(path), samples, 16_000, subtype="PCM_16")
    return path


@pytest.mark.parametrize(("name", "level"), [("digital silence", 0.0), ("faint hiss", 1e-4)])
def test_ten_minutes_of_silence_is_empty_speech_with_a_note(tmp_path: Path, name: str, level: float) -> None:
    pytest.importorskip("faster_whisper")
    from visorch.config import VisorchSettings
    from visorch.runtime import Runtime

    samples = (np.random.default_rng(0).standard_normal(16_000 * 600) * level).astype(np.float32)
    audio = _write_wav(tmp_path / "silence.wav", samples)
    runtime = Runtime.create(VisorchSettings(home=tmp_path / "home"))
    try:
        if not runtime.context.models.has_installed("asr"):
            pytest.skip("no speech-recognition backend installed")
        inputs = runtime.load_inputs({}, {"AUDIO": audio}, None)
        started = time.process_time()
        trace = runtime.run_program("TEXT0=TRANSCRIBE(audio=AUDIO)\nFINAL=RESULT(var=TEXT0)\n", inputs)
        seconds = time.process_time() - started
    finally:
        runtime.close()
    assert trace.ok, trace.error
    transcript = trace.result
    assert transcript.text == "" and transcript.words == []
    assert transcript.notes and "no speech: the audio is silent" in transcript.notes[0]
    assert seconds < 20, f"{name}: {seconds:.1f} s CPU"  # the model is never run on silence


# --- file access: a program reads only its inputs and files under the allowed roots -------------------------


@pytest.fixture()
def rooted_runtime(tmp_path: Path, bus_path: Path):
    """A runtime whose only allowed root is tmp_path/root, holding a copy of bus.jpg and a symlink out."""
    from visorch.config import VisorchSettings
    from visorch.runtime import Runtime

    root = tmp_path / "root"
    (root / "inner").mkdir(parents=True)
    (root / "inner" / "bus.jpg").write_bytes(bus_path.read_bytes())
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(bus_path.read_bytes())
    (root / "link.jpg").symlink_to(outside)
    runtime = Runtime.create(
        VisorchSettings(home=tmp_path / "home", allowed_roots=[root]), tools=builtin_tools(), backends=[]
    )
    yield runtime, root
    runtime.close()


def _load(runtime, path: str, inputs: dict | None = None):
    source = f"IMAGE0=LOAD(path={path!r})\nFINAL=RESULT(var=IMAGE0)\n"
    return runtime.run_program(source, inputs or {})


def test_load_reads_files_under_the_allowed_roots(rooted_runtime) -> None:
    runtime, root = rooted_runtime
    assert _load(runtime, str(root / "inner" / "bus.jpg")).ok
    assert _load(runtime, str(root / "inner" / ".." / "inner" / "bus.jpg")).ok


@pytest.mark.parametrize(
    "path", ["/etc/passwd", "{root}/../outside.jpg", "{root}/inner/../../outside.jpg", "{root}/link.jpg", "~/.bashrc"]
)
def test_load_outside_the_roots_is_a_typed_refusal(rooted_runtime, path: str) -> None:
    runtime, root = rooted_runtime
    trace = _load(runtime, path.format(root=root))
    assert not trace.ok
    assert "a program may read only its inputs and files under the allowed roots" in (trace.error or "")


def test_load_may_read_the_inputs_it_was_given(rooted_runtime, bus_path: Path) -> None:
    runtime, _ = rooted_runtime
    assert not _load(runtime, str(bus_path)).ok  # not given yet, and outside the root
    inputs = runtime.load_inputs({"IMAGE": bus_path})
    assert _load(runtime, str(bus_path), inputs).ok
