"""SASRec model, sequence helpers and the training loop on tiny synthetic data."""

import random

import pytest
import torch

from predictors.evaluation import evaluate, leave_one_out_split
from predictors.models import SASRec, SASRecConfig
from predictors.sequences import (
    IdVocab,
    LengthBucketSampler,
    NextItemCollator,
    NextItemDataset,
    left_pad,
)
from predictors.training import (
    TrainConfig,
    fit,
    full_softmax_loss,
    sampled_softmax_loss,
)
from predictors.training.losses import reference_full_softmax_loss

N_ITEMS = 40


def _model(**kw: object) -> SASRec:
    torch.manual_seed(0)
    cfg = SASRecConfig(n_items=N_ITEMS, max_len=12, d_model=16, n_heads=2, n_layers=2, **kw)
    return SASRec(cfg).eval()


def test_output_shapes() -> None:
    model = _model()
    ids = left_pad([[1, 2, 3], [4, 5, 6, 7, 8]], max_len=12, pad_to=6)
    assert model(ids).shape == (2, 6, 16)
    assert model.user_embedding(ids).shape == (2, 16)
    scores = model.score_all(ids)
    assert scores.shape == (2, N_ITEMS + 1)
    assert torch.isneginf(scores[:, 0]).all()
    assert torch.isfinite(scores[:, 1:]).all()


def test_causal_masking() -> None:
    model = _model()
    a = torch.tensor([[0, 0, 3, 4, 5, 6, 7, 8]])
    b = a.clone()
    b[0, 5:] = torch.tensor([20, 21, 22])  # change only the future of position 4
    with torch.no_grad():
        ha, hb = model(a), model(b)
    assert torch.allclose(ha[:, :5], hb[:, :5], atol=1e-6)
    assert not torch.allclose(ha[:, 5:], hb[:, 5:], atol=1e-4)


def test_padding_invariance() -> None:
    model = _model()
    seq = [[5, 9, 2, 7]]
    with torch.no_grad():
        short = model.user_embedding(left_pad(seq, 12, pad_to=4))
        long = model.user_embedding(left_pad(seq, 12, pad_to=12))
        mixed = model.score_all(left_pad([seq[0], list(range(1, 12))], 12))
    assert torch.allclose(short, long, atol=1e-5)
    assert torch.allclose(model.score_all(left_pad(seq, 12, pad_to=4))[0], mixed[0], atol=1e-4)


def test_padded_positions_are_zero_and_finite() -> None:
    model = _model()
    with torch.no_grad():
        out = model(left_pad([[1], []], 12, pad_to=5))
    assert torch.isfinite(out).all()
    assert out[0, :4].abs().sum() == 0 and out[1].abs().sum() == 0


def test_type_embedding_changes_output() -> None:
    model = _model(n_types=3)
    ids = torch.tensor([[0, 1, 2, 3]])
    with torch.no_grad():
        base = model.user_embedding(ids)
        t1 = model.user_embedding(ids, torch.tensor([[0, 1, 1, 1]]))
        t2 = model.user_embedding(ids, torch.tensor([[0, 1, 1, 3]]))
    assert base.shape == t1.shape
    assert not torch.allclose(t1, t2)


def test_rejects_sequences_longer_than_max_len() -> None:
    with pytest.raises(ValueError):
        _model()(torch.ones(1, 13, dtype=torch.long))


def test_vocab_roundtrip() -> None:
    vocab = IdVocab.from_sequences([["a", "b"], ["b", "c"]])
    assert len(vocab) == 3
    assert vocab.encode(["c", "a"]) == [3, 1]
    assert vocab.decode([3, 1]) == ["c", "a"]
    assert vocab.encode(["z", "a"], skip_unknown=True) == [1]
    with pytest.raises(KeyError):
        vocab.encode(["z"])
    assert IdVocab.from_dict(vocab.to_dict()).encode(["b"]) == [2]


def test_left_pad_and_collate() -> None:
    assert left_pad([[1, 2, 3], [4]], 2).tolist() == [[2, 3], [0, 4]]
    ds = NextItemDataset(
        [[1, 2, 3, 4], [5, 6], [7]], max_len=2, type_sequences=[[1] * 4, [2] * 2, [1]]
    )
    assert len(ds) == 2  # single-item sequences have no target
    batch = NextItemCollator(max_len=2)([ds[0], ds[1]])
    assert batch.item_ids.tolist() == [[2, 3], [0, 5]]
    assert batch.target_ids.tolist() == [[3, 4], [0, 6]]
    assert batch.type_ids is not None and batch.type_ids.tolist() == [[1, 1], [0, 2]]


def test_length_bucket_sampler_covers_everything_once() -> None:
    lengths = [random.Random(i).randint(1, 30) for i in range(103)]
    sampler = LengthBucketSampler(lengths, 10, generator=torch.Generator().manual_seed(0))
    batches = list(sampler)
    assert len(batches) == len(sampler) == 11
    assert sorted(i for b in batches for i in b) == list(range(103))


def test_full_softmax_loss_matches_reference() -> None:
    torch.manual_seed(0)
    weight = torch.randn(N_ITEMS + 1, 8, requires_grad=True)
    hidden = torch.randn(13, 8, requires_grad=True)
    targets = torch.randint(1, N_ITEMS + 1, (13,))
    loss = full_softmax_loss(hidden, weight, targets, chunk_size=4)
    loss.backward()
    grads = hidden.grad.clone(), weight.grad.clone()
    hidden.grad, weight.grad = None, None
    ref = reference_full_softmax_loss(hidden, weight, targets)
    ref.backward()
    assert loss.item() == pytest.approx(ref.item(), rel=1e-5)
    assert torch.allclose(grads[0], hidden.grad, atol=1e-5)
    assert torch.allclose(grads[1], weight.grad, atol=1e-5)
    assert grads[1][0].abs().sum() == 0  # padding row gets no gradient


