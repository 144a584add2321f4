"""Bad-input figures: malformed images, audio, programs, file access and output paths through the CLI.

Run: nice -n 15 .venv/bin/python benchmarks/bad_inputs.py [--limit N] [--group images,audio,...]
     [--timeout 60] [--save out.json]
Goal (issue 17): every case is a typed error (exit 1 or 2, a message, no traceback) or, for a valid
input, a correct result; 0 crashes (exit 3 "internal error", a traceback or a signal), 0 hangs
(past --timeout), 0 made-up answers (exit 0 with a result for an input that cannot have one).

The corpus is made at run time in a temporary folder (nothing is committed); each case is one
``visorch run`` or ``visorch check`` subprocess with the offline weights and a temporary
VISORCH_HOME. Prints a table per group and the totals.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import time
import wave
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
VISORCH = ROOT / ".venv" / "bin" / "visorch"
SPEECH = ROOT.parent / "shared" / "data" / "speech" / "cards"
GROUPS = ("images", "audio", "programs", "files", "cli")
KINDS = ("typed error", "ok", "refused valid", "crash", "hang", "made-up answer")
FAILURES = ("refused valid", "crash", "hang", "made-up answer")
LONG_MESSAGE = 2_000  # characters of stderr past which a message is noisy (a 1 MB value echoed)

COUNT_PEOPLE = "BOX0=LOC(image=IMAGE, object='person')\nANSWER0=COUNT(box=BOX0)\nFINAL=RESULT(var=ANSWER0)\n"
TRANSCRIBE = "TEXT0=TRANSCRIBE(audio=AUDIO)\nFINAL=RESULT(var=TEXT0)\n"
TWO_PLUS_TWO = "ANSWER0=EVAL(expr='2 + 2')\nFINAL=RESULT(var=ANSWER0)\n"


def _is_count(stdout: str) -> bool:
    return stdout.strip().isdigit()


def _is_no_text(stdout: str) -> bool:
    return stdout.strip() in ("", "no text found")


def _is_empty_speech(stdout: str) -> bool:
    """Silence is empty speech: nothing printed, or a transcript that heard "" (a note may follow)."""
    text = stdout.strip()
    return not text or re.match(r'^transcript heard: ""(\s|$)', text) is not None


@dataclass
class Case:
    """One bad (or valid but awkward) input and what must happen to it."""

    group: str
    name: str
    arguments: list[str]
    expect: str  # "error": must be a typed error; "ok": must succeed (and pass ``valid``); "either": no crash
    valid: Callable[[str], bool] | None = None


@dataclass
class Outcome:
    """What one case did."""

    group: str
    name: str
    command: str
    kind: str
    exit_code: int | None
    seconds: float
    message: str
    stderr_chars: int
    stdout_head: str = ""
    notes: list[str] = field(default_factory=list)


# --- the corpus ---------------------------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _bomb_png(width: int, height: int) -> bytes:
    """A real 1-bit PNG of ``width`` x ``height`` black pixels: a few kB that decode to gigapixels."""
    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", body) + _png_chunk(b"IEND", b"")


def _write_wav(path: Path, samples: np.ndarray, rate: int = 16_000) -> Path:
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(samples.astype("<i2").tobytes())
    return path


def bus_image() -> Path:
    """ultralytics' bus.jpg, found without importing ultralytics."""
    import importlib.util

    spec = importlib.util.find_spec("ultralytics")
    if spec is None or spec.origin is None:
        raise SystemExit("ultralytics is not installed: bus.jpg is the valid image of every case")
    return Path(spec.origin).parent / "assets" / "bus.jpg"


