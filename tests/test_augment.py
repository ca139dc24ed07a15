import re
from collections import Counter
from pathlib import Path

import pytest

from finetune.augment import generate
from finetune.behaviour import load_suite, word_trigrams
from finetune.data import SENTIMENT_ORDER, _dedupe_key

VALIDATION_SUITE = Path(__file__).resolve().parents[1] / "data" / "behaviour_validation"
MAX_SHARED_TRIGRAMS = 0.02   # share of generated word 3-grams that also occur in the suite




def test_generated_examples_share_no_sentence_and_almost_no_trigram_with_the_suite():
    suite = load_suite()
    generated = generate(2000, seed=1)
    assert not {_dedupe_key(e.text) for e in generated} & {_dedupe_key(c.text) for c in suite}
    suite_grams = set().union(*(word_trigrams(c.text) for c in suite))
    made = Counter(g for e in generated for g in word_trigrams(e.text))
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


def _shared_trigram_share(generated, suite):
    suite_grams = set().union(*(word_trigrams(c.text) for c in suite))
    made = Counter(g for e in generated for g in word_trigrams(e.text))
    return sum(n for g, n in made.items() if g in suite_grams) / sum(made.values())


@pytest.mark.parametrize("version", [2, 3, 4, 5, 6])
@pytest.mark.parametrize("suite_dir", [None, VALIDATION_SUITE], ids=["test suite", "validation suite"])
def test_versions_2_to_6_share_no_sentence_and_almost_no_trigram_with_either_suite(suite_dir, version):
    suite = load_suite(suite_dir) if suite_dir else load_suite()
    generated = generate(5000, seed=42, version=version)
    assert not {_dedupe_key(e.text) for e in generated} & {_dedupe_key(c.text) for c in suite}
    assert _shared_trigram_share(generated, suite) <= MAX_SHARED_TRIGRAMS


def _in_either_suite(words) -> list[str]:
    """Those of ``words`` that occur in the test or the validation suite, on word boundaries (so a suite word
    followed by punctuation, "spotless.", counts too)."""
    suite_text = " ".join(_dedupe_key(c.text) for d in (None, VALIDATION_SUITE)
                          for c in (load_suite(d) if d else load_suite()))
    return [w for w in words if re.search(rf"(?<!\w){re.escape(w.casefold())}(?!\w)", suite_text)]


def test_version_2_words_are_not_the_suites_words():
    """The suite's own praise words (spotless, painless, flawless, "not bad", "no complaints") stay unseen in
    training: the model must get them by understanding, or the suite would measure memory."""
    from finetune import augment

    assert _in_either_suite(augment.SUFFIX_PRAISE + augment.SUFFIX_BLAME + augment.MILD_BAD + augment.SNAGS) == []
    assert _in_either_suite(("spotless",)) == ["spotless"]      # the check sees "spotless" before punctuation


def test_version_2_adds_its_behaviours_and_a_third_of_negations_are_neutral():
    made = generate(4000, seed=7, version=2)
    capabilities = Counter(e.capability for e in made)
    assert set(capabilities) == {"negation", "contrast", "intensity", "emoji", "noisy_text", "suffix_words",
                                 "litotes", "questions"}
    negation = Counter(e.label for e in made if e.capability == "negation")
    assert 0.28 <= negation["neutral"] / sum(negation.values()) <= 0.4, negation
    assert {e.label for e in made if e.capability == "litotes"} == {"positive"}
    assert {e.label for e in made if e.capability == "suffix_words"} == {"positive", "negative"}
    assert set(Counter(e.label for e in made if e.capability == "questions")) == set(SENTIMENT_ORDER)
    assert all(e.text.endswith("?") or "?" in e.text for e in made if e.capability == "questions")


def test_version_1_is_what_the_shipped_model_was_trained_on_and_unknown_versions_are_refused():
    """Version 2 leaves version 1 alone: multilingual-aug.toml must keep reproducing the shipped default."""
    v1 = generate(400, seed=42)
    assert v1 == generate(400, seed=42, version=1)
    assert {e.capability for e in v1} == {"negation", "contrast", "intensity", "emoji", "noisy_text"}
    assert v1[0].text == "The parking operator wasn't careless." and v1[0].label == "positive"
    with pytest.raises(ValueError, match="augment version 7 is unknown"):
        generate(10, version=7)


def test_version_3_degree_and_mild_verdict_words_are_not_the_suites_words():
    from finetune import augment

    assert _in_either_suite(augment.STRONG + augment.MILD + augment.MILD_PRAISE + augment.MILD_BLAME) == []


