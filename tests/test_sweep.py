"""`feedbackbot sweep`: a grid of real fine-tuning runs on the tiny base, the winner chosen on validation."""

import json
from pathlib import Path

import pytest

from bot.cli import main
from finetune.config import FinetuneConfig
from finetune.sweep import SweepConfig, plan, with_overrides
from finetune.typed_config import ConfigError

from conftest import SAMPLE


def sweep_toml(path: Path, base: Path, out: Path, jobs: int) -> Path:
    path.write_text(f"""
[finetune]
base = "{base}"
[finetune.data]
path = "{SAMPLE}"
max_length = 48
seed = 1
val_fraction = 0.2
test_fraction = 0.2
[finetune.lora]
rank = 4
alpha = 8
dropout = 0.0
[finetune.train]
epochs = 2
batch_size = 16
eval_batch_size = 64
early_stopping_patience = 5
seed = 3

[sweep]
out = "{out}"
jobs = {jobs}
[sweep.grid]
"train.learning_rate" = [1e-6, 2e-2]
""")
    return path


def test_sweep_runs_every_trial_picks_the_validation_best_and_resumes(tiny_base, tmp_path, capsys):
    out = tmp_path / "sweep"
    config = sweep_toml(tmp_path / "sweep.toml", tiny_base, out, jobs=2)
    assert main(["sweep", "--config", str(config)]) == 0          # two worker processes
    summary = json.loads((out / "sweep.json").read_text())
    assert [t["status"] for t in summary["trials"]] == ["done", "done"]
    val = {}
    for name in ("trial-01", "trial-02"):
        meta = json.loads((out / name / "adapter" / "feedbackbot.json").read_text())
        assert (out / name / "model" / "model.safetensors").is_file()
        val[name] = meta["metrics"]["validation"]["macro_f1"]
    assert summary["best"] == max(val, key=val.get)
    assert summary["best_overrides"] == {"train.learning_rate": 2e-2}   # 1e-6 barely moves a random model
    assert summary["best_test"]["n"] == 60
    table = (out / "sweep.md").read_text()
    assert "trial-01" in table and "**trial-02**" in table and table.count("Its test split") == 1
    assert (out / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    stamp = (out / "trial-01" / "adapter" / "adapter_model.safetensors").stat().st_mtime_ns
    assert main(["sweep", "--config", str(config), "--jobs", "1"]) == 0  # finished trials are reused, not rerun
    assert (out / "trial-01" / "adapter" / "adapter_model.safetensors").stat().st_mtime_ns == stamp
    assert json.loads((out / "sweep.json").read_text())["best"] == summary["best"]


def test_sweep_grid_is_checked_before_anything_trains(tmp_path):
    base = FinetuneConfig(out=str(tmp_path))
    assert with_overrides(base, {"data.max_length": 64, "lora.rank": 16}).lora.rank == 16
    coupled = with_overrides(base, {"lora": {"rank": 16, "alpha": 32}}).lora
    assert (coupled.rank, coupled.alpha, coupled.target_modules) == (16, 32, "all-linear")
    with pytest.raises(ConfigError, match="unknown setting.*ranks"):
        with_overrides(base, {"lora": {"ranks": 16}})
    with pytest.raises(ConfigError, match="not a \\[finetune\\] setting"):
        with_overrides(base, {"train.nope": 1})
    with pytest.raises(ConfigError, match="not a \\[finetune\\] setting"):
        with_overrides(base, {"data": 3})
    with pytest.raises(ConfigError, match="max_length"):
        with_overrides(base, {"data.max_length": "long"})
    with pytest.raises(ConfigError, match="metric"):
        plan(base, SweepConfig(metric="loss", grid={"lora.rank": [8]}))
    with pytest.raises(ConfigError, match="no values"):
        plan(base, SweepConfig(grid={"lora.rank": []}))
    trials = plan(base, SweepConfig(out=str(tmp_path), grid={"lora.rank": [8, 16], "data.max_length": [64, 128]}))
    assert [t.overrides for t in trials] == [{"lora.rank": 8, "data.max_length": 64}, {"lora.rank": 8, "data.max_length": 128},
                                             {"lora.rank": 16, "data.max_length": 64}, {"lora.rank": 16, "data.max_length": 128}]
    assert len({t.config.out for t in trials}) == 4


def test_sweep_without_data_is_a_clear_error(tmp_path, capsys):
    config = tmp_path / "s.toml"
    config.write_text('[sweep]\n[sweep.grid]\n"lora.rank" = [8]\n')
    assert main(["sweep", "--config", str(config)]) == 2
    assert "no training data" in capsys.readouterr().err
