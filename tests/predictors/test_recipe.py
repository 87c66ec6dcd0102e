"""One recipe: `insight train` and the Beauty benchmark build the same model and trainer."""

from __future__ import annotations

from dataclasses import asdict, replace

import pytest

from benchmarks.beauty_sasrec import parse_args
from benchmarks.sasrec_runs import make_model_config, make_train_config, options_from_args
from predictors.next_item import NextItemOptions
from predictors.training.recipe import quick_options, repeat_share

BEAUTY_ITEMS = 12_101


def test_the_benchmark_defaults_are_the_library_defaults() -> None:
    args = parse_args([])
    library = NextItemOptions()
    bench = options_from_args(args, seed=library.seed, max_epochs=library.max_epochs)
    differing = {k: (v, getattr(library, k)) for k, v in asdict(bench).items()
                 if getattr(library, k) != v}
    # Beauty has one event type and the benchmark draws no bars: nothing else may differ
    assert set(differing) <= {"use_event_types", "progress"}, differing


def test_the_benchmark_and_insight_train_build_identical_configs() -> None:
    args = parse_args([])
    library = NextItemOptions()
    assert make_model_config(args, BEAUTY_ITEMS) == library.model_config(BEAUTY_ITEMS)
    bench = make_train_config(args, seed=0, max_epochs=library.max_epochs, n_items=BEAUTY_ITEMS)
    ours = library.train_config(BEAUTY_ITEMS)
    assert replace(bench, progress=ours.progress) == ours
    assert ours.loss == "sampled" and ours.n_negatives == 2048  # Beauty: the size rule


@pytest.mark.parametrize(("n_items", "loss"), [(500, "full"), (4096, "full"), (4097, "sampled"),
                                               (None, "full")])
def test_the_loss_follows_the_catalog_size(n_items: int | None, loss: str) -> None:
    options = NextItemOptions(device="cpu")
    assert options.resolved_loss(n_items) == loss
    assert options.train_config(n_items).loss == loss


def test_an_explicit_loss_wins_and_negatives_fit_the_catalog() -> None:
    assert NextItemOptions(loss="sampled").train_config(100).n_negatives == 99
    assert NextItemOptions(loss="full", device="cpu").resolved_loss(50_000) == "full"
    with pytest.raises(ValueError, match="loss must be one of"):
        NextItemOptions(loss="softmax")


def test_quick_options_change_only_size_and_length() -> None:
    quick, full = quick_options(), NextItemOptions()
    changed = {k for k, v in asdict(quick).items() if getattr(full, k) != v}
    assert changed == {"d_model", "max_epochs", "batch_size"}


def test_repeat_share_counts_items_already_earlier_in_their_sequence() -> None:
    assert repeat_share([[1, 2, 3], [4, 4, 5]]) == pytest.approx(1 / 4)
    assert repeat_share([[7, 7, 7]]) == 1.0
    assert repeat_share([[1], []]) == 0.0


def test_history_is_masked_only_where_nobody_repeats_an_item() -> None:
    reviews = [[1, 2, 3, 4]] * 99 + [[5, 5]]  # 1 repeat in 298 positions: no repeat buying
    clicks = [[1, 2, 1, 3, 1]] * 10  # people return to what they viewed
    options = NextItemOptions(device="cpu")
    assert options.resolved_mask_seen(reviews) and not options.resolved_mask_seen(clicks)
    assert options.train_config(10, reviews).filter_history
    assert not options.train_config(10, clicks).filter_history
    assert not options.train_config(10).filter_history  # no data, no rule
    assert NextItemOptions(mask_seen="off").train_config(10, reviews).filter_history is False
    assert NextItemOptions(mask_seen="on").train_config(10, clicks).filter_history is True
    with pytest.raises(ValueError, match="mask_seen must be one of"):
        NextItemOptions(mask_seen="yes")


def test_the_benchmark_validates_like_insight_train_on_data_without_repeats() -> None:
    train = [[1, 2, 3], [2, 3, 4]]
    bench = make_train_config(parse_args([]), seed=0, max_epochs=30, n_items=4, train=train)
    ours = NextItemOptions().train_config(4, train)
    assert bench.filter_history and replace(bench, progress=ours.progress) == ours