def test_version_3_negation_and_intensity_cover_all_three_labels_and_differ_from_version_2():
    made = generate(4000, seed=7, version=3)
    for capability in ("negation", "intensity"):
        labels = Counter(e.label for e in made if e.capability == capability)
        assert set(labels) == set(SENTIMENT_ORDER), (capability, labels)
        assert 0.25 <= labels["neutral"] / sum(labels.values()) <= 0.42, (capability, labels)
    # negated actions, not only negated adjectives
    assert any(e.label == "negative" and "never got back" in e.text for e in made)
    assert any(e.label == "positive" and "didn't put a foot wrong" in e.text for e in made)
    # a degree word on a fact stays neutral; a mild complaint stays a complaint
    assert any(e.label == "neutral" and " wide" in e.text for e in made if e.capability == "intensity")
    assert any(e.label == "negative" and " a wee bit " in e.text for e in made if e.capability == "intensity")
    assert generate(400, seed=42, version=2) != generate(400, seed=42, version=3)


def test_version_2_still_makes_the_shipped_defaults_synthetic_rows():
    """Version 3 shares helpers with version 2; their draws must stay in version 2's order, or
    multilingual-aug2.toml would no longer reproduce the previous default (aug2). The digest is of version 2's 5,000 rows
    as the shipped model was trained on them (commit 29f9f3b, before version 3 existed)."""
    import hashlib

    rows = "\n".join(f"{e.label}\t{e.capability}\t{e.text}" for e in generate(5000, seed=42, version=2))
    assert hashlib.sha256(rows.encode()).hexdigest() == (
        "41dafe2b1284fe9a1772d09caf388615939b304ac6e189ca184d6b0c1dbc6c29")


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text) if s]


def test_version_4_reviews_cover_six_languages_and_their_label_follows_the_verdict_they_end_on():
    """Each review's label is its verdict's: a positive review holds praise sentences and no blame, a negative one
    the reverse (a mild point of the other polarity may come before the turn), a neutral one no verdict and no
    title. English behaviours are version 2's, about as many as before."""
    from finetune.augment import REVIEW_WORDS

    made = generate(6250, seed=42, version=4)
    reviews = [e for e in made if e.capability == "reviews"]
    assert 1100 <= len(reviews) <= 1400
    assert {e.language for e in made if e.capability != "reviews"} == {"en"}
    assert set(Counter(e.language for e in reviews)) == {"de", "fr", "nl", "es", "pt", "it"}
    for language, words in REVIEW_WORDS.items():
        mine = [e for e in reviews if e.language == language]
        assert set(Counter(e.label for e in mine)) == set(SENTIMENT_ORDER), language
        verdicts = {"positive": words.praise + words.praise_titles, "negative": words.blame + words.blame_titles}

        def holds(text: str, pool) -> bool:
            forms = {v.format(x=i) for v in pool for i in words.items} if any("{x}" in v for v in pool) else set()
            forms |= {v for v in pool if "{x}" not in v}
            low = text.casefold()
            return any(f.casefold().rstrip(".!") in low for f in forms)

        for e in mine:
            if e.label == "neutral":
                assert not holds(e.text, verdicts["positive"]) and not holds(e.text, verdicts["negative"]), e.text
                assert all(s in words.context + words.facts for s in _sentences(e.text)), e.text
            else:
                other = "negative" if e.label == "positive" else "positive"
                assert holds(e.text, verdicts[e.label]) and not holds(e.text, verdicts[other]), e.text
    english = Counter(e.capability for e in made if e.capability != "reviews")
    assert min(english.values()) >= 600, english      # version 2's eight behaviours keep ~625 rows each


def test_the_mix_marks_version_4_reviews_with_their_language(tmp_path):
    import csv

    from finetune.mix import MixConfig, build_mix

    out = tmp_path / "mix.csv"
    build_mix(MixConfig(out=str(out), augment=200, augment_version=4), tmp_path, log=lambda *_: None)
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    made = {e.text: e.language for e in generate(200, seed=42, version=4)}
    assert len(rows) == 200 and {r["language"] for r in rows} == {"en", "de", "fr", "nl", "es", "pt", "it"}
    assert all(made[r["text"]] == r["language"] for r in rows)


