"""Stage 4, claims: a knowledge base of visual facts with boxes, and a verdict for every claim of the text."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from visorch.correction.config import CorrectionConfig
from visorch.correction.types import Claim, ClaimKind, ClaimVerdict, Concept, NormalisedBox
from visorch.correction.validation import Findings, StepAnswer, ocr_text
from visorch.correction.vocabulary import COLOUR_WORDS
from visorch.tools.detections import Detections
from visorch.tools.quoting import quote_text
from visorch.tools.vocabulary import normalise


def _plural(name: str, count: int) -> str:
    if count == 1:
        return name
    if name == "person":
        return "people"
    return name + ("es" if name.endswith(("s", "sh", "ch", "x")) else "s")


def knowledge_base(concepts: list[Concept], findings: Findings) -> list[str]:
    """Woodpecker's visual knowledge base: counts with boxes, colours, text read, unknown objects."""
    lines = []
    seen: set[str] = set()
    for concept in concepts:
        key = concept.detector_class or concept.name
        if key in seen:
            continue
        seen.add(key)
        detection = findings.detections.get(concept.name)
        if detection is None or not detection.ok:
            reason = detection.error if detection is not None else "no installed detector knows it"
            lines.append(f"Cannot tell whether there is a {concept.name}: {reason}.")
            continue
        boxes = findings.boxes.get(concept.name, [])
        look = findings.second_look.get(concept.name)
        if look is not None and look.verdict == "uncertain":
            lines.append(f"Cannot tell whether there is a {key}: the detectors are unsure.")
            continue
        if look is not None and look.verdict == "present" and not boxes:
            lines.append(f"There is a {key} (not localised).")
            continue
        if not boxes:
            lines.append(f"There is no {key}.")
            continue
        parts = "; ".join(f"{key} {i + 1} {box.inline()}" for i, box in enumerate(boxes))
        verb = "is" if len(boxes) == 1 else "are"
        lines.append(f"There {verb} {len(boxes)} {_plural(key, len(boxes))}. {parts}.")
    for concept in concepts:
        colour = findings.colours.get(concept.name)
        if colour is not None and colour.ok and findings.boxes.get(concept.name):
            lines.append(f"The {concept.name} {findings.boxes[concept.name][0].inline()} is {colour.value} (COLOR).")
        vqa = findings.vqa_colours.get(concept.name)
        if vqa is not None and vqa.ok:
            lines.append(f"VQA says the {concept.name} is {vqa.value}.")
        text = findings.texts.get(concept.name)
        if text is not None and text.ok:
            read = ocr_text(text.value)
            where = f"on the {concept.name}" if concept.name in findings.boxes else "in the image"
            lines.append(f"The text {where} reads {quote_text(read)}." if read else f"No text is readable {where}.")
    return lines


SURE_COUNT = 0.7
"""A count found only on the second look corrects the text only when its calibrated probability is this high."""


def _counted(boxes: list[NormalisedBox], min_score: float) -> int:
    return max(1, sum(1 for box in boxes if box.score is None or box.score >= min_score))


@dataclass(frozen=True)
class _Statement:
    """One statement of the text about one concept; :meth:`verdict` makes its claim."""

    concept: str
    kind: ClaimKind
    text: str

    def verdict(
        self,
        verdict: ClaimVerdict,
        finding: str,
        steps: Sequence[str] = (),
        boxes: Sequence[NormalisedBox] = (),
        fix: str | None = None,
        cross_check: str | None = None,
    ) -> Claim:
        return Claim(
            id="",
            concept=self.concept,
            kind=self.kind,
            statement=self.text,
            verdict=verdict,
            finding=finding,
            fix=fix,
            steps=list(steps),
            boxes=list(boxes),
            cross_check=cross_check,
        )


def _existence(concept: Concept, findings: Findings, config: CorrectionConfig) -> Claim:
    detection = findings.detections.get(concept.name)
    said = _Statement(concept.name, "existence", f"there is a {concept.name}")
    if detection is None:
        return said.verdict("unverified", f"no installed detector knows '{concept.name}'")
    if not detection.ok:
        return said.verdict("unverified", f"the detector could not check it: {detection.error}", [detection.step])
    boxes = findings.boxes.get(concept.name, [])
    look = findings.second_look.get(concept.name)
    if look is not None:
        first = f"no {concept.detector_class} box at score >= {config.existence_min_score:.2f}; looked again: "
        if concept.name in findings.rechecked:
            weak = findings.rechecked[concept.name]
            first = f"best {concept.detector_class} box {weak:.2f} is below {config.recheck_below:.2f}; looked again: "
        finding = first + look.describe(concept.detector_class or concept.name)
        verdicts: dict[str, ClaimVerdict] = {"present": "supported", "absent": "removed", "uncertain": "unverified"}
        return said.verdict(verdicts[look.verdict], finding, [detection.step], look.boxes or boxes)
    opinion = findings.second_opinion.get(concept.name)
    if opinion is not None:
        backend, score = opinion
        finding = f"best box {findings.unsure[concept.name][0].score} is unsure; {backend} says {score:.2f}"
        return said.verdict("supported" if boxes else "removed", finding, [detection.step], boxes)
    if not boxes:
        best = _best_score(detection)
        below = f" (best box {best:.2f})" if best is not None else ""
        finding = (f"no {concept.detector_class or concept.name} found at score >= "
                   f"{config.existence_min_score:.2f}{below}")  # fmt: skip
        return said.verdict("removed", finding, [detection.step])
    finding = f"{len(boxes)} {concept.detector_class or concept.name} box(es), best {boxes[0].score}"
    return said.verdict("supported", finding, [detection.step], boxes)


