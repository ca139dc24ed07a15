"""bench/adapter_blends.py: a scaled update and a soup merge into the weights their formulas say."""

import json
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from adapter_blends import scale_update, soup  # noqa: E402

from bot.model_source import merge_adapter  # noqa: E402


def _merged(adapter: Path, tmp_path: Path, name: str) -> dict:
    target = merge_adapter(adapter, tmp_path / f"merged-{name}", log=lambda *_: None)
    return load_file(str(target / "model.safetensors"))


def test_scaling_the_update_moves_the_merged_weights_that_fraction_of_the_way(tiny_run, tmp_path):
    adapter = tiny_run[0] / "adapter"
    full = _merged(adapter, tmp_path, "full")
    none = _merged(scale_update(adapter, 0.0, tmp_path / "a0"), tmp_path, "a0")
    part = _merged(scale_update(adapter, 0.25, tmp_path / "a25"), tmp_path, "a25")
    moved = [k for k in full if not torch.equal(full[k], none[k])]
    assert any("q_lin" in k for k in moved) and any("lin1" in k for k in moved)    # the update is not empty
    for key in full:
        assert torch.allclose(part[key], none[key] + 0.25 * (full[key] - none[key]), atol=1e-5), key


def _with_other_head(adapter: Path, out: Path) -> Path:
    """A twin of ``adapter`` with no update and a different head: what the soup weighs against."""
    twin = scale_update(adapter, 0.0, out)
    tensors = load_file(str(twin / "adapter_model.safetensors"))
    save_file({k: v + 0.5 if ".lora_" not in k else v for k, v in tensors.items()},
              str(twin / "adapter_model.safetensors"), metadata={"format": "pt"})
    return twin


def test_a_soup_is_the_weighted_sum_of_the_two_updates_and_heads(tiny_run, tmp_path):
    adapter = tiny_run[0] / "adapter"
    full = _merged(adapter, tmp_path, "full")
    with_itself = _merged(soup(adapter, adapter, 0.3, tmp_path / "s-self"), tmp_path, "s-self")
    twin = _with_other_head(adapter, tmp_path / "twin")
    twin_merged = _merged(twin, tmp_path, "twin")
    mixed = _merged(soup(adapter, twin, 0.3, tmp_path / "s-twin"), tmp_path, "s-twin")
    heads = [k for k in full if "classifier" in k]
    assert heads and all(not torch.equal(full[k], twin_merged[k]) for k in heads)
    for key in full:
        assert torch.allclose(with_itself[key], full[key], atol=1e-5), key
        # 0.3 of the first adapter's update and head, 0.7 of the twin's (no update, its own head)
        assert torch.allclose(mixed[key], 0.3 * full[key] + 0.7 * twin_merged[key], atol=1e-5), key


def test_only_plain_lora_twins_soup(tiny_run, tmp_path):
    adapter = tiny_run[0] / "adapter"
    rslora = scale_update(adapter, 1.0, tmp_path / "rs")
    config = json.loads((rslora / "adapter_config.json").read_text())
    (rslora / "adapter_config.json").write_text(json.dumps({**config, "use_rslora": True}))
    with pytest.raises(ValueError, match="LoRA settings"):
        soup(adapter, rslora, 0.5, tmp_path / "x")
    with pytest.raises(ValueError, match="plain LoRA"):
        soup(rslora, rslora, 0.5, tmp_path / "y")


def test_blends_refuse_bad_weights_and_an_existing_output(tiny_run, tmp_path):
    adapter = tiny_run[0] / "adapter"
    with pytest.raises(ValueError, match="alpha"):
        scale_update(adapter, 1.5, tmp_path / "x")
    with pytest.raises(ValueError, match="weight"):
        soup(adapter, adapter, -0.1, tmp_path / "y")
    (tmp_path / "taken").mkdir()
    with pytest.raises(FileExistsError):
        scale_update(adapter, 0.5, tmp_path / "taken")