def test_sampled_softmax_with_all_items_equals_full() -> None:
    torch.manual_seed(1)
    weight = torch.randn(N_ITEMS + 1, 8)
    hidden = torch.randn(9, 8)
    targets = torch.randint(1, N_ITEMS + 1, (9,))
    everything = torch.arange(1, N_ITEMS + 1)  # includes each target -> masked as a hit
    log_q = torch.full((N_ITEMS + 1,), -3.0)  # uniform logQ is a constant shift
    sampled = sampled_softmax_loss(hidden, weight, targets, everything, log_q)
    full = reference_full_softmax_loss(hidden, weight, targets)
    assert sampled.item() == pytest.approx(full.item(), rel=1e-5)


def _markov_sequences(n_users: int, length: int, seed: int = 0) -> list[list[int]]:
    """Users walk a fixed random permutation of the items: next = perm[current]."""
    rng = random.Random(seed)
    perm = list(range(1, N_ITEMS + 1))
    rng.shuffle(perm)
    nxt = {i + 1: perm[i] for i in range(N_ITEMS)}
    seqs = []
    for _ in range(n_users):
        cur = rng.randint(1, N_ITEMS)
        seq = [cur]
        for _ in range(length - 1):
            cur = nxt[cur]
            seq.append(cur)
        seqs.append(seq)
    return seqs


@pytest.mark.parametrize("loss", ["full", "sampled"])
def test_tiny_training_beats_random(loss: str) -> None:
    split = leave_one_out_split(_markov_sequences(128, 8))
    cfg = TrainConfig(
        max_len=12,
        batch_size=32,
        lr=1e-2,
        max_epochs=8,
        patience=8,
        loss=loss,
        n_negatives=10,
        negative_sampling="popularity",
        progress=False,
        num_threads=1,
    )
    model = _model(dropout=0.0).train()
    before = evaluate(model, split.test.inputs, split.test.targets, max_len=12)
    result = fit(model, split.train, split.valid.inputs, split.valid.targets, cfg)
    after = evaluate(model, split.test.inputs, split.test.targets, max_len=12)
    assert result.best_epoch >= 1 and len(result.epoch_times_s) == len(result.epochs)
    assert result.epochs[-1].train_loss < result.epochs[0].train_loss
    # random ranking gives HR@10 ~ 10/40; a learned permutation is near-perfect
    assert after["HR@10"] > 0.8
    assert after["NDCG@10"] > before["NDCG@10"] + 0.3


def test_training_is_deterministic() -> None:
    split = leave_one_out_split(_markov_sequences(64, 6, seed=3))
    cfg = TrainConfig(max_len=12, batch_size=16, max_epochs=2, progress=False, num_threads=1)
    losses = []
    for _ in range(2):
        result = fit(_model(), split.train, split.valid.inputs, split.valid.targets, cfg)
        losses.append([e.train_loss for e in result.epochs])
    assert losses[0] == losses[1]


def test_embedding_tables_get_their_own_learning_rate() -> None:
    from predictors.training.sequence_trainer import _make_optimizer

    model = _model(n_types=2)
    optimizer = _make_optimizer(model, TrainConfig(lr=1e-3, embedding_lr_mult=5.0))
    by_id = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    assert by_id[id(model.item_emb.weight)] == pytest.approx(5e-3)
    assert by_id[id(model.blocks[0].attn.qkv.weight)] == pytest.approx(1e-3)
    n_params = sum(len(g["params"]) for g in optimizer.param_groups)
    assert n_params == len(list(model.parameters()))


def test_fit_without_validation_runs_all_epochs() -> None:
    split = leave_one_out_split(_markov_sequences(32, 6, seed=5))
    cfg = TrainConfig(max_len=12, batch_size=16, max_epochs=3, progress=False, num_threads=1)
    result = fit(_model(), split.train, None, None, cfg)
    assert len(result.epochs) == 3 and result.best_epoch == 3
    assert all(not e.valid for e in result.epochs)


def test_a_checkpoint_without_repeats_never_recommends_what_the_user_has() -> None:
    from predictors.next_item import NextItemModel

    vocab = IdVocab.from_sequences([[str(i) for i in range(1, N_ITEMS + 1)]])
    history = [[1, 2, 3, 4, 5]]
    ranked = NextItemModel(model=_model(), items=vocab, use_types=False, max_len=12)
    masked = NextItemModel(model=_model(), items=vocab, use_types=False, max_len=12,
                           meta={"mask_seen": True})
    all_ids, _, _ = ranked.recommend(history, None, k=N_ITEMS - 1)
    assert set(all_ids[0]) & {"1", "2", "3", "4", "5"}  # without the rule they are ranked
    ids, scores, _ = masked.recommend(history, None, k=10)
    assert not set(ids[0]) & {"1", "2", "3", "4", "5"} and len(ids[0]) == 10
    assert scores[0] == sorted(scores[0], reverse=True)
    assert ranked.recommend(history, None, k=10, exclude_seen=True)[0] == ids  # explicit wins
    every, _, _ = masked.recommend(history, None, k=N_ITEMS)  # more than is left to rank
    assert sorted(every[0], key=int) == [str(i) for i in range(6, N_ITEMS + 1)]
