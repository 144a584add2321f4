"""Greedy decoding under a GBNF grammar, driven token by token: the grammar checked last, forced text jumped.

Imported only by the llama.cpp backend, for greedy requests that carry a grammar. llama-cpp-python's
own loop masks the whole ~150k-token vocabulary with the grammar before every token. Here:

- **Grammar check last** (``check_first``): the model's most likely token is checked against the
  grammar alone, and the vocabulary is masked only when that token is not allowed. At temperature 0
  this picks exactly the token the masked sampler would (the most likely allowed one), so the
  output is unchanged; llama.cpp's own ``common_sampler`` does the same.
- **Jump-forward** (``forced``): where the request's regular expression (a superset of the grammar's
  language, e.g. the program regex) allows only one next character, the characters it forces
  (``image=IMAGE`` after ``LOC(``, ``L=RESULT(var=`` after ``FINA``, the closing ``)`` and newline)
  are tokenised and evaluated as one batch instead of one decode step each, after the grammar has
  accepted each of them. When the text is complete (nothing can follow), decoding ends without
  asking the model for its end-of-text token. The model then reads the forced text's own
  tokenisation, which can differ from the one it would have chosen, so programs may differ from
  plain decoding: ``benchmarks/llm_bench.py --planning`` checks validity and counts the changes.
"""

from __future__ import annotations

import ctypes
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llama_cpp import Llama

_ALPHABET = "".join(chr(code) for code in range(32, 127)) + "\n"
"""Characters tried when looking for forced text: every character the program grammar's literals use."""
_MAX_FORCED_CHARS = 200


class ForcedText:
    """The characters a regular language forces after a prefix of one of its strings (``regex`` partial matches)."""

    def __init__(self, pattern: str) -> None:
        import regex

        self._pattern = regex.compile(pattern)

    def _continues(self, text: str) -> bool:
        return self._pattern.fullmatch(text, partial=True) is not None

    def after(self, text: str) -> tuple[str, bool]:
        """(the forced characters after ``text``, whether the text is then complete: nothing may follow)."""
        forced = ""
        while len(forced) < _MAX_FORCED_CHARS:
            current = text + forced
            allowed = []
            for character in _ALPHABET:
                if self._continues(current + character):
                    allowed.append(character)
                    if len(allowed) > 1:
                        return forced, False
            if not allowed:
                return forced, self._pattern.fullmatch(current) is not None
            if self._pattern.fullmatch(current) is not None:
                return forced, False  # complete, but may go on: the model chooses
            forced += allowed[0]
        return forced, False


@dataclass
class DecodeResult:
    """The tokens generated, why decoding stopped and where the time went."""

    tokens: list[int]
    finish_reason: str
    sampled: int = 0
    """Tokens the model chose (one decode step each)."""
    forced: int = 0
    """Tokens appended without sampling (jump-forward)."""
    masked: int = 0
    """Sampled tokens for which the whole vocabulary had to be masked (the likeliest token was not allowed)."""
    decode_s: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)


class _GrammarSampler:
    """A llama.cpp sampler chain (grammar, then greedy) whose grammar can also check one token alone."""

    def __init__(self, vocab: Any, grammar: str) -> None:
        import llama_cpp

        self._lib = llama_cpp
        self.chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
        grammar_sampler = llama_cpp.llama_sampler_init_grammar(vocab, grammar.encode("utf-8"), b"root")
        if not grammar_sampler:
            llama_cpp.llama_sampler_free(self.chain)
            raise ValueError("the grammar does not compile")
        llama_cpp.llama_sampler_chain_add(self.chain, grammar_sampler)
        llama_cpp.llama_sampler_chain_add(self.chain, llama_cpp.llama_sampler_init_greedy())
        self.grammar = llama_cpp.llama_sampler_chain_get(self.chain, 0)
        self._one = (llama_cpp.llama_token_data * 1)()
        self._array = llama_cpp.llama_token_data_array(
            data=ctypes.cast(self._one, llama_cpp.llama_token_data_p), size=1, selected=-1, sorted=False
        )

    def allows(self, token: int) -> bool:
        """Whether the grammar, in its current state, accepts ``token`` next."""
        self._one[0].id = token
        self._one[0].logit = 0.0
        self._one[0].p = 0.0
        self._array.size = 1
        self._array.selected = -1
        self._lib.llama_sampler_apply(self.grammar, ctypes.byref(self._array))
        return bool(self._one[0].logit != float("-inf"))

    def accept(self, token: int) -> None:
        self._lib.llama_sampler_accept(self.chain, token)

    def sample_masked(self, ctx: Any) -> int:
        """The likeliest token the grammar allows (masks the whole vocabulary), accepted into the grammar."""
        return int(self._lib.llama_sampler_sample(self.chain, ctx, -1))

    def close(self) -> None:
        self._lib.llama_sampler_free(self.chain)


def greedy_grammar_decode(
    llama: Llama,
    grammar: str,
    max_tokens: int,
    stop_tokens: set[int],
    deadline: float,
    *,
    check_first: bool = True,
    forced: ForcedText | None = None,
) -> DecodeResult:
    """Decode greedily after the prompt already evaluated in ``llama``, under ``grammar``."""
    import llama_cpp
    import numpy as np

    sampler = _GrammarSampler(llama_cpp.llama_model_get_vocab(llama.model), grammar)
    n_vocab = llama.n_vocab()
    ctx = llama.ctx
    result = DecodeResult(tokens=[], finish_reason="length")
    text = b""
    started = time.perf_counter()
    try:
        while len(result.tokens) < max_tokens:
            if time.monotonic() >= deadline:
                result.finish_reason = "timeout"
                break
            token = -1
            if check_first:
                logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, -1), shape=(n_vocab,))
                best = int(np.argmax(logits))
                if sampler.allows(best):  # an end-of-text token only once the grammar is complete
                    token = best
                    sampler.accept(best)
            if token < 0:
                result.masked += 1
                token = sampler.sample_masked(ctx)
            if token in stop_tokens:
                result.finish_reason = "stop"
                break
            result.sampled += 1
            result.tokens.append(token)
            text += llama.detokenize([token])
            batch = [token]
            complete = False
            if forced is not None:
                jump, complete = forced.after(text.decode("utf-8", errors="ignore"))
                if jump:
                    wanted = llama.tokenize(jump.encode("utf-8"), add_bos=False, special=False)
                    jumped = _accepted(sampler, wanted[: max(0, max_tokens - len(result.tokens))])
                    result.forced += len(jumped)
                    result.tokens += jumped
                    batch += jumped
                    text += llama.detokenize(jumped)
                    complete = complete and jumped == wanted  # all of it taken: nothing may follow
            if complete:
                result.finish_reason = "stop"
                break
            if len(result.tokens) >= max_tokens:
                break
            llama.eval(batch)
    finally:
        sampler.close()
    result.decode_s = time.perf_counter() - started
    return result


def _accepted(sampler: _GrammarSampler, tokens: list[int]) -> list[int]:
    """The leading tokens the grammar accepts, each accepted into it (stops at the first it refuses)."""
    taken = []
    for token in tokens:
        if not sampler.allows(token):
            break
        sampler.accept(token)
        taken.append(token)
    return taken