def _best_score(detection: StepAnswer) -> float | None:
    value = detection.value
    if isinstance(value, Detections) and len(value):
        return max(score or 0.0 for score in value.scores)
    return None


def _count(concept: Concept, group: list[Concept], findings: Findings, config: CorrectionConfig) -> Claim | None:
    if concept.count is None:
        return None
    boxes = findings.boxes.get(concept.name, [])
    step = findings.detections[concept.name].step
    counted = _counted(boxes, config.count_min_score)
    shown = boxes[:counted]
    name = concept.detector_class or concept.name
    if len(group) > 1:
        if concept is not group[0] or any(member.count is None for member in group):
            return None
        total = sum(member.count or 0 for member in group)
        statement = " + ".join(f"{member.count} {member.name}" for member in group) + f" = {total} {name}"
        said = _Statement(concept.name, "count", statement)
        if total == counted:
            return said.verdict("supported", f"{counted} {name} counted", [step], shown)
        finding = f"{counted} {name} counted; the detector cannot tell {' from '.join(m.name for m in group)}"
        return said.verdict("unverified", finding, [step], shown)
    said = _Statement(concept.name, "count", f"{concept.count} {concept.name}")
    look = findings.second_look.get(concept.name)
    if look is not None:  # found only on the second look: the fused experts' calibrated count decides
        estimate = look.count
        finding = f"{look.backend}: most likely {estimate.count} {name} (p={estimate.confidence:.2f})"
        if estimate.count == concept.count:
            return said.verdict("supported", finding, [step], boxes)
        if estimate.confidence >= SURE_COUNT and estimate.count > 0:
            return said.verdict("corrected", finding, [step], boxes, fix=str(estimate.count))
        return said.verdict("unverified", finding + ": not sure enough to correct the text", [step], boxes)
    cross = _classify_cross_check(concept, findings)
    finding = f"{counted} {name} counted at score >= {config.count_min_score:.2f}"
    if concept.count == counted:
        return said.verdict("supported", finding, [step], shown, cross_check=cross)
    return said.verdict("corrected", finding, [step], shown, fix=str(counted), cross_check=cross)


def _classify_cross_check(concept: Concept, findings: Findings) -> str | None:
    answer = findings.classified.get(concept.name)
    if answer is None:
        return None
    if not answer.ok or not isinstance(answer.value, Detections):
        return f"image-text check failed: {answer.error}"
    agreeing = sum(label == concept.detector_class for label in answer.value.labels)
    return f"the image-text scorer calls {agreeing} of {len(answer.value)} box crops a {concept.detector_class}"


def _unanswered(said: _Statement, answer: StepAnswer | None, missing: str, tool: str) -> Claim:
    """Unverified: the tool that answers it is not installed (``missing``) or failed."""
    if answer is None:
        return said.verdict("unverified", missing)
    return said.verdict("unverified", f"{tool} failed: {answer.error}", [answer.step])


