"""``visorch correct``: the correction from the shell (text from an argument, a file or stdin; JSONL batches)."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

from visorch.correction.api import Corrector
from visorch.correction.config import CorrectionConfig
from visorch.correction.result import Correction
from visorch.tools.errors import InputError


def read_text(text: str | None, text_file: Path | None) -> str:
    """The text to correct: the argument, the file, or stdin ('-' or nothing given)."""
    if text_file is not None:
        try:
            return text_file.read_text(encoding="utf-8")
        except OSError as error:
            raise InputError(f"cannot read the text file {text_file}: {error.strerror}") from None
    if text is None or text == "-":
        if sys.stdin.isatty():
            raise InputError("give the text to correct as an argument, with --text-file, or on stdin")
        return sys.stdin.read()
    return text


def read_batch(path: Path) -> Iterator[tuple[int, Path, str, str]]:
    """(line number, image, text, id) for each line of a JSONL batch: {"image": ..., "text": ..., "id": ...}."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise InputError(f"cannot read the batch file {path}: {error.strerror}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            image, text = item["image"], item["text"]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise InputError(f"{path}:{number}: each line must be JSON with 'image' and 'text'") from None
        image_path = Path(image) if Path(image).is_absolute() else path.parent / image
        yield number, image_path, str(text), str(item.get("id", number))


def caption_of(corrector: Corrector, image: Path) -> str:
    """The installed CAPTION model's caption of ``image`` (e.g. a configured VLM), to be corrected."""
    runtime = corrector.runtime
    trace = runtime.run_program(
        "ANSWER0=CAPTION(image=IMAGE)\nFINAL=RESULT(var=ANSWER0)", runtime.load_inputs({"IMAGE": image})
    )
    if not trace.ok:
        raise InputError(f"could not caption the image: {trace.error}")
    return str(trace.result)


def record(correction: Correction, identifier: str | None = None) -> dict[str, object]:
    """A correction as JSON-ready data (no pixels)."""
    data = correction.model_dump(mode="json", exclude={"image"})
    data["image"] = correction.image.path or correction.image.sha256
    if identifier is not None:
        data = {"id": identifier, **data}
    return data


def run_correct(
    image: Path | None,
    text: str | None,
    text_file: Path | None,
    batch: Path | None,
    json_output: bool,
    html: Path | None,
    rules: bool,
    caption: bool = False,
) -> list[Correction]:
    """What ``visorch correct`` does; prints to stdout and returns the corrections."""
    config = CorrectionConfig(concepts="lexical", rewrite="rules") if rules else CorrectionConfig()
    results: list[Correction] = []
    out = sys.stdout
    # libraries that print while loading (efficientnet's 'Loaded pretrained weights') must not break the JSONL
    with contextlib.redirect_stdout(sys.stderr), Corrector(config=config) as corrector:
        if batch is not None:
            for _, image_path, item_text, identifier in read_batch(batch):
                correction = corrector.correct(image_path, item_text)
                results.append(correction)
                out.write(json.dumps(record(correction, identifier)) + "\n")
                if html is not None:
                    html.mkdir(parents=True, exist_ok=True)
                    correction.save_html(html / f"{identifier}.html")
            return results
        if image is None:
            raise InputError("give an image (or --batch FILE.jsonl)")
        given = caption_of(corrector, image) if caption else read_text(text, text_file)
        correction = corrector.correct(image, given)
        results.append(correction)
        if html is not None:
            correction.save_html(html)
        if json_output:
            out.write(json.dumps(record(correction), indent=2) + "\n")
        else:
            out.write(correction.to_text() + "\n")
    return results