def test_version_4_still_makes_the_shipped_defaults_synthetic_rows():
    """The previous default (multilingual-aug4.toml) was trained on exactly these 6,250 rows (checked against the
    mix it was trained from); a fix to version 4's sentences belongs in a version 5, or the recipe would no longer
    reproduce the model."""
    import hashlib

    rows = "\n".join(f"{e.label}\t{e.capability}\t{e.language}\t{e.text}"
                     for e in generate(6250, seed=42, version=4))
    assert hashlib.sha256(rows.encode()).hexdigest() == (
        "c9ab6a6be89ecc8ce62fd0bc3d1d61da29c58497ed50c0e594b2212de79913f2")


def test_version_4_mild_points_come_from_the_other_polarity_and_about_a_fifth_are_neutral():
    """A positive review may concede a weak point, a negative one a good point, never the reverse; and the
    neutral share is what the recipe's comment says (a quarter is drawn, duplicates of the small neutral pool are
    redrawn, mostly as verdicts)."""
    from finetune.augment import REVIEW_WORDS

    reviews = [e for e in generate(6250, seed=42, version=4) if e.capability == "reviews"]
    for e in reviews:
        words = REVIEW_WORDS[e.language]
        if e.label == "positive":
            assert not any(m in e.text for m in words.mild_praise), e.text
        if e.label == "negative":
            assert not any(m in e.text for m in words.mild_blame), e.text
    assert any(m in e.text for e in reviews if e.label == "positive" for m in REVIEW_WORDS[e.language].mild_blame)
    share = sum(e.label == "neutral" for e in reviews) / len(reviews)
    assert 0.15 <= share <= 0.25, share


def test_version_5_book_reviews_cover_three_languages_and_their_label_follows_their_verdicts():
    """Book reviews: a positive one holds praise (sentences or title) and no blame, a negative one the reverse; a
    point of the other polarity only ever comes before the turn; a neutral one is context and plot summary alone.
    Version 4's product reviews and the English behaviours keep their counts."""
    from finetune.augment import BOOK_WORDS

    made = generate(7500, seed=42, version=5)
    books = [e for e in made if e.capability == "book_reviews"]
    counts = Counter(e.capability for e in made)
    assert 1200 <= len(books) <= 1300 and 1200 <= counts["reviews"] <= 1300, counts
    assert min(n for c, n in counts.items() if c not in ("reviews", "book_reviews")) >= 600, counts
    assert set(Counter(e.language for e in books)) == {"de", "fr", "nl"}
    for language, words in BOOK_WORDS.items():
        mine = [e for e in books if e.language == language]
        assert set(Counter(e.label for e in mine)) == set(SENTIMENT_ORDER), language
        summaries = {s.format(n=n) for s in words.summary for n in words.names}
        praise = (words.praise, words.praise_titles)
        blame = (words.blame, words.blame_titles)

        def holds(text: str, pool) -> bool:
            """A verdict sentence anywhere (after a turn it starts lower case), or a title as the first sentence
            (a title word may recur inside a mild point: "Langdradig" in "langdradige stukken")."""
            sentences, titles = pool
            low = text.casefold()
            return (any(v.casefold().rstrip(".!") in low for v in sentences)
                    or _sentences(text)[0].rstrip(".!") in titles)

        for e in mine:
            assert any(s in e.text for s in summaries), e.text
            if e.label == "neutral":
                assert not holds(e.text, praise) and not holds(e.text, blame), e.text
                assert all(s in words.context + tuple(summaries) for s in _sentences(e.text)), e.text
            elif e.label == "positive":
                assert holds(e.text, praise) and not holds(e.text, blame), e.text
                assert not any(m in e.text for m in words.mild_praise), e.text
            else:
                assert holds(e.text, blame) and not holds(e.text, praise), e.text
                assert not any(m in e.text for m in words.mild_blame), e.text
    share = sum(e.label == "neutral" for e in books) / len(books)
    assert 0.10 <= share <= 0.22, share


