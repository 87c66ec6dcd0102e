"""MostPopular and ItemTransition baselines: fitting, scoring interface and sanity."""

import numpy as np
import torch

from predictors.evaluation import evaluate, leave_one_out_split
from predictors.models import ItemTransition, MostPopular
from predictors.sequences import left_pad

N_ITEMS = 6
TRAIN = [[1, 2, 3], [1, 2, 3, 4], [5, 2, 3], [2, 3, 6]]


def test_most_popular_ranks_by_frequency() -> None:
    model = MostPopular(N_ITEMS).fit(TRAIN)
    scores = model.score_all(left_pad([[1], [4, 5]], 3))
    assert scores.shape == (2, N_ITEMS + 1)
    assert torch.isneginf(scores[:, 0]).all()
    assert torch.equal(scores[0], scores[1])  # not personalised
    order = torch.argsort(scores[0], descending=True).tolist()
    assert set(order[:2]) == {2, 3}  # 4 occurrences each


def test_transition_follows_observed_next_item() -> None:
    model = ItemTransition(N_ITEMS).fit(TRAIN)
    scores = model.score_all(np.array([[0, 1], [0, 2], [0, 5]]))
    assert scores.dtype == torch.float32
    assert int(scores[0, 1:].argmax()) + 1 == 2  # 1 -> 2 always
    assert int(scores[1, 1:].argmax()) + 1 == 3  # 2 -> 3 always
    assert int(scores[2, 1:].argmax()) + 1 == 2  # 5 -> 2
    assert torch.isneginf(scores[:, 0]).all()


def test_transition_falls_back_to_cooccurrence_then_popularity() -> None:
    model = ItemTransition(N_ITEMS, window=3).fit(TRAIN)
    scores = model.score_all(torch.tensor([[1], [6]]))[:, 1:]
    # after 1: 2 (direct) > 3 (two steps later, co-occurrence only) > others (popularity)
    top = torch.argsort(scores[0], descending=True)[:2] + 1
    assert top.tolist() == [2, 3]
    # 6 has no outgoing transitions: scores reduce to popularity, still finite and ordered
    assert torch.isfinite(scores[1]).all()
    assert int(scores[1].argmax()) + 1 in (2, 3)


def test_transition_is_padding_invariant() -> None:
    model = ItemTransition(N_ITEMS, n_last=2).fit(TRAIN)
    a = model.score_all(left_pad([[1, 2]], 5, pad_to=2))
    b = model.score_all(left_pad([[1, 2]], 5, pad_to=5))
    assert torch.allclose(a, b)


def test_transition_beats_popularity_on_sequential_data() -> None:
    rng = np.random.default_rng(0)
    nxt = rng.permutation(np.arange(1, 31))
    seqs = []
    for _ in range(100):
        cur = int(rng.integers(1, 31))
        seq = [cur]
        for _ in range(6):
            cur = int(nxt[cur - 1])
            seq.append(cur)
        seqs.append(seq)
    split = leave_one_out_split(seqs)
    pop = evaluate(
        MostPopular(30).fit(split.train), split.test.inputs, split.test.targets, max_len=10
    )
    markov = evaluate(
        ItemTransition(30).fit(split.train), split.test.inputs, split.test.targets, max_len=10
    )
    assert markov["HR@10"] > 0.95
    assert markov["NDCG@10"] > pop["NDCG@10"] + 0.3
