"""Every shipped recipe loads into the typed configuration it is run with: a recipe with an unknown key, a typo or
a value of the wrong type fails here rather than an hour into a user's 2-core run."""

import tomllib
from pathlib import Path

import pytest

from finetune import typed_config
from finetune.config import FinetuneConfig
from finetune.mix import MixConfig
from finetune.sweep import SweepConfig

RECIPES = sorted((Path(__file__).resolve().parents[1] / "finetune" / "recipes").glob("*.toml"))


def test_the_recipes_are_found():
    assert len(RECIPES) >= 5 and any(p.name == "multilingual-aug2.toml" for p in RECIPES)


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_every_section_of_a_recipe_loads(recipe):
    sections = tomllib.loads(recipe.read_text())
    assert "finetune" in sections
    cfg = typed_config.load(FinetuneConfig, recipe, env={}, section="finetune")
    assert cfg.data.path and cfg.base
    if "mix" in sections:
        mix = typed_config.load(MixConfig, recipe, env={}, section="mix")
        # the mix a recipe writes is the data its finetune reads
        assert Path(mix.out).expanduser() == Path(cfg.data.path).expanduser()
    if "sweep" in sections:
        typed_config.load(SweepConfig, recipe, env={}, section="sweep")


def test_a_misspelt_key_is_refused(tmp_path):
    recipe = tmp_path / "typo.toml"
    recipe.write_text('[finetune]\nbase = "default"\n[finetune.lora]\nfrozen_layer = 6\n')
    with pytest.raises(typed_config.ConfigError, match="frozen_layer"):
        typed_config.load(FinetuneConfig, recipe, env={}, section="finetune")


def _differs_only_in(reference: str, candidate: str, section: str | None, key: str):
    """Checks that recipe ``candidate`` is recipe ``reference`` but for its output folder and ``[finetune.<section>]
    key`` (``[finetune] key`` for section None), which only ``candidate`` sets; returns the raw value it sets and
    both recipes' typed finetune configurations, for the caller to check the setting itself."""
    folder = RECIPES[0].parent
    ref, cand = (tomllib.loads((folder / name).read_text()) for name in (reference, candidate))
    value = (cand["finetune"][section] if section else cand["finetune"]).pop(key)
    assert cand["finetune"].pop("out") != ref["finetune"].pop("out")
    assert cand == ref
    return value, *(typed_config.load(FinetuneConfig, folder / name, env={}, section="finetune")
                    for name in (reference, candidate))


def test_the_upper_layers_recipe_differs_from_the_aug2_recipe_it_was_measured_against_in_that_setting_only():
    value, _, top6 = _differs_only_in("multilingual-aug2.toml", "multilingual-aug2-top6.toml", "lora", "frozen_layers")
    assert value == top6.lora.frozen_layers == 6


def test_the_seed_rerun_differs_from_the_shipped_recipe_in_its_training_seed_only():
    """multilingual-aug5-seed7 measures what a retrain alone does: same mix file, rows and splits as aug5."""
    value, shipped, rerun = _differs_only_in("multilingual-aug5.toml", "multilingual-aug5-seed7.toml", "train", "seed")
    assert (value, rerun.train.seed, shipped.train.seed) == (7, 7, 42)


def test_the_shallower_recipe_differs_from_the_shipped_recipe_in_its_depth_only():
    """multilingual-aug5-8layers measures what dropping the base's top 4 layers does: same mix file, rows, splits,
    seed, LoRA and schedule as aug5."""
    value, shipped, shallow = _differs_only_in("multilingual-aug5.toml", "multilingual-aug5-8layers.toml", None,
                                               "keep_layers")
    assert (value, shallow.keep_layers, shipped.keep_layers) == (8, 8, 0)


def _taught_by_soft_labels(reference: str, candidate: str) -> None:
    """Checks that recipe ``candidate`` is recipe ``reference``'s [finetune] but for its output folder, its data (a
    soft-label file instead of the mix) and the distillation loss (KL at T = 2 plus 0.5 x gold cross-entropy)."""
    folder = RECIPES[0].parent
    ref, taught = (tomllib.loads((folder / name).read_text())["finetune"] for name in (reference, candidate))
    assert taught.pop("out") != ref.pop("out")
    assert taught["data"].pop("path").endswith(".jsonl") and ref["data"].pop("path").endswith(".csv")
    assert (taught["train"].pop("distill_temperature"), taught["train"].pop("distill_alpha")) == (2.0, 0.5)
    assert taught == ref


def test_the_distilled_shallow_recipe_is_the_shallow_recipe_taught_by_soft_labels():
    """multilingual-aug5-8layers-distill: the 8-layer recipe's base, depth, splits, LoRA and schedule; only the data
    (the teacher's soft-label file, no mix) and the distillation loss differ."""
    _taught_by_soft_labels("multilingual-aug5-8layers.toml", "multilingual-aug5-8layers-distill.toml")


def test_the_mpnet_distilled_recipe_is_the_shipped_recipe_taught_by_soft_labels():
    """multilingual-aug5-mpnet-distill: aug5's base, depth, splits, LoRA and schedule; only the data (the combined
    soft-label file) and the distillation loss differ. Its teacher reads only rows of aug5's training split."""
    folder = RECIPES[0].parent
    _taught_by_soft_labels("multilingual-aug5.toml", "multilingual-aug5-mpnet-distill.toml")
    teacher = typed_config.load(FinetuneConfig, folder / "teacher-mpnet-en.toml", env={}, section="finetune")
    assert teacher.base == "mpnet" and "teacher-subset" in (folder / "teacher-mpnet-en.toml").read_text()


def test_the_shipped_default_was_trained_by_the_recipe_the_readme_names():
    """bot/default_model records the data file and the training settings it was made with; the recipe README names
    (multilingual-aug5.toml) must be the one that writes that file and trains with those settings."""
    import json

    folder = RECIPES[0].parent
    meta = json.loads((folder.parents[1] / "bot" / "default_model" / "feedbackbot.json").read_text())
    cfg = typed_config.load(FinetuneConfig, folder / "multilingual-aug5.toml", env={}, section="finetune")
    mix = typed_config.load(MixConfig, folder / "multilingual-aug5.toml", env={}, section="mix")
    assert meta["data"]["path"] == cfg.data.path == mix.out
    assert meta["data"]["stats"]["rows_read"] == sum(mix.rows.values()) + mix.augment == 43500
    assert (mix.augment, mix.augment_version) == (7500, 5)
    lora = meta["training"]["lora"]
    assert (lora["rank"], lora["alpha"], lora["target_modules"], lora["frozen_layers"]) == \
        (cfg.lora.rank, cfg.lora.alpha, cfg.lora.target_modules, cfg.lora.frozen_layers)
    train = meta["training"]["settings"]
    assert (train["epochs"], train["learning_rate"], train["batch_size"]) == \
        (cfg.train.epochs, cfg.train.learning_rate, cfg.train.batch_size)
    assert "multilingual-aug5.toml" in (folder.parents[1] / "README.md").read_text()
