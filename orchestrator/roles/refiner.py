"""The semantic refiner role: the final answer, written from the evidence only."""

from __future__ import annotations

from collections.abc import Sequence

from orchestrator.llm import ChatMessage, LLMBackend, LLMRequest, LLMResponse
from orchestrator.state import ProgramAttempt

SYSTEM_PROMPT = """You write the final answer to a question from the results of visual tools. Use only \
facts stated in the results; never add anything they do not say. For a closed question (yes/no, how many, \
which, what colour, a date, an amount, a name) reply with the bare answer only: yes or no, a number in \
digits, or a few words copied from the results. For an open question reply with one short sentence. If the \
results do not answer the question, reply: I cannot tell from the tools' results."""

ANSWER_GRAMMAR = "root ::= [^\\n]{1,200}\n"
CANNOT_TELL = "I cannot tell from the tools' results."


def refine_answer(llm: LLMBackend, question: str, attempts: Sequence[ProgramAttempt]) -> tuple[str, LLMResponse]:
    """Ask the LLM for the answer text given every executed attempt's evidence."""
    executed = [attempt for attempt in attempts if attempt.valid and attempt.evidence]
    blocks = []
    for attempt in executed[-2:]:
        result = f"\nProgram result: {attempt.result}" if attempt.result is not None else ""
        blocks.append(f"Program:\n{attempt.source}\nResults:\n{attempt.evidence}{result}")
    evidence = "\n\n".join(blocks) if blocks else "(no tool produced results)"
    request = LLMRequest(
        messages=[
            ChatMessage(role="system", content=SYSTEM_PROMPT),
            ChatMessage(role="user", content=f"{evidence}\n\nQuestion: {question}\nAnswer:"),
        ],
        max_tokens=64,
        temperature=0.0,
        grammar=ANSWER_GRAMMAR if llm.supports_grammar else None,
    )
    response = llm.complete(request)
    text = response.text.strip().strip('"').strip()
    return (text or CANNOT_TELL), response