def image_cases(folder: Path, bus: Path) -> list[Case]:
    """Malformed images given as --image to count_people, and valid odd ones that must work."""
    folder.mkdir(parents=True, exist_ok=True)
    data = bus.read_bytes()
    files: dict[str, tuple[bytes | Callable[[Path], None], str]] = {
        "empty.jpg": (b"", "error"),
        "truncated.jpg": (data[: len(data) // 3], "error"),
        "text.jpg": (b"this is not an image, just text named .jpg\n" * 20, "error"),
        "garbage.png": (b"\x89PNG\r\n\x1a\n" + os.urandom(4096), "error"),
        "bomb.png": (_bomb_png(20_000, 20_000), "error"),
        "one-pixel.png": (lambda path: Image.new("RGB", (1, 1), (200, 30, 30)).save(path), "ok"),
        "cmyk.jpg": (lambda path: Image.open(bus).convert("CMYK").save(path), "ok"),
        "sixteen-bit.png": (
            lambda path: Image.fromarray(np.asarray(Image.open(bus).convert("L"), dtype=np.uint16) * 257).save(path),
            "ok",
        ),
        "palette.png": (lambda path: Image.open(bus).convert("P", palette=Image.Palette.ADAPTIVE).save(path), "ok"),
        "rgba.png": (lambda path: Image.open(bus).convert("RGBA").save(path), "ok"),
        "animated.gif": (
            lambda path: Image.open(bus).save(path, save_all=True, append_images=[Image.open(bus).rotate(5)]),
            "ok",
        ),
        "png-named.jpg": (lambda path: Image.open(bus).save(path, format="PNG"), "ok"),
        "header-only-huge.png": (_bomb_png(100_000, 100_000)[:33], "error"),
    }
    cases = []
    for name, (content, expect) in files.items():
        path = folder / name
        if callable(content):
            content(path)
        else:
            path.write_bytes(content)
        cases.append(
            Case(
                "images",
                name,
                ["run", "count_people", "--image", str(path), "--quiet"],
                expect,
                _is_count if expect == "ok" else None,
            )
        )
    # Blank photos: a count or a text from them would be made up.
    Image.new("RGB", (640, 480), "black").save(folder / "black.png")
    Image.new("RGB", (640, 480), "white").save(folder / "white.png")
    black = ["run", "count_people", "--image", str(folder / "black.png"), "--quiet"]
    cases.append(Case("images", "black.png (count)", black, "ok", lambda stdout: stdout.strip() == "0"))
    white = ["run", "read_text", "--image", str(folder / "white.png"), "--quiet"]
    cases.append(Case("images", "white.png (OCR)", white, "ok", _is_no_text))
    os.mkfifo(folder / "fifo.jpg")
    for name, path in (("a FIFO", folder / "fifo.jpg"), ("/dev/zero", Path("/dev/zero"))):
        cases.append(Case("images", f"{name} as image", ["run", "count_people", "--image", str(path)], "error"))
    cases.append(Case("images", "missing path", ["run", "count_people", "--image", str(folder / "nope.jpg")], "error"))
    cases.append(Case("images", "a folder as image", ["run", "count_people", "--image", str(folder)], "error"))
    return cases


def audio_cases(folder: Path, bus: Path) -> list[Case]:
    """Malformed audio given as --audio to TRANSCRIBE, and ten minutes of silence (empty speech)."""
    folder.mkdir(parents=True, exist_ok=True)
    program = folder / "transcribe.vp"
    program.write_text(TRANSCRIBE)
    (folder / "empty.wav").write_bytes(b"")
    (folder / "garbage.wav").write_bytes(os.urandom(64_000))
    _write_wav(folder / "no-samples.wav", np.zeros(0))
    _write_wav(folder / "silence-10min.wav", np.zeros(16_000 * 600))
    (folder / "text.wav").write_text("this is not audio, just text named .wav\n" * 20)
    hiss = np.random.default_rng(0).standard_normal(16_000 * 600) * 3  # about -80 dBFS
    _write_wav(folder / "hiss-10min.wav", hiss)
    noise = np.random.default_rng(1).standard_normal(16_000 * 30) * 300  # white noise at about -40 dBFS
    _write_wav(folder / "noise-30s.wav", noise)
    expectations = {
        "empty.wav": "error",
        "garbage.wav": "error",
        "no-samples.wav": "error",
        "text.wav": "error",
        "/dev/zero": "error",
    }
    cases = [
        Case("audio", name, ["run", str(program), "--audio", str(folder / name), "--quiet"], expect)
        for name, expect in expectations.items()
    ]
    for name in ("silence-10min.wav", "hiss-10min.wav", "noise-30s.wav"):
        arguments = ["run", str(program), "--audio", str(folder / name), "--quiet"]
        cases.append(Case("audio", name, arguments, "ok", _is_empty_speech))
    speech = SPEECH / "001.wav"  # "ten of clubs", 16 kHz mono: resampled to 44.1 kHz stereo it must still be heard
    if speech.exists():
        with wave.open(str(speech)) as source:
            samples = np.frombuffer(source.readframes(source.getnframes()), dtype="<i2").astype(np.float64)
        stretched = np.interp(np.arange(0, len(samples), 16_000 / 44_100), np.arange(len(samples)), samples)
        with wave.open(str(folder / "speech-stereo-44k.wav"), "wb") as handle:
            handle.setnchannels(2)
            handle.setsampwidth(2)
            handle.setframerate(44_100)
            handle.writeframes(np.repeat(stretched, 2).astype("<i2").tobytes())
        arguments = ["run", str(program), "--audio", str(folder / "speech-stereo-44k.wav"), "--quiet"]
        cases.append(Case("audio", "speech, stereo 44.1 kHz", arguments, "ok", lambda out: "clubs" in out.lower()))
    return cases


def program_cases(folder: Path, bus: Path) -> list[Case]:
    """Broken programs, each through ``visorch check`` and ``visorch run`` (with bus.jpg)."""
    folder.mkdir(parents=True, exist_ok=True)
    sources: dict[str, tuple[bytes, str]] = {
        "syntax error": (b"BOX0=LOC(image=IMAGE, object='person'\nFINAL=RESULT(var=BOX0)\n", "error"),
        "invalid UTF-8": (b"BOX0=LOC(image=IMAGE, object='b\xff\xfes')\nFINAL=RESULT(var=BOX0)\n", "error"),
        "UTF-8 BOM": (b"\xef\xbb\xbf" + COUNT_PEOPLE.encode(), "ok"),
        "unknown tool": (b"BOX0=LOCATE(image=IMAGE, object='person')\nFINAL=RESULT(var=BOX0)\n", "error"),
        "unknown argument": (
            b"BOX0=LOC(image=IMAGE, object='person', colour='red')\nFINAL=RESULT(var=BOX0)\n",
            "error",
        ),
        "min_score=-1": (COUNT_PEOPLE.replace("'person')", "'person', min_score=-1)").encode(), "error"),
        "min_score=5": (COUNT_PEOPLE.replace("'person')", "'person', min_score=5)").encode(), "error"),
        "margin=-5": (
            b"BOX0=LOC(image=IMAGE, object='bus')\nIMAGE0=CROP(image=IMAGE, box=BOX0, margin=-5)\n"
            b"FINAL=RESULT(var=IMAGE0)\n",
            "error",
        ),
        "undefined variable": (b"ANSWER0=COUNT(box=BOX9)\nFINAL=RESULT(var=ANSWER0)\n", "error"),
        "EVAL of 500,001 terms": (
            ("ANSWER0=EVAL(expr='" + "+".join(["1"] * 500_001) + "')\nFINAL=RESULT(var=ANSWER0)\n").encode(),
            "error",
        ),
        "empty file": (b"", "error"),
        "only a comment": (b"# nothing to do\n", "error"),
        "a NUL byte": (b"ANSWER0=EVAL(expr='1')\x00\nFINAL=RESULT(var=ANSWER0)\n", "error"),
        "EVAL nested 4,990 deep": (
            ("ANSWER0=EVAL(expr='" + "(" * 4_990 + "1" + ")" * 4_990 + "')\nFINAL=RESULT(var=ANSWER0)\n").encode(),
            "error",
        ),
        "EVAL of 1,000 terms (valid)": (
            ("ANSWER0=EVAL(expr='" + " + ".join(["1"] * 1_000) + "')\nFINAL=RESULT(var=ANSWER0)\n").encode(),
            "ok",
        ),
        "1 MB string argument": (
            (
                "BOX0=LOC(image=IMAGE, object='"
                + "x" * 1_000_000
                + "')\nANSWER0=COUNT(box=BOX0)\nFINAL=RESULT(var=ANSWER0)\n"
            ).encode(),
            "error",
        ),
    }
    cases = []
    for index, (name, (source, expect)) in enumerate(sources.items()):
        path = folder / f"program-{index}.vp"
        path.write_bytes(source)
        cases.append(Case("programs", f"check: {name}", ["check", str(path)], expect))
        run = ["run", str(path), "--image", str(bus), "--quiet"]
        cases.append(Case("programs", f"run: {name}", run, expect, _is_count if expect == "ok" else None))
    for name, path in (("a folder", folder), ("a missing file", folder / "nope.vp")):
        cases.append(Case("programs", f"run: {name} as the program", ["run", str(path)], "error"))
    cases.append(Case("programs", "run: library program without --image", ["run", "count_people"], "error"))
    return cases


def file_cases(folder: Path, bus: Path) -> list[Case]:
    """``LOAD`` of files that are not the program's inputs nor under the allowed roots (none here)."""
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / "link-to-passwd.jpg"
    link.symlink_to("/etc/passwd")
    outside = folder / "outside.jpg"
    outside.write_bytes(bus.read_bytes())
    image_link = folder / "link-to-bus.jpg"
    image_link.symlink_to(outside)
    paths = {
        "/etc/passwd": "/etc/passwd",
        "../ to /etc/passwd": "../" * 24 + "etc/passwd",
        "../ out of a folder": f"{folder}/sub/../outside.jpg",
        "absolute path outside the roots": str(outside),
        "symlink to /etc/passwd": str(link),
        "symlink to an image outside the roots": str(image_link),
    }
    cases = []
    for index, (name, path) in enumerate(paths.items()):
        program = folder / f"load-{index}.vp"
        program.write_text(
            f"IMAGE1=LOAD(path='{path}')\nBOX0=LOC(image=IMAGE1, object='person')\n"
            "ANSWER0=COUNT(box=BOX0)\nFINAL=RESULT(var=ANSWER0)\n"
        )
        cases.append(Case("files", f"LOAD {name}", ["run", str(program), "--image", str(bus), "--quiet"], "error"))
    own = folder / "load-input.vp"
    own.write_text(f"IMAGE1=LOAD(path='{bus}')\n" + COUNT_PEOPLE.replace("image=IMAGE", "image=IMAGE1"))
    cases.append(
        Case(
            "files", "LOAD of its own input (valid)", ["run", str(own), "--image", str(bus), "--quiet"], "ok", _is_count
        )
    )
    return cases


def cli_cases(folder: Path, bus: Path) -> list[Case]:
    """``--json`` / ``--html`` where no file can be written: refused before the run."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        read_only = Path("/sys/visorch-trace")  # root may write any mode; sysfs refuses new files
    else:
        locked = folder / "read-only"
        locked.mkdir()
        locked.chmod(0o555)
        read_only = locked / "trace"
    places = {"a folder": folder, "a missing parent": folder / "nope" / "trace", "a read-only location": read_only}
    cases = []
    for option in ("--json", "--html"):
        for name, place in places.items():
            target = place if place == folder else place.with_suffix("." + option.lstrip("-"))
            run = ["run", "count_people", "--image", str(bus), option, str(target)]
            cases.append(Case("cli", f"{option} into {name}", run, "error"))
    return cases


MAKERS = {"images": image_cases, "audio": audio_cases, "programs": program_cases, "files": file_cases, "cli": cli_cases}


# --- running and classifying -------------------------------------------------------------------------


def classify(case: Case, exit_code: int | None, stdout: str, stderr: str) -> tuple[str, list[str]]:
    """The kind of outcome: typed error, ok, refused valid, crash, hang or made-up answer."""
    notes = []
    if len(stderr) > LONG_MESSAGE:
        notes.append(f"stderr is {len(stderr):,} characters")
    if exit_code is None:
        return "hang", notes
    if exit_code < 0 or exit_code == 3 or "Traceback (most recent call last)" in stderr or "internal error" in stderr:
        return "crash", notes
    if exit_code in (1, 2):
        if not stderr.strip():
            notes.append("no message")
        return ("refused valid" if case.expect == "ok" else "typed error"), notes
    if exit_code == 0:
        if case.expect == "error":
            return "made-up answer", notes
        if case.valid is not None and not case.valid(stdout):
            notes.append("the result does not fit the input")
            return "made-up answer", notes
        return "ok", notes
    notes.append(f"unexpected exit code {exit_code}")
    return "crash", notes


def run_case(case: Case, environment: dict[str, str], timeout: float) -> Outcome:
    """Run one case as a ``visorch`` subprocess and classify what it did."""
    command = [str(VISORCH), *case.arguments]
    started = time.perf_counter()
    try:
        finished = subprocess.run(
            command, capture_output=True, text=True, errors="replace", env=environment, timeout=timeout
        )
        exit_code, stdout, stderr = finished.returncode, finished.stdout, finished.stderr
    except subprocess.TimeoutExpired as expired:
        exit_code = None
        stdout = (
            (expired.stdout or b"").decode(errors="replace")
            if isinstance(expired.stdout, bytes)
            else expired.stdout or ""
        )
        stderr = (
            (expired.stderr or b"").decode(errors="replace")
            if isinstance(expired.stderr, bytes)
            else expired.stderr or ""
        )
    seconds = time.perf_counter() - started
    kind, notes = classify(case, exit_code, stdout, stderr)
    message = next((line.strip() for line in stderr.splitlines() if line.strip().startswith("error")), "")
    message = message or next((line.strip() for line in stderr.splitlines() if line.strip()), "")
    shown = " ".join(
        argument if len(argument) < 120 else argument[:60] + "..." for argument in ["visorch", *case.arguments]
    )
    return Outcome(
        case.group,
        case.name,
        shown,
        kind,
        exit_code,
        round(seconds, 2),
        message[:300],
        len(stderr),
        stdout.strip()[:200],
        notes,
    )


def print_table(title: str, outcomes: list[Outcome]) -> None:
    """One row per group (or the totals): how many cases ended as each kind."""
    counts = {kind: sum(outcome.kind == kind for outcome in outcomes) for kind in KINDS}
    noisy = sum(bool(outcome.notes and "characters" in outcome.notes[0]) for outcome in outcomes)
    row = [title, str(len(outcomes)), *(str(counts[kind]) for kind in KINDS), str(noisy)]
    print(" | ".join(f"{cell:>{width}}" for cell, width in zip(row, WIDTHS, strict=True)))


HEADER = ["group", "cases", *KINDS, f"stderr>{LONG_MESSAGE // 1000}k"]
WIDTHS = [8, 5, 11, 3, 13, 5, 4, 14, 9]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--group", default=",".join(GROUPS), help=f"comma-separated, from {', '.join(GROUPS)}")
    parser.add_argument("--limit", type=int, default=0, help="run at most N cases per group (0: all)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds before a case counts as a hang")
    parser.add_argument("--save", type=Path, help="write every outcome as JSON here")
    parser.add_argument("--verbose", action="store_true", help="print every case as it ends")
    options = parser.parse_args()
    groups = [group.strip() for group in options.group.split(",") if group.strip()]
    unknown = sorted(set(groups) - set(GROUPS))
    if unknown:
        parser.error(f"unknown group(s) {', '.join(unknown)}; choose from {', '.join(GROUPS)}")
    bus = bus_image()
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="visorch-bad-inputs-") as scratch:
        folder = Path(scratch)
        environment = {
            **os.environ,
            "VISORCH_HOME": str(folder / "home"),
            "VISORCH_WEIGHTS_DIR": os.environ.get("VISORCH_WEIGHTS_DIR", str(Path.home() / ".cache/visorch/weights")),
            "VISORCH_ALLOWED_ROOTS": "[]",
            "NO_COLOR": "1",
            "COLUMNS": "200",
        }
        for group in groups:
            cases = MAKERS[group](folder / group, bus)
            for case in cases[: options.limit or None]:
                outcome = run_case(case, environment, options.timeout)
                outcomes.append(outcome)
                if options.verbose or outcome.kind in FAILURES:
                    ended = f"exit {outcome.exit_code}, {outcome.seconds:.1f} s"
                    print(f"  {outcome.kind:>14}  {group}: {case.name} ({ended}) {outcome.message[:120]}", flush=True)
    print(" | ".join(f"{cell:>{width}}" for cell, width in zip(HEADER, WIDTHS, strict=True)))
    for group in groups:
        print_table(group, [outcome for outcome in outcomes if outcome.group == group])
    print_table("total", outcomes)
    failures = [outcome for outcome in outcomes if outcome.kind in FAILURES]
    for outcome in failures:
        print(f"FAILED {outcome.kind}: {outcome.group}: {outcome.name}\n  {outcome.command}\n  {outcome.message}")
    if options.save:
        options.save.write_text(json.dumps([asdict(outcome) for outcome in outcomes], indent=1))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
