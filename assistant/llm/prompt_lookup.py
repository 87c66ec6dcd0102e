"""Prompt-lookup speculative decoding that keeps only the logits it checks (embedded server).

With `--draft_model prompt-lookup-decoding`, llama-cpp-python proposes the next few tokens by
finding the last generated tokens earlier in the prompt (JSON keys, fact ids and review words
the answer repeats) and checks them all in one batch: greedy answers stay the same where the
batch rounds like one token at a time (the Xeon with AVX-512; on an AVX2-only EPYC a word may
differ) and generation takes about half the time here. To check a batch it needs the logits of
every token in it, so it keeps the logits of *every* evaluated token — prompt tokens included
(a 1,500-token prompt: 0.9 GB per context, ~150k vocabulary × 4 bytes a token).

`install()` makes `Llama.eval` compute and keep all logits only for the short batches that
check drafts; reading a prompt keeps the last token's logits alone, as without drafts. Nothing
reads a prompt token's logits unless logprobs are asked for, which this project never does.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

log = logging.getLogger(__name__)


def install() -> None:
    """Patch `Llama.eval` as described in the module docstring (idempotent)."""
    from llama_cpp import Llama

    original = Llama.eval
    if getattr(original, "prompt_lookup", False):
        return

    def evaluate(self: Any, tokens: Sequence[int]) -> None:
        draft = getattr(self, "draft_model", None)
        longest_check = getattr(draft, "num_pred_tokens", 0) + 1
        if draft is None or len(tokens) <= longest_check or not self._logits_all:
            return original(self, tokens)
        self._logits_all = False  # a prompt: only its last token's logits are sampled
        try:
            return original(self, tokens)
        finally:
            self._logits_all = True

    evaluate.prompt_lookup = True  # type: ignore[attr-defined]
    Llama.eval = evaluate  # type: ignore[method-assign]
    log.info("speculative decoding keeps logits of draft checks only")
