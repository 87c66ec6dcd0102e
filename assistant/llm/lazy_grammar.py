"""Greedy decoding under a grammar, with the grammar checked lazily (the embedded server).

llama-cpp-python filters the whole vocabulary (~152k tokens for Qwen2.5) through the grammar
before every greedy pick; on the 2-core reference machine that costs about a third of each
generated token. llama.cpp's own samplers avoid it by testing the greedy choice alone first,
and this does the same: the penalties are applied as before (they are cheap), then the
best-scoring candidates are tested against the grammar in order — the first alone, then the
next `TOP_K` — and only when all of them are refused is the whole vocabulary filtered. The
token picked is always the one the full filter would pick (the best-scoring token the grammar
allows), so answers are unchanged; only the time differs.

`install()` replaces `Llama._init_sampler` for greedy requests with a grammar (temperature 0,
no custom logits processor); every other request keeps llama-cpp-python's own sampler. The
server child calls it when `llm.embedded.lazy_grammar` is on.
"""

from __future__ import annotations

import ctypes
import logging
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

TOP_K = 64
TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])


class LazyGrammarSampler:
    """Penalties, then the grammar on the best candidates first, then the greedy pick.

    Offers the one method `Llama` calls on its sampler, `sample(ctx, idx)`; the token chosen
    is accepted by the penalties and the grammar, as a sampler chain would.
    """

    def __init__(self, model: Any, grammar: Any, n_vocab: int, penalties: dict[str, Any]
                 ) -> None:
        from llama_cpp import _internals as internals

        self._n_vocab = n_vocab
        self._penalties = internals.LlamaSampler()
        self._penalties.add_penalties(**penalties)
        self._grammar = internals.LlamaSampler()
        self._grammar.add_grammar(model, grammar)

    @staticmethod
    def _apply(sampler: Any, data: np.ndarray) -> None:
        """Run `sampler` over `data` (token data records) in place."""
        import llama_cpp

        pointer = data.ctypes.data_as(ctypes.POINTER(llama_cpp.llama_token_data))
        array = llama_cpp.llama_token_data_array(pointer, len(data), -1, False)
        llama_cpp.llama_sampler_apply(sampler.sampler, ctypes.byref(array))

    def _first_allowed(self, ids: np.ndarray, logits: np.ndarray) -> int | None:
        """The first of `ids` (best first) the grammar allows, or None."""
        data = np.zeros(len(ids), dtype=TOKEN_DATA)
        data["id"], data["logit"] = ids, logits[ids]
        self._apply(self._grammar, data)
        allowed = np.flatnonzero(np.isfinite(data["logit"]))
        return int(data["id"][allowed[0]]) if len(allowed) else None

    def sample(self, ctx: Any, idx: int = -1) -> int:
        """The best-scoring token the grammar allows after the penalties (see the module)."""
        import llama_cpp

        raw = llama_cpp.llama_get_logits_ith(ctx.ctx, idx)
        data = np.zeros(self._n_vocab, dtype=TOKEN_DATA)
        data["id"] = np.arange(self._n_vocab, dtype=np.int32)
        data["logit"] = np.ctypeslib.as_array(raw, shape=(self._n_vocab,))
        self._apply(self._penalties, data)
        logits = np.empty(self._n_vocab, dtype=np.float32)
        logits[data["id"]] = data["logit"]
        best = np.argpartition(-logits, TOP_K)[:TOP_K + 1]
        best = best[np.argsort(-logits[best], kind="stable")]
        token = self._first_allowed(best[:1], logits)
        if token is None:
            token = self._first_allowed(best[1:], logits)
        if token is None:
            log.debug("grammar refused the %d best tokens; filtering the vocabulary", TOP_K + 1)
            order = np.argsort(-logits, kind="stable")
            token = self._first_allowed(order, logits)
        if token is None:
            raise RuntimeError("the grammar allows no token at all")
        llama_cpp.llama_sampler_accept(self._penalties.sampler, token)
        llama_cpp.llama_sampler_accept(self._grammar.sampler, token)
        return token

    def close(self) -> None:
        """Free both samplers."""
        self._penalties.close()
        self._grammar.close()


def install() -> None:
    """Use `LazyGrammarSampler` for greedy, grammar-constrained requests of every `Llama`."""
    from llama_cpp import Llama

    original = Llama._init_sampler
    if getattr(original, "lazy_grammar", False):
        return

    def init_sampler(self: Any, *args: Any, **kwargs: Any) -> Any:
        grammar = kwargs.get("grammar")
        if (args or grammar is None or kwargs.get("temp", 0.8) != 0.0
                or kwargs.get("logits_processor") is not None):
            return original(self, *args, **kwargs)
        penalties = {"n_vocab": self._n_vocab, "penalty_last_n": self.last_n_tokens_size,
                     "penalty_repeat": kwargs.get("repeat_penalty", 1.0),
                     "penalty_freq": kwargs.get("frequency_penalty", 0.0),
                     "penalty_present": kwargs.get("presence_penalty", 0.0)}
        return LazyGrammarSampler(self._model, grammar, self._n_vocab, penalties)

    init_sampler.lazy_grammar = True  # type: ignore[attr-defined]
    Llama._init_sampler = init_sampler  # type: ignore[method-assign]
    log.info("greedy grammar-constrained sampling checks the best candidates first")
