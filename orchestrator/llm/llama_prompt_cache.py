"""A RAM cache of llama.cpp prompt states whose size limit counts everything a state holds.

Imported only by the llama.cpp backend (it needs llama-cpp-python). llama-cpp-python's own
``LlamaRAMCache`` counts only the KV bytes of a state, but every saved state also copies the
logits rows (up to n_batch x vocabulary floats: about 300 MB for Qwen2.5's 151,936 tokens), so
its limit does not bound memory; this subclass counts them.
"""

from __future__ import annotations

from llama_cpp import LlamaRAMCache


class PromptStateCache(LlamaRAMCache):
    """Least-recently-used prompt states, at most ``capacity_bytes`` in total, logits included."""

    @property
    def cache_size(self) -> int:
        """Bytes held by all cached states (KV data, logits rows and token ids)."""
        return sum(
            state.llama_state_size + state.scores.nbytes + state.input_ids.nbytes for state in self.cache_state.values()
        )
