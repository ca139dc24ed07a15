import pytest

from bot.config import BotConfig, load_config
from finetune.config import FinetuneConfig
from finetune.typed_config import ConfigError, load


def test_defaults_toml_and_env_precedence(tmp_path):
    path = tmp_path / "fb.toml"
    path.write_text('[policy]\nambiguity_margin = 0.3\nhandoff_labels = ["anger"]\n[db]\nurl = "sqlite:///x.db"\n'
                    '[finetune]\nbase = "distilbert-base-uncased"\n[finetune.lora]\nrank = 16\n')
    cfg = load_config(path, env={"FEEDBACKBOT_DB_URL": "postgresql+psycopg://h/db",
                                 "FEEDBACKBOT_POLICY_DEFAULT_THRESHOLD": "0.7"})
    assert isinstance(cfg, BotConfig)
    assert cfg.policy.ambiguity_margin == 0.3 and cfg.policy.handoff_labels == ["anger"]
    assert cfg.policy.default_threshold == 0.7
    assert cfg.db.url == "postgresql+psycopg://h/db"
    assert cfg.server.port == 7860
    ft = load(FinetuneConfig, path, env={"FEEDBACKBOT_FINETUNE_TRAIN_EPOCHS": "9"}, section="finetune")
    assert ft.base == "distilbert-base-uncased" and ft.lora.rank == 16 and ft.lora.alpha == 16
    assert ft.train.epochs == 9


def test_env_lists_dicts_and_bools():
    cfg = load_config(None, env={"FEEDBACKBOT_SERVER_ALLOWED_ORIGINS": "https://a.example, https://b.example",
                                 "FEEDBACKBOT_POLICY_THRESHOLDS": '{"negative": 0.6}'})
    assert cfg.server.allowed_origins == ["https://a.example", "https://b.example"]
    assert cfg.policy.thresholds == {"negative": 0.6}
    ft = load(FinetuneConfig, env={"FEEDBACKBOT_FINETUNE_DATA_BALANCE": "yes", "FEEDBACKBOT_FINETUNE_RESUME": "false"},
              section="finetune")
    assert ft.data.balance is True and ft.resume is False


def test_unknown_keys_and_bad_types_are_rejected(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[policy]\nambiguity_margn = 0.3\n")
    with pytest.raises(ConfigError, match="unknown setting.*ambiguity_margn"):
        load_config(path, env={})
    path.write_text('[server]\nport = "eighty"\n')
    with pytest.raises(ConfigError, match="server.port"):
        load_config(path, env={})
    path.write_text("[server\n")
    with pytest.raises(ConfigError, match="bad.toml"):
        load_config(path, env={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml", env={})


def test_the_example_config_loads_for_bot_and_finetune():
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "feedbackbot.example.toml"
    bot = load_config(example, env={})
    assert bot == BotConfig()   # the example documents the defaults
    ft = load(FinetuneConfig, example, env={}, section="finetune")
    assert ft.lora.rank == FinetuneConfig().lora.rank and ft.out == "runs/latest"
