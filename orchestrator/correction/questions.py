"""Stage 2, questions: what to ask about each concept, and the one visual program that asks it all.

Existence and counts are answered by the detector (LOC), never by VQA. Colours by COLOR on the
object's top box (and by VQA on its crop when a VQA model is installed), text by OCR on the
object's crop, relative positions from the boxes. The logical cross-check runs the other way too:
COLOR on every found object answers "which object is red?", and an installed image-text scorer
re-checks the detector's boxes (CLASSIFY on their crops).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from visorch.correction.types import ClaimKind, Concept, Question

GEOMETRIC_RELATIONS = {"left of", "right of", "above", "below", "under"}


@dataclass
class ValidationPlan:
    """The questions and the program that answers them, with the variable of each answer."""

    questions: list[Question]
    source: str
    detect_step: dict[str, str] = field(default_factory=dict)
    """Concept name -> LOC variable (concepts of one class share it)."""
    colour_step: dict[str, str] = field(default_factory=dict)
    vqa_colour_step: dict[str, str] = field(default_factory=dict)
    ocr_step: dict[str, str] = field(default_factory=dict)
    classify_step: dict[str, str] = field(default_factory=dict)


def _quote(text: str) -> str:
    return "'" + text.replace("\\", " ").replace("'", " ") + "'"


def plan_questions(
    concepts: list[Concept], available_tools: set[str], min_score: float, open_vocabulary: bool = False
) -> ValidationPlan:
    """Questions for every concept and the visual program over the tools installed here."""
    lines: list[str] = []
    plan = ValidationPlan(questions=[], source="")
    box_of_query: dict[str, str] = {}
    boxes = images = answers = texts = 0
    whole_image_text: str | None = None
    any_colour = any(concept.colour for concept in concepts)

    def add(prefix: str, counter: int, call: str) -> str:
        name = f"{prefix}{counter}"
        lines.append(f"{name}={call}")
        return name

    def ask(concept: Concept, kind: ClaimKind, text: str, step: str | None, tool: str) -> None:
        """A question answered by ``step`` of ``tool`` (no step: no installed tool can answer it)."""
        plan.questions.append(
            Question(concept=concept.name, kind=kind, text=text, step=step, tool=tool if step else None)
        )

    for concept in concepts:
        query = concept.detector_class or concept.name
        checkable = concept.detector_class is not None or open_vocabulary
        if checkable and "LOC" in available_tools:
            if query not in box_of_query:
                box_of_query[query] = add(
                    "BOX", boxes, f"LOC(image=IMAGE, object={_quote(query)}, min_score={min_score:g})"
                )
                boxes += 1
            plan.detect_step[concept.name] = box_of_query[query]
        step = plan.detect_step.get(concept.name)
        ask(concept, "existence", f"Is there a {concept.name}?", step, "LOC")
        if concept.count is not None:
            ask(concept, "count", f"How many {concept.name}?", step, "LOC")
    for concept in concepts:
        step = plan.detect_step.get(concept.name)
        if step is None:
            continue
        if (concept.colour or any_colour) and "COLOR" in available_tools and concept.name not in plan.colour_step:
            plan.colour_step[concept.name] = add("ANSWER", answers, f"COLOR(image=IMAGE, box={step})")
            answers += 1
        needs_crop = (concept.colour and "VQA" in available_tools) or (concept.reads and "OCR" in available_tools)
        crop = None
        if needs_crop and "CROP" in available_tools:
            crop = add("IMAGE", images, f"CROP(image=IMAGE, box={step}, margin=0.05)")
            images += 1
        if concept.colour and crop and "VQA" in available_tools:
            question = _quote(f"What color is the {concept.name}?")
            plan.vqa_colour_step[concept.name] = add("ANSWER", answers, f"VQA(image={crop}, question={question})")
            answers += 1
        if concept.reads and crop and "OCR" in available_tools:
            plan.ocr_step[concept.name] = add("TEXT", texts, f"OCR(image={crop})")
            texts += 1
        if concept.count is not None and "CLASSIFY" in available_tools and concept.detector_class:
            categories = f"[{_quote(concept.detector_class)}, 'something else']"
            plan.classify_step[concept.name] = add(
                "BOX", boxes, f"CLASSIFY(image=IMAGE, box={step}, categories={categories})"
            )
            boxes += 1
    for concept in concepts:
        if concept.reads and concept.name not in plan.ocr_step and "OCR" in available_tools:
            if whole_image_text is None:
                whole_image_text = add("TEXT", texts, "OCR(image=IMAGE)")
                texts += 1
            plan.ocr_step[concept.name] = whole_image_text
    for concept in concepts:
        if concept.colour:
            ask(concept, "colour", f"What colour is the {concept.name}?", plan.colour_step.get(concept.name), "COLOR")
        if concept.reads:
            ask(concept, "text", f"What is written on the {concept.name}?", plan.ocr_step.get(concept.name), "OCR")
        if concept.relation and concept.relation_to:
            geometric = concept.relation in GEOMETRIC_RELATIONS
            step = plan.detect_step.get(concept.name) if geometric else None
            question = f"Is the {concept.name} {concept.relation} the {concept.relation_to}?"
            ask(concept, "relation", question, step, "LOC")
    if lines:
        last = lines[-1].split("=", 1)[0]
        lines.append(f"FINAL=RESULT(var={last})")
    plan.source = "\n".join(lines)
    return plan
