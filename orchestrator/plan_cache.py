"""A plan cache: programs that answered, kept as templates, so a matching question needs no planner.

A template is the question with its slots (the object names, colours or words the program quotes
as arguments: ``LOC(object='bus')`` for "... the bus ...") and the program with the same slots.
A new question that matches a template's pattern, with the same kinds of inputs, gets the program
with its own words filled in; the agent then validates it like any planned program, and falls back
to the planner when it is invalid or when nothing matches. Agentic Plan Caching (arXiv 2506.14852)
is the idea; here templates come from the programs themselves, with no LLM to extract them.

The cache is one JSON file in the user cache dir, keyed by a fingerprint of the tools offered to the
planner: when the registry changes (a tool added, removed or its card changed) the file is dropped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from visorch.tools.cards import prompt_text
from visorch.tools.registry import ToolRegistry
from visorch.tools.vocabulary import singular

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
MAX_SLOT_WORDS = 3
MIN_FIXED_WORDS = 2
"""A pattern needs at least this many words outside its slots (so 'X?' does not match everything)."""
_ARGUMENT_STRING = re.compile(r"""=\s*(['"])([^'"\n]{1,60})\1""")


def registry_fingerprint(registry: ToolRegistry) -> str:
    """A hash of the tool cards offered to the planner: any change to the tools changes it."""
    cards = prompt_text((item.spec for item in registry), compact=False)
    return hashlib.sha256(f"{FORMAT_VERSION}\n{cards}".encode()).hexdigest()[:16]


def _words(text: str) -> list[str]:
    """Lower-case words, with 'an' read as 'a' (so "Is there an apple" fits "Is there a cat")."""
    return ["a" if word == "an" else word for word in re.findall(r"[a-z0-9]+", text.lower())]


@dataclass(frozen=True)
class PlanTemplate:
    """A question pattern (words, with ``{0}``, ``{1}`` slots) and the program with the same slots."""

    pattern: list[str]
    """The question's words; a slot is the word '{i}'."""
    inputs: list[str]
    """The input names the question came with (IMAGE, AUDIO, ...), sorted."""
    program: str
    """The program with each slot's argument written as '{i}'."""
    slot_forms: list[str]
    """Per slot: 'same' (the argument is the question's words) or 'singular' (their singular)."""


def make_template(question: str, program: str, inputs: list[str]) -> PlanTemplate:
    """The template of one answered question: each quoted argument found in the question becomes a slot."""
    words = _words(question)
    pattern = list(words)
    slot_forms: list[str] = []
    slots: dict[str, int] = {}
    templated = program
    for match in _ARGUMENT_STRING.finditer(program):
        value = match.group(2)
        value_words = _words(value)
        if not value_words or len(value_words) > MAX_SLOT_WORDS or " ".join(value_words) != value.strip().lower():
            continue
        slot = slots.get(" ".join(value_words))
        if slot is None:
            found = _find(pattern, value_words)
            if found is None:
                continue
            start, form = found
            slot = slots[" ".join(value_words)] = len(slot_forms)
            pattern[start : start + len(value_words)] = [f"{{{slot}}}"]
            slot_forms.append(form)
        templated = templated.replace(match.group(0), f"={match.group(1)}{{{slot}}}{match.group(1)}", 1)
    return PlanTemplate(pattern=pattern, inputs=sorted(inputs), program=templated, slot_forms=slot_forms)


def _find(words: list[str], value: list[str]) -> tuple[int, str] | None:
    """Where ``value`` occurs in ``words`` as is ('same') or as a plural of it ('singular')."""
    size = len(value)
    for start in range(len(words) - size + 1):
        window = words[start : start + size]
        if any(word.startswith("{") for word in window):
            continue
        if window == value:
            return start, "same"
        if singular(" ".join(window)) == singular(" ".join(value)):
            return start, "singular"
    return None


def fill_template(template: PlanTemplate, question: str, inputs: list[str]) -> str | None:
    """The template's program for ``question`` when it matches the pattern (None when it does not)."""
    if sorted(inputs) != template.inputs:
        return None
    slots = len(template.slot_forms)
    if sum(1 for word in template.pattern if not word.startswith("{")) < MIN_FIXED_WORDS and slots:
        return None
    slot_words = rf"[a-z0-9]+(?:\s[a-z0-9]+){{0,{MAX_SLOT_WORDS - 1}}}"
    # Named groups: the slots' order in the question need not be their order in the program.
    regex = r"\s".join(
        rf"(?P<slot{word[1:-1]}>{slot_words})" if word.startswith("{") else re.escape(word) for word in template.pattern
    )
    match = re.fullmatch(regex, " ".join(_words(question)))
    if match is None:
        return None
    program = template.program
    for slot, form in enumerate(template.slot_forms):
        value = match.group(f"slot{slot}")
        if form == "singular":
            value = singular(value)
        program = program.replace(f"'{{{slot}}}'", f"'{value}'").replace(f'"{{{slot}}}"', f'"{value}"')
    return program


class PlanCache:
    """Templates of programs that answered, stored in one JSON file, dropped when the registry changes."""

    def __init__(self, path: Path, registry: ToolRegistry, max_templates: int = 500) -> None:
        self.path = path
        self.fingerprint = registry_fingerprint(registry)
        self.max_templates = max_templates
        self._lock = threading.Lock()
        self._templates: list[PlanTemplate] = self._read()

    def __len__(self) -> int:
        return len(self._templates)

    def _read(self) -> list[PlanTemplate]:
        if not self.path.is_file():
            return []
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("registry") != self.fingerprint:
                logger.info("plan cache %s was made for other tools; dropped", self.path)
                self.path.unlink(missing_ok=True)
                return []
            return [PlanTemplate(**item) for item in data["templates"]]
        except (OSError, ValueError, TypeError, KeyError) as error:
            logger.warning("plan cache %s is unreadable (%s); starting an empty one", self.path, error)
            return []

    def lookup(self, question: str, inputs: list[str]) -> str | None:
        """A program for ``question`` from a matching template (the one with fewest slots), or None."""
        with self._lock:
            candidates = sorted(self._templates, key=lambda t: len(t.slot_forms))
        for template in candidates:
            program = fill_template(template, question, inputs)
            if program is not None:
                return program
        return None

    def store(self, question: str, program: str, inputs: list[str]) -> PlanTemplate:
        """Remember ``program`` as the answer to questions shaped like ``question`` (newest wins)."""
        template = make_template(question, program, inputs)
        with self._lock:
            kept = [t for t in self._templates if (t.pattern, t.inputs) != (template.pattern, template.inputs)]
            self._templates = [*kept, template][-self.max_templates :]
            self._write()
        return template

    def _write(self) -> None:
        data = {"registry": self.fingerprint, "templates": [asdict(t) for t in self._templates]}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".plan-cache-", suffix=".json")
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(data, file, indent=1)
        os.replace(temporary, self.path)
