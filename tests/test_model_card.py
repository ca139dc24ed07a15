import json

from bot.model_source import shipped_adapter_dir
from finetune.model_card import render_card


def test_the_card_of_a_model_on_a_named_base_says_where_the_base_came_from():
    meta = json.loads((shipped_adapter_dir() / "feedbackbot.json").read_text())
    assert meta["base"]["kind"] == "named"
    card = render_card(meta)
    provenance = card.split("## Base model (provenance)")[1].split("##")[0]
    assert "None" not in provenance
    assert meta["base"]["package"] in provenance and meta["base"]["source_sha256"] in provenance
    assert "not the float32 original" in provenance          # the 4-bit origin is said, not hidden
    assert (shipped_adapter_dir() / "README.md").read_text(encoding="utf-8") == card   # the shipped card is current


def test_a_named_base_without_package_details_still_renders():
    meta = json.loads((shipped_adapter_dir() / "feedbackbot.json").read_text())
    meta["base"] = {"kind": "named", "name": "mpnet"}
    provenance = render_card(meta).split("## Base model (provenance)")[1].split("##")[0]
    assert "`--base mpnet`" in provenance and "None" not in provenance