def _colour(concept: Concept, findings: Findings, concepts: list[Concept]) -> Claim | None:
    if concept.colour is None:
        return None
    said = _Statement(concept.name, "colour", f"the {concept.name} is {concept.colour}")
    answer = findings.colours.get(concept.name)
    if answer is None or not answer.ok:
        return _unanswered(said, answer, "no colour tool ran", "COLOR")
    found = str(answer.value)
    steps = [answer.step]
    others = [
        c.name
        for c in concepts
        if c.name != concept.name
        and (o := findings.colours.get(c.name)) is not None
        and o.ok
        and o.value == concept.colour
    ]
    cross = (
        f"{', '.join(others)} {'is' if len(others) == 1 else 'are'} {concept.colour}"
        if others
        else f"no other detected object is {concept.colour}"
    )
    vqa = findings.vqa_colours.get(concept.name)
    vqa_colour = None
    if vqa is not None and vqa.ok:
        steps.append(vqa.step)
        vqa_colour = next((COLOUR_WORDS[w] for w in normalise(str(vqa.value)).split() if w in COLOUR_WORDS), None)
        cross += f"; VQA on the crop says {vqa.value}"
    boxes = findings.boxes.get(concept.name, [])[:1]
    if found == concept.colour:
        return said.verdict("supported", f"COLOR: {found}", steps, boxes, cross_check=cross)
    if vqa_colour is not None and vqa_colour == concept.colour:
        finding = f"COLOR says {found}, VQA says {vqa_colour}: the tools disagree"
        return said.verdict("unverified", finding, steps, boxes, cross_check=cross)
    return said.verdict("corrected", f"COLOR: {found}", steps, boxes, fix=found, cross_check=cross)


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def _text(concept: Concept, findings: Findings) -> Claim | None:
    if concept.reads is None:
        return None
    said = _Statement(concept.name, "text", f"the {concept.name} reads '{concept.reads}'")
    answer = findings.texts.get(concept.name)
    if answer is None or not answer.ok:
        return _unanswered(said, answer, "no OCR tool is installed", "OCR")
    read = ocr_text(answer.value)
    wanted, got = _squash(concept.reads), _squash(read)
    if not got:
        return said.verdict("unverified", "OCR read no text there", [answer.step])
    if wanted and (wanted in got or _fuzzy_in(wanted, got)):
        return said.verdict("supported", f"OCR read '{read}'", [answer.step])
    lines = [line.text for line in getattr(answer.value, "lines", [])] or [read]
    best = max(lines, key=lambda line: difflib.SequenceMatcher(None, wanted, _squash(line)).ratio())
    return said.verdict("corrected", f"OCR read '{read}'", [answer.step], fix=best)


def _fuzzy_in(wanted: str, got: str) -> bool:
    words = got.split()
    size = len(wanted.split())
    windows = [" ".join(words[i : i + size]) for i in range(max(1, len(words) - size + 1))]
    return any(difflib.SequenceMatcher(None, wanted, window).ratio() >= 0.8 for window in windows)


_OPPOSITE = {"left of": "right of", "right of": "left of", "above": "below", "below": "above", "under": "above"}


def _relation(concept: Concept, findings: Findings, concepts: list[Concept]) -> Claim | None:
    if concept.relation is None or concept.relation_to is None:
        return None
    said = _Statement(concept.name, "relation", f"the {concept.name} is {concept.relation} the {concept.relation_to}")
    other = next(
        (c for c in concepts if c.name == concept.relation_to or c.detector_class == concept.relation_to), None
    )
    if concept.relation not in _OPPOSITE:
        return said.verdict("unverified", f"no installed tool checks '{concept.relation}'")
    mine = findings.boxes.get(concept.name, [])
    theirs = findings.boxes.get(other.name, []) if other is not None else []
    if not mine or not theirs:
        return said.verdict("unverified", f"no box for the {concept.relation_to if mine else concept.name}")
    a, b = mine[0].box, theirs[0].box
    centre_a, centre_b = ((a[0] + a[2]) / 2, (a[1] + a[3]) / 2), ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)
    if concept.relation in ("left of", "right of"):
        actual = "left of" if centre_a[0] < centre_b[0] else "right of"
    else:
        actual = "above" if centre_a[1] < centre_b[1] else "below"
    claimed = "below" if concept.relation == "under" else concept.relation
    steps = [findings.detections[concept.name].step]
    finding = f"box centres: {concept.name} is {actual} the {concept.relation_to}"
    if actual == claimed:
        return said.verdict("supported", finding, steps, [mine[0], theirs[0]])
    return said.verdict("corrected", finding, steps, [mine[0], theirs[0]], fix=actual)


def make_claims(concepts: list[Concept], findings: Findings, config: CorrectionConfig) -> list[Claim]:
    """A verdict for every claim: existence first; attributes of an absent object go with it."""
    claims: list[Claim] = []
    groups: dict[str, list[Concept]] = {}
    for concept in concepts:
        groups.setdefault(concept.detector_class or concept.name, []).append(concept)
    for concept in concepts:
        existence = _existence(concept, findings, config)
        claims.append(existence)
        present = existence.verdict == "supported"
        extra = []
        if present:
            extra.append(_count(concept, groups[concept.detector_class or concept.name], findings, config))
            extra.append(_colour(concept, findings, concepts))
        extra.append(_text(concept, findings))
        if present or existence.verdict == "unverified":
            extra.append(_relation(concept, findings, concepts))
        for claim in extra:
            if claim is None:
                continue
            if existence.verdict == "removed":
                continue
            claims.append(claim)
    return [claim.model_copy(update={"id": f"c{i + 1}"}) for i, claim in enumerate(claims)]
