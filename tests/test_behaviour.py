import json
from pathlib import Path

import pytest

from conftest import write_csv
from finetune.behaviour import Case, load_suite, overlap_with, problems, score_suite
from finetune.data import SENTIMENT_ORDER, DataError

LANGUAGES = {"en", "de", "fr", "es", "pt", "it", "nl", "pl", "ru", "tr", "ja", "zh"}
ROOT = Path(__file__).resolve().parents[1]
CAPABILITIES = {"negation", "contrast", "intensity", "emoji", "noisy_text", "domain_vocabulary",
                "neutral_and_questions", "multilingual"}


@pytest.fixture(scope="module")
def suite():
    return load_suite()


def test_the_real_suite_is_fit_to_stand_for_the_real_world(suite):
    assert len(suite) >= 400
    assert problems(suite, min_per_capability=40, min_per_language=15) == []
    assert {c.capability for c in suite} == CAPABILITIES
    assert {c.language for c in suite} == LANGUAGES
    assert {c.label for c in suite} == set(SENTIMENT_ORDER)
    domains = {c.domain for c in suite}
    assert {"hotel", "restaurant", "retail", "app", "bank", "telecom", "health", "airline"} <= domains


def test_score_suite_reports_per_capability_and_language(suite):
    constant = score_suite(lambda texts: ["neutral"] * len(texts), suite)
    assert constant["n"] == len(suite) and set(constant["by_language"]) == LANGUAGES
    assert set(constant["by_capability"]) == CAPABILITIES
    negation = [c for c in suite if c.capability == "negation"]
    expected = sum(c.label == "neutral" for c in negation) / len(negation)
    assert constant["by_capability"]["negation"]["accuracy"] == round(expected, 4)
    assert constant["by_capability"]["negation"]["recall_by_label"] == {"negative": 0.0, "neutral": 1.0,
                                                                         "positive": 0.0}
    assert len(constant["misses"]) == sum(c.label != "neutral" for c in suite)
    truth = {c.text: c.label for c in suite}
    oracle = score_suite(lambda texts: [truth[t] for t in texts], suite)
    assert oracle["accuracy"] == 1.0 and oracle["misses"] == []


def test_a_binary_model_skips_neutral_cases_instead_of_failing_them(suite):
    result = score_suite(lambda texts: ["positive"] * len(texts), suite, labels=("negative", "positive"))
    assert result["skipped_unsupported_label"] == sum(c.label == "neutral" for c in suite)
    assert result["n"] == len(suite) - result["skipped_unsupported_label"]


def test_a_broken_predict_fn_is_a_clear_error(suite):
    with pytest.raises(DataError, match="returned 1 labels"):
        score_suite(lambda texts: ["neutral"], suite)
    with pytest.raises(DataError, match=r"labels \['joy'\] outside"):
        score_suite(lambda texts: ["joy"] * len(texts), suite)


def test_overlap_with_finds_suite_texts_in_training_files(tmp_path):
    cases = [Case("Not bad at all, the pasta was great.", "positive", "negation", "en", "restaurant"),
             Case("Wann kommt mein Paket?", "neutral", "multilingual", "de", "retail")]
    leaky = write_csv(tmp_path / "train.csv", [{"text": "unrelated", "label": "neutral"},
                                               {"text": "  not BAD at all,  the pasta was great. ", "label": "positive"}])
    jsonl = tmp_path / "more.jsonl"
    jsonl.write_text(json.dumps({"review": "Wann kommt mein Paket?", "sentiment": "neutral"}) + "\n")
    clean = write_csv(tmp_path / "clean.csv", [{"text": "Not bad at all, the soup was great.", "label": "positive"}])
    assert overlap_with([leaky, jsonl, clean], cases) == {
        str(leaky): ["Not bad at all, the pasta was great."], str(jsonl): ["Wann kommt mein Paket?"]}
    assert overlap_with([clean], cases) == {}


def test_problems_flags_duplicates_thin_capabilities_and_one_sided_labels():
    cases = [Case("Great!", "positive", "emoji", "en", "general"), Case("GREAT!  ", "positive", "emoji", "en", "general"),
             Case("Bad.", "negative", "emoji", "en", "general")]
    found = problems(cases, min_per_capability=5, min_per_language=1)
    assert "capability emoji: 3 English cases < 5" in found
    assert any(p.startswith("capability emoji: labels unbalanced") for p in found)
    assert "duplicate text: 'great!'" in found


def test_load_suite_names_the_file_and_line_of_a_bad_case(tmp_path):
    good = {"text": "fine", "label": "neutral", "capability": "x", "language": "en", "domain": "general"}
    (tmp_path / "a.jsonl").write_text(json.dumps(good) + "\n" + json.dumps({**good, "label": "meh"}) + "\n")
    with pytest.raises(DataError, match=r"a.jsonl:2: label 'meh'"):
        load_suite(tmp_path)
    (tmp_path / "a.jsonl").write_text(json.dumps({"text": "x"}) + "\n")
    with pytest.raises(DataError, match="a.jsonl:1: a case has exactly the fields"):
        load_suite(tmp_path)
    (tmp_path / "a.jsonl").unlink()
    (tmp_path / "set_aside.jsonl").write_text(json.dumps({"text": "ok", "why": "ambiguous"}) + "\n")
    with pytest.raises(DataError, match="no behaviour suite files"):
        load_suite(tmp_path)


def test_no_suite_text_is_in_the_repository_training_sample(suite):
    from conftest import SAMPLE
    assert overlap_with([SAMPLE], suite) == {}


def test_the_validation_suite_is_apart_from_the_test_suite_and_from_the_generator(suite):
    """data/behaviour_validation chooses between models (bench/accuracy.py --part validation); the test suite
    then measures the chosen one. They must share no message, and the generator must not write the validation
    messages either, or choosing on them would reward memory."""
    from finetune.augment import generate
    from finetune.data import _dedupe_key

    validation = load_suite(ROOT / "data" / "behaviour_validation")
    keys = {_dedupe_key(c.text) for c in validation}
    assert len(keys) == len(validation) >= 100
    assert not keys & {_dedupe_key(c.text) for c in suite}
    assert not keys & {_dedupe_key(e.text) for e in generate(4000, seed=42)}
    assert {c.capability for c in validation} == CAPABILITIES
    assert {c.label for c in validation} == set(SENTIMENT_ORDER)
    for capability in CAPABILITIES - {"neutral_and_questions"}:     # balanced where the test suite is balanced
        labels = [c.label for c in validation if c.capability == capability]
        assert max(map(labels.count, SENTIMENT_ORDER)) - min(map(labels.count, SENTIMENT_ORDER)) <= 1, capability
