"""The decision-maker's verdict and the answer in one LLM call (``AgentConfig(verdict_answers=True)``).

The decision-maker sees the question and every result already; when its verdict is ANSWER it can
write the answer in the same JSON reply, which saves the semantic refiner's call. The answer must
follow the refiner's rules (bare answers for closed questions, only facts in the results); an
ANSWER without one still goes to the refiner. Measured against the separate refiner on recorded
prompts by ``benchmarks/role_models.py``.
"""

from __future__ import annotations

import json

from visorch.llm import ChatMessage, LLMBackend, LLMRequest, LLMResponse
from visorch.roles import decision
from visorch.state import ProgramAttempt, Verdict

ANSWER_RULE = (
    'With ANSWER, also write the final answer in "answer", from the results only: for a closed question (yes/no, '
    "how many, which, a date, an amount, a name) the bare answer (yes or no, a number in digits, or a few words "
    'copied from the results), else one short sentence. With CONTINUE, "answer" is "".'
)

VERDICT_ANSWER_SCHEMA = {
    "type": "object",
    "properties": {
        **decision.VERDICT_SCHEMA["properties"],  # type: ignore[dict-item]
        "answer": {"type": "string", "maxLength": 120},
    },
    "required": ["verdict", "reason", "missing", "answer"],
    "additionalProperties": False,
}


def system_prompt() -> str:
    """The decision-maker's prompt with the answer rule after it (a fixed prefix of its own)."""
    return f"{decision.SYSTEM_PROMPT}\n{ANSWER_RULE}"


def parse_answer(text: str) -> str | None:
    """The 'answer' field of the reply, stripped; None when absent, empty or unreadable."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None
    answer = data.get("answer") if isinstance(data, dict) else None
    if not isinstance(answer, str) or not answer.strip():
        return None
    return answer.strip().strip('"').strip()


def decide_with_answer(
    llm: LLMBackend, question: str, attempt: ProgramAttempt, round_number: int, max_rounds: int
) -> tuple[Verdict, str | None, LLMResponse]:
    """A verdict on one executed program and, with ANSWER, the answer text (None: the refiner writes it)."""
    user = (
        f"Question: {question}\nProgram:\n{attempt.source}\nResults:\n{attempt.evidence}\n"
        f"This was round {round_number} of {max_rounds}."
    )
    request = LLMRequest(
        messages=[ChatMessage(role="system", content=system_prompt()), ChatMessage(role="user", content=user)],
        max_tokens=160,
        temperature=0.0,
        fixed_messages=1,
        json_schema=VERDICT_ANSWER_SCHEMA if llm.supports_json_schema else None,
    )
    response = llm.complete(request)
    verdict = decision.parse_verdict(response.text)
    answer = parse_answer(response.text) if verdict.verdict == "ANSWER" else None
    return verdict, answer, response
