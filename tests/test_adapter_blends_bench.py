"""bench/adapter_blends.py: a scaled update and a soup merge into the weights their formulas say."""

import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

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


def test_a_soup_is_the_weighted_sum_of_the_two_updates(tiny_run, tmp_path):
    adapter = tiny_run[0] / "adapter"
    half = _merged(scale_update(adapter, 0.5, tmp_path / "a50"), tmp_path, "a50")
    with_itself = _merged(soup(adapter, adapter, 0.3, tmp_path / "s-self"), tmp_path, "s-self")
    full = _merged(adapter, tmp_path, "full")
    with_base = _merged(soup(adapter, scale_update(adapter, 0.0, tmp_path / "a0"), 0.5, tmp_path / "s-base"),
                        tmp_path, "s-base")
    for key in full:
        assert torch.allclose(with_itself[key], full[key], atol=1e-5), key
        assert torch.allclose(with_base[key], half[key], atol=1e-5), key


def test_blends_refuse_bad_weights_and_an_existing_output(tiny_run, tmp_path):
    adapter = tiny_run[0] / "adapter"
    with pytest.raises(ValueError, match="alpha"):
        scale_update(adapter, 1.5, tmp_path / "x")
    with pytest.raises(ValueError, match="weight"):
        soup(adapter, adapter, -0.1, tmp_path / "y")
    (tmp_path / "taken").mkdir()
    with pytest.raises(FileExistsError):
        scale_update(adapter, 0.5, tmp_path / "taken")
