from collections import Counter

from finetune.augment import generate
from finetune.behaviour import load_suite
from finetune.data import SENTIMENT_ORDER, _dedupe_key

MAX_SHARED_TRIGRAMS = 0.02   # share of generated word 3-grams that also occur in the suite


def _trigrams(text: str) -> set[tuple[str, ...]]:
    words = _dedupe_key(text).replace(",", " ").replace(".", " ").split()
    return {tuple(words[i:i + 3]) for i in range(len(words) - 2)}


def test_generated_examples_share_no_sentence_and_almost_no_trigram_with_the_suite():
    suite = load_suite()
    generated = generate(2000, seed=1)
    assert not {_dedupe_key(e.text) for e in generated} & {_dedupe_key(c.text) for c in suite}
    suite_grams = set().union(*(_trigrams(c.text) for c in suite))
    made = Counter(g for e in generated for g in _trigrams(e.text))
    shared = sum(n for g, n in made.items() if g in suite_grams)
    assert shared / sum(made.values()) <= MAX_SHARED_TRIGRAMS, sorted(g for g in made if g in suite_grams)


def test_generation_is_reproducible_distinct_and_covers_every_behaviour():
    a, b = generate(300, seed=3), generate(300, seed=3)
    assert a == b and len({e.text for e in a}) == 300
    assert {e.capability for e in a} == {"negation", "contrast", "intensity", "emoji", "noisy_text"}
    assert {e.label for e in a} <= set(SENTIMENT_ORDER)
    assert generate(300, seed=4) != a


def test_negation_and_contrast_include_neutral_statements_of_fact():
    """A "not" or a "but" alone does not make a message a verdict: both behaviours teach neutral cases too."""
    made = generate(600, seed=5)
    for capability in ("negation", "contrast"):
        labels = Counter(e.label for e in made if e.capability == capability)
        assert set(labels) == {"negative", "neutral", "positive"}, (capability, labels)
        assert min(labels.values()) >= 0.2 * sum(labels.values()), (capability, labels)
