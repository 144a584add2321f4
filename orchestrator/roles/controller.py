"""The controller role: the LLM writes a visual program for the question.

The prompt is rendered from the registry of installed tools plus worked examples chosen for the
question; decoding is constrained by a grammar generated from the same registry (GBNF on
llama.cpp, a JSON schema with a regex pattern on servers that offer it), and whatever comes back
is still parsed and validated before anything runs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from visorch.examples import WorkedExample
from visorch.llm import ChatMessage, LLMBackend, LLMRequest, LLMResponse
from visorch.programs.grammar import program_gbnf, program_json_schema, program_regex
from visorch.state import ProgramAttempt, Verdict
from visorch.tools.cards import prompt_text
from visorch.tools.quoting import READ_TEXT_RULE
from visorch.tools.registry import ToolRegistry

SYSTEM_PROMPT = """You are the controller of a visual reasoning system. You answer a question about an image \
by writing a short visual program: one tool call per line, VAR=TOOL(arg=value, ...). Values are 'quoted \
strings', numbers, True/False, or variables assigned on earlier lines. Inputs: IMAGE (the image), QUESTION \
(the question), AUDIO (a sound file, when given), IMAGE2 (a second image, when given). The last line is \
always FINAL=RESULT(var=...).
Tools (argument names and kinds must match exactly):
{tools}
Rules:
- Use the fewest steps that answer the question. Name objects with simple nouns ('person', 'car').
- Name each variable after what it holds: IMAGE0 for images, BOX0 for boxes, TEXT0 for text read (OCR) \
or heard (TRANSCRIBE), ANSWER0 for numbers, yes/no and words.
- {object_rule}
- To read a value (a total, a date, a name) or to answer about what someone says, end with the OCR or \
TRANSCRIBE result itself: the final answer is written from that text afterwards.
- What the speaker names, lists or mentions is only in the audio: TRANSCRIBE it; do not LOC it in the image.
- Never invent tools or arguments. Reply with the program only.
- {read_text_rule}"""


@dataclass(frozen=True)
class PlanRequest:
    """What the controller needs to write one program."""

    question: str
    inputs: dict[str, str]
    """Input name -> short description (e.g. 'image 810x1080')."""
    examples: Sequence[WorkedExample]
    history: Sequence[ProgramAttempt] = ()
    verdicts: Sequence[Verdict] = ()
    issues: Sequence[str] = ()
    """Validation problems of the previous candidate, fed back for repair."""
    rejected: str | None = None
    """The previous invalid candidate."""


def system_prompt(registry: ToolRegistry) -> str:
    """The fixed prompt prefix (kept in the LLM's prompt cache between calls)."""
    tools = prompt_text(item.spec for item in registry if item.spec.listed_in_prompt)
    return SYSTEM_PROMPT.format(tools=tools, object_rule=_object_rule(registry), read_text_rule=READ_TEXT_RULE)


def _object_rule(registry: ToolRegistry) -> str:
    """How to count and ask 'is there': with the fused experts when they are offered, else LOC and COUNT."""
    if "HOW_MANY" in registry and "EXISTS" in registry:
        return (
            "Counting objects in the image: HOW_MANY. Yes/no about whether an object is there: EXISTS. "
            "Use LOC only when the boxes themselves are needed (to crop, colour, compare or locate)."
        )
    return "Counting objects in the image: LOC then COUNT. Yes/no about objects: LOC, COUNT, then EVAL 'yes' or 'no'."


def _question_text(question: str, inputs: dict[str, str]) -> str:
    described = ", ".join(f"{name} ({description})" for name, description in inputs.items())
    return f"Inputs: {described}\nQuestion: {question}"


def example_messages(examples: Sequence[WorkedExample]) -> list[ChatMessage]:
    """Worked examples as earlier turns of the conversation (models imitate their own turns best)."""
    messages = []
    for example in examples:
        inputs = {"IMAGE": "image"}
        if "AUDIO" in example.program:
            inputs["AUDIO"] = "audio"
        if "IMAGE2" in example.program:
            inputs["IMAGE2"] = "image"
        messages.append(ChatMessage(role="user", content=_question_text(example.question, inputs)))
        messages.append(ChatMessage(role="assistant", content=example.program))
    return messages


def user_prompt(plan: PlanRequest) -> str:
    """The question's own turn: inputs, earlier rounds and validation feedback."""
    parts = []
    for attempt, verdict in zip(plan.history, plan.verdicts, strict=False):
        if not attempt.valid:
            continue
        parts.append(
            f"An earlier program for this question:\n{attempt.source}\n"
            f"Its results:\n{attempt.evidence or attempt.error}\n"
            f"Judgement: {verdict.reason} Missing: {verdict.missing}\n"
            "Write a different program that gets what is missing; do not repeat the earlier program."
        )
    inputs = ", ".join(f"{name} ({description})" for name, description in plan.inputs.items())
    parts.append(f"Inputs: {inputs}\nQuestion: {plan.question}")
    if plan.rejected is not None:
        problems = "\n".join(f"- {issue}" for issue in plan.issues)
        parts.append(
            f"Your previous program was invalid:\n{plan.rejected}\nProblems:\n{problems}\nWrite a corrected program."
        )
    parts.append("Program:")
    return "\n\n".join(parts)


def _extract_program(text: str, json_wrapped: bool) -> str:
    if json_wrapped:
        try:
            data = json.loads(text)
            if isinstance(data, dict) and isinstance(data.get("program"), str):
                return str(data["program"]).strip()
        except json.JSONDecodeError:
            pass
    fenced = re.search(r"```(?:[a-zA-Z]*)\n(.*?)```", text, re.S)
    body = fenced.group(1) if fenced else text
    lines = [line.strip() for line in body.strip().splitlines()]
    return "\n".join(line for line in lines if line and not line.lower().startswith("program:"))


def plan_program(llm: LLMBackend, registry: ToolRegistry, plan: PlanRequest, max_steps: int) -> tuple[str, LLMResponse]:
    """Ask the LLM for a program; returns (program text, the LLM response). Not yet validated."""
    base = LLMRequest(
        messages=[
            ChatMessage(role="system", content=system_prompt(registry)),
            *example_messages(plan.examples),
            ChatMessage(role="user", content=user_prompt(plan)),
        ],
        max_tokens=48 * (max_steps + 1),
        temperature=0.0,
        fixed_messages=1,  # the system prompt with the tool cards; the examples vary by question
    )
    json_wrapped = False
    inputs = list(plan.inputs)  # the programs may read these inputs only (and the question)
    if llm.supports_grammar:
        grammar = program_gbnf(registry, max_steps, inputs)
        # the same programs as a regular expression: where it allows one next character, the text is forced
        forced = program_regex(registry, max_steps, inputs)
        request = base.model_copy(update={"grammar": grammar, "forced_regex": forced})
    elif llm.supports_json_schema:
        request = base.model_copy(update={"json_schema": program_json_schema(registry, max_steps, inputs)})
        json_wrapped = True
    else:
        request = base
    response = llm.complete(request)
    return _extract_program(response.text, json_wrapped), response