def test_version_5_questions_complain_or_praise_and_text_speak_keeps_its_label():
    """Questions come in all three labels, a complaining question is negative and a neutral one asks only; text-speak
    rows use short forms and carry no apostrophe; both keep version 2's neutral cases."""
    from finetune.augment import (_QUESTION_NEGATIVE, _QUESTION_NEGATIVE_5, _QUESTION_NEUTRAL, _SPEAK_CLAUSES,
                                  _TEXT_SPEAK, SUBJECTS)

    made = generate(7500, seed=42, version=5)
    questions = [e for e in made if e.capability == "questions"]
    labels = Counter(e.label for e in questions)
    assert set(labels) == set(SENTIMENT_ORDER) and labels["negative"] >= 0.3 * len(questions), labels

    def shape(form: str) -> re.Pattern:
        parts = re.split(r"\{[sbg]\}", form)
        return re.compile(".+".join(re.escape(p) for p in parts), re.IGNORECASE)

    negative = [shape(f) for f in _QUESTION_NEGATIVE + _QUESTION_NEGATIVE_5]
    neutral = [shape(f) for f in _QUESTION_NEUTRAL]
    assert any(shape(f).fullmatch(e.text) for e in questions for f in _QUESTION_NEGATIVE_5)
    for e in questions:
        if e.label == "negative":
            assert any(p.fullmatch(e.text) for p in negative), e.text
        if e.label == "neutral":
            assert any(p.fullmatch(e.text) for p in neutral), e.text
    short = set(_TEXT_SPEAK.values())
    speak = [e for e in made if e.capability == "noisy_text" and set(e.text.casefold().split()) & short]
    assert len(speak) >= 150 and all("'" not in e.text for e in speak)
    clauses = {label: {c.format(s=s).replace("'", "").replace(",", "") for c in pool for s in SUBJECTS}
               for label, pool in _SPEAK_CLAUSES.items()}
    words_back = {v: k for k, v in _TEXT_SPEAK.items()}
    for e in speak:
        plain = " ".join(words_back.get(w, w) for w in e.text.casefold().split())
        owners = {label for label, pool in clauses.items() if plain in {c.casefold() for c in pool}}
        assert owners <= {e.label}, (e.text, owners)     # a row with a dropped letter matches no clause


def test_the_mix_marks_version_5_book_reviews_with_their_language(tmp_path):
    import csv

    from finetune.mix import MixConfig, build_mix

    out = tmp_path / "mix.csv"
    build_mix(MixConfig(out=str(out), augment=240, augment_version=5), tmp_path, log=lambda *_: None)
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    made = {e.text: (e.language, e.capability) for e in generate(240, seed=42, version=5)}
    assert len(rows) == 240 and all(made[r["text"]][0] == r["language"] for r in rows)
    assert {made[r["text"]][0] for r in rows if made[r["text"]][1] == "book_reviews"} == {"de", "fr", "nl"}


def test_version_5_makes_the_rows_multilingual_aug5_was_trained_on():
    """The shipped default (multilingual-aug5.toml) was trained on exactly these 7,500 rows (checked against the mix
    it was trained from); a fix to version
    5's sentences belongs in a version 6."""
    import hashlib

    rows = "\n".join(f"{e.label}\t{e.capability}\t{e.language}\t{e.text}"
                     for e in generate(7500, seed=42, version=5))
    assert hashlib.sha256(rows.encode()).hexdigest() == (
        "80abf1658e830b2fae43526b1193ec05b8e183509a695d5a27e104df01430d81")


def test_version_6_text_speak_is_balanced_across_labels_and_keeps_its_label():
    """Version 5's text-speak was three quarters polar (the model learnt "short and lower case means a verdict");
    version 6 draws the labels evenly, each text-speak row's plain form is a clause of its own label only, and its
    intensity rows include neutral facts with a degree word; the rest is version 5's (whose digest test pins it)."""
    from finetune.augment import _SPEAK_CLAUSES_6, _TEXT_SPEAK_6, SUBJECTS

    made = generate(7500, seed=42, version=6)
    clauses = {label: {c.format(s=s).replace("'", "").replace(",", "").casefold() for c in pool for s in SUBJECTS}
               for label, pool in _SPEAK_CLAUSES_6.items()}
    words_back = {v: k for k, v in _TEXT_SPEAK_6.items()}
    speak = []
    for e in (e for e in made if e.capability == "noisy_text"):
        plain = " ".join(words_back.get(w, w) for w in e.text.casefold().split())
        owners = {label for label, pool in clauses.items() if plain in pool}
        assert owners <= {e.label}, (e.text, owners)
        if owners:
            speak.append(e)
    labels = Counter(e.label for e in speak)
    assert len(speak) >= 200 and set(labels) == set(SENTIMENT_ORDER), labels
    assert min(labels.values()) >= 0.25 * len(speak), labels           # version 5: neutral about a fifth
    assert any(e.text != e.text.lower() and e.text == e.text.upper() for e in speak)
    intensity = Counter(e.label for e in made if e.capability == "intensity")
    assert 0.25 <= intensity["neutral"] / sum(intensity.values()) <= 0.42, intensity
    assert {e.capability for e in made} >= {"book_reviews", "reviews", "questions", "litotes"}
