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
  are tokenised and evaluated as draft tokens in one batch with the sampled token before them; each
  draft is kept while it is the token greedy decoding picks at its place (the batch's logits of every
  position say so), and the first that is not is replaced by the one that is. The output is the
  same as plain greedy decoding (up to the rounding of batched evaluation); only decode steps are
  saved. When the text is complete (nothing may follow), decoding ends without asking the model
  for its end-of-text token.
"""

from __future__ import annotations

import ctypes
import time
from dataclasses import dataclass
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
        self._one[0] = self._lib.llama_token_data(id=token, logit=0.0, p=0.0)
        self._array.size = 1
        self._array.selected = -1
        self._lib.llama_sampler_apply(self.grammar, ctypes.byref(self._array))
        return bool(self._one[0].logit != float("-inf"))

    def accept(self, token: int) -> None:
        self._lib.llama_sampler_accept(self.chain, token)

    def sample_masked(self, ctx: Any, row: int) -> int:
        """The likeliest token the grammar allows at batch row ``row`` (masks the whole vocabulary), accepted."""
        return int(self._lib.llama_sampler_sample(self.chain, ctx, row))

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
    """Decode greedily after the prompt already evaluated in ``llama``, under ``grammar``.

    Forced text is evaluated as draft tokens in one batch with the sampled token before it, and each draft
    is kept only while it is the token greedy decoding picks there (the logits of every position in the
    batch say so): the output is the same as plain greedy decoding, with fewer decode steps.
    """
    import llama_cpp

    sampler = _GrammarSampler(llama_cpp.llama_model_get_vocab(llama.model), grammar)
    choose = _Chooser(llama, sampler, check_first)
    result = DecodeResult(tokens=[], finish_reason="length")
    text = b""
    started = time.perf_counter()
    try:
        token = choose(-1)  # the prompt was just evaluated: its last position's logits
        while True:
            if token in stop_tokens:
                result.finish_reason = "stop"
                break
            result.tokens.append(token)
            text += llama.detokenize([token])
            if len(result.tokens) >= max_tokens:
                break
            if time.monotonic() >= deadline:
                result.finish_reason = "timeout"
                break
            drafts: list[int] = []
            if forced is not None:
                jump, complete = forced.after(text.decode("utf-8", errors="ignore"))
                if complete and not jump:  # nothing may follow: no need to ask for the end-of-text token
                    result.finish_reason = "stop"
                    break
                if jump:
                    drafts = llama.tokenize(jump.encode("utf-8"), add_bos=False, special=False)
                    drafts = drafts[: max_tokens - len(result.tokens)]
            result.sampled += 1
            first = _decode_batch(llama, [token, *drafts])
            token = choose(first)
            for index, draft in enumerate(drafts):
                if token != draft:  # greedy decoding goes another way here: drop the rest of the drafts
                    _drop_after(llama, first + index + 1)
                    break
                result.forced += 1
                result.tokens.append(draft)
                text += llama.detokenize([draft])
                token = choose(first + index + 1)
            if len(result.tokens) >= max_tokens:
                break
    finally:
        sampler.close()
    result.masked = choose.masked
    result.decode_s = time.perf_counter() - started
    return result


class _Chooser:
    """The greedy token at one output row of the last batch, under the grammar (checked first or masked)."""

    def __init__(self, llama: Llama, sampler: _GrammarSampler, check_first: bool) -> None:
        import llama_cpp
        import numpy as np

        self._llama, self._sampler, self._check_first = llama, sampler, check_first
        self._logits_at = llama_cpp.llama_get_logits_ith
        self._np = np
        self._n_vocab = llama.n_vocab()
        self.masked = 0
        self._rows = -1

    def __call__(self, row: int) -> int:
        """The token chosen from the logits of batch position ``row`` (-1 after a prompt); accepted into the grammar."""
        ctx = self._llama.ctx
        if self._check_first:
            logits = self._np.ctypeslib.as_array(self._logits_at(ctx, row), shape=(self._n_vocab,))
            best = int(self._np.argmax(logits))
            if self._sampler.allows(best):  # an end-of-text token only once the grammar is complete
                self._sampler.accept(best)
                return best
        self.masked += 1
        return self._sampler.sample_masked(ctx, row)


def _decode_batch(llama: Llama, tokens: list[int]) -> int:
    """Evaluate ``tokens`` after the KV cache, with logits for every one of them when there is more than one;
    returns the batch row of the first token's logits (-1: only the last token has logits)."""
    past = llama.n_tokens
    llama._ctx.kv_cache_seq_rm(-1, past, -1)
    llama._batch.set_batch(batch=tokens, n_past=past, logits_all=len(tokens) > 1)
    llama._ctx.decode(llama._batch)
    llama.input_ids[past : past + len(tokens)] = tokens
    llama.n_tokens = past + len(tokens)
    return 0 if len(tokens) > 1 else -1


def _drop_after(llama: Llama, row: int) -> None:
    """Forget the batch's tokens after position ``row`` of it (drafts greedy decoding did not take)."""
    keep = llama.n_tokens - _batch_length(llama) + row
    llama._ctx.kv_cache_seq_rm(-1, keep, -1)
    llama.n_tokens = keep


def _batch_length(llama: Llama) -> int:
    return int(llama._batch.batch.n_tokens)
