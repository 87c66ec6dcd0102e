"""`insight train --resume`: fine-tune the current next-item checkpoint on grown data."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from core.errors import InputError
from insight.cli import app
from predictors.next_item import quick_options, train_next_item
from predictors.sequences import IdVocab
from predictors.training.resume import ResumeOptions, extend_model, resume_next_item
from store.checkpoints import NEXT_ITEM, current_version, load_checkpoint, model_dir
from store.ingest import ingest
from store.sample import SAMPLE_DIR, SAMPLE_FILES
from store.workspace import Workspace

TAOBAO = next(f for f in SAMPLE_FILES if f.source == "taobao")
CUT = 1512172800  # 2017-12-02 00:00 UTC: the sample's last two days arrive later


def _split_sample(out: Path) -> tuple[Path, Path]:
    """The Taobao sample as events up to CUT and the events after it (two CSV files)."""
    with gzip.open(SAMPLE_DIR / TAOBAO.relative_path, "rt") as fh:
        lines = fh.read().splitlines()
    header, rows = lines[0], lines[1:]
    early = [r for r in rows if int(r.rsplit(",", 1)[1]) <= CUT]
    late = [r for r in rows if int(r.rsplit(",", 1)[1]) > CUT]
    paths = (out / "early.csv", out / "late.csv")
    for path, part in zip(paths, (early, late), strict=True):
        path.write_text("\n".join([header, *part]) + "\n")
    return paths


@pytest.fixture(scope="module")
def grown(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, str, list[str]]:
    """A workspace whose checkpoint saw the early events; the late ones were added after.

    Returns the workspace, the checkpoint version and the checkpoint's item ids.
    """
    base = tmp_path_factory.mktemp("resume")
    early, late = _split_sample(base)
    root = base / "ws"
    ingest(TAOBAO.kind, early, root, source="taobao", progress=False)
    ws = Workspace.open(root)
    model = train_next_item(ws, "taobao", quick_options(max_epochs=1, progress=False))
    ingest(TAOBAO.kind, late, root, source="taobao", progress=False)
    return Workspace.open(root), model.version, list(model.items.index_to_id)


def test_checkpoint_records_what_it_was_trained_on(grown: tuple[Workspace, str, list[str]]
                                                   ) -> None:
    ws, version, _ = grown
    meta = json.loads((model_dir(ws, "taobao", NEXT_ITEM) / version / "meta.json").read_text())
    assert meta["trained_on"]["last_event_ts"].startswith("2017-12-01")
    assert meta["trained_on"]["events"] > 0


def test_extend_model_copies_old_rows_and_adds_fresh_ones(
        grown: tuple[Workspace, str, list[str]]) -> None:
    ws, version, old_items = grown
    path = model_dir(ws, "taobao", NEXT_ITEM) / version
    meta = json.loads((path / "meta.json").read_text())
    state = torch.load(path / "model.pt", weights_only=True)
    vocab = IdVocab.from_dict({"index_to_id": [*old_items, "new-a", "new-b"]})
    model = extend_model(path, meta, vocab)
    table = model.item_weight.detach()
    assert table.shape == (len(old_items) + 3, state["item_emb.weight"].shape[1])
    assert torch.equal(table[: len(old_items) + 1], state["item_emb.weight"])
    assert table[-2:].abs().sum() > 0  # new rows are initialised, not zero
    assert torch.equal(model.blocks[0].attn.qkv.weight, state["blocks.0.attn.qkv.weight"])


def test_resume_grows_items_and_switches_pointer(
        grown: tuple[Workspace, str, list[str]]) -> None:
    ws, old_version, old_items = grown
    old_dir = model_dir(ws, "taobao", NEXT_ITEM) / old_version
    old_table = torch.load(old_dir / "model.pt", weights_only=True)["item_emb.weight"]
    schedule = ResumeOptions(max_epochs=1, progress=False, replay_fraction=0.0)
    model = resume_next_item(ws, "taobao", schedule)
    assert model.items.index_to_id[: len(old_items)] == old_items
    assert len(model.items) > len(old_items)  # items first seen after the cut
    table = model.model.item_weight.detach().cpu()
    assert table.shape[0] == len(model.items) + 1
    _, meta = load_checkpoint(ws, "taobao", NEXT_ITEM)
    kept_start = meta["training"]["best_epoch"] == 0  # the fine-tune validated worse
    assert torch.equal(table[: old_table.shape[0]], old_table) == kept_start
    assert current_version(ws, "taobao", NEXT_ITEM) == model.version != old_version
    _, meta = load_checkpoint(ws, "taobao", NEXT_ITEM)  # fingerprint of the grown data
    assert meta["resumed_from"] == old_version
    assert meta["resume"]["new_items"] == len(model.items) - len(old_items)
    assert 0 < meta["resume"]["users_with_new_events"] <= meta["resume"]["sequences_trained"]
    assert meta["trained_on"]["last_event_ts"].startswith("2017-12-0")
    assert meta["trained_on"]["events"] > 0


def test_resume_without_checkpoint_names_source(tmp_path: Path) -> None:
    ingest(TAOBAO.kind, SAMPLE_DIR / TAOBAO.relative_path, tmp_path / "ws", source="shop",
           progress=False)
    with pytest.raises(InputError, match=r"'shop'.*insight train"):
        resume_next_item(Workspace.open(tmp_path / "ws"), "shop")


def test_resume_refuses_other_architecture(grown: tuple[Workspace, str, list[str]]) -> None:
    ws, _, _ = grown
    with pytest.raises(InputError, match="incompatible model config: d_model=48"):
        resume_next_item(ws, "taobao", ResumeOptions(max_epochs=1, progress=False),
                         options=quick_options(d_model=48))


def test_cli_resume_end_to_end(grown: tuple[Workspace, str, list[str]]) -> None:
    ws, _, _ = grown
    before = current_version(ws, "taobao", NEXT_ITEM)
    result = CliRunner().invoke(app, ["train", "--workspace", str(ws.root), "--source",
                                      "taobao", "--resume", "--epochs", "1", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output[result.output.index("{"):])
    assert out["next_item"]["resumed_from"] == before
    assert out["next_item"]["version"] == current_version(ws, "taobao", NEXT_ITEM) != before
    assert "skipped" in out["intent"]


def test_app_and_api_pick_up_a_resumed_checkpoint_without_restart(
        grown: tuple[Workspace, str, list[str]]) -> None:
    from api.live_models import LiveModels
    from core.settings import get_settings
    from ui.context import AppContext
    from ui.models_view import metrics_frame

    ws, _, _ = grown
    ctx = AppContext(root=ws.root, settings=get_settings(), backend=None)
    live = LiveModels(ws.root, check_s=0.0)
    before = current_version(ws, "taobao", NEXT_ITEM)
    assert before in set(metrics_frame(ctx)["version"])
    assert live.get("taobao").versions[NEXT_ITEM] == before
    cards = ctx.model_cards()
    assert ctx.model_cards() is cards  # nothing published: the cached list is reused
    after = resume_next_item(ws, "taobao", ResumeOptions(max_epochs=1, progress=False)).version
    versions = set(metrics_frame(ctx)["version"])
    assert after in versions and before not in versions
    assert live.get("taobao").versions[NEXT_ITEM] == after
    assert live.get("taobao").next_item.version == after  # type: ignore[union-attr]


def test_resume_keeps_the_checkpoint_when_fine_tuning_validates_worse(
        tmp_path: Path, grown: tuple[Workspace, str, list[str]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    import predictors.training.resume as resume_module

    root = tmp_path / "ws"
    shutil.copytree(grown[0].root, root)
    ws = Workspace.open(root)
    start_path, start_meta = load_checkpoint(ws, "taobao", NEXT_ITEM, check_data=False)
    start_table = torch.load(start_path / "model.pt", weights_only=True)["item_emb.weight"]
    real_fit = resume_module.fit

    def ruinous_fit(model, *args, **kwargs):  # noqa: ANN001, ANN202 - the trainer's signature
        result = real_fit(model, *args, **kwargs)
        with torch.no_grad():
            for param in model.parameters():
                param.normal_()  # weights that rank at random
        # below any start: on this tiny sample the checkpoint itself may validate at 0.0
        # (whether one validation user gets a hit depends on the CPU's float rounding)
        result.best_valid = {**result.best_valid, "NDCG@10": -1.0}
        return result

    monkeypatch.setattr(resume_module, "fit", ruinous_fit)
    model = resume_next_item(ws, "taobao", ResumeOptions(max_epochs=1, progress=False))
    table = model.model.item_weight.detach().cpu()
    assert torch.equal(table[: start_table.shape[0]], start_table)
    _, meta = load_checkpoint(ws, "taobao", NEXT_ITEM)
    assert meta["training"]["best_epoch"] == 0
    assert meta["resumed_from"] == start_meta["version"]

