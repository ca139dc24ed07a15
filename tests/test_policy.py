import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.config import PolicyConfig
from bot.policy import (HIGH, LOW, Pending, Prediction, band, decide_prediction, decide_turn, label_named,
                        read_answer, threshold_for)

LABELS = ["negative", "neutral", "positive"]
CFG = PolicyConfig(default_threshold=0.8, ambiguity_margin=0.15)


def pred(neg, neu, pos):
    probs = {"negative": neg, "neutral": neu, "positive": pos}
    return Prediction(max(probs, key=probs.get), probs)


# (probabilities, config thresholds, model thresholds) -> (template, band, handoff, ask_review)
TABLE = [
    ((0.95, 0.03, 0.02), {}, {}, ("negative_high", HIGH, True, False)),        # confident negative: hand-off
    ((0.02, 0.03, 0.95), {}, {}, ("positive_high", HIGH, False, True)),        # confident positive: thanks+review
    ((0.05, 0.90, 0.05), {}, {}, ("neutral_high", HIGH, False, False)),
    ((0.70, 0.20, 0.10), {}, {}, ("negative_low", LOW, False, False)),          # below default 0.8, clear margin
    ((0.70, 0.20, 0.10), {}, {"negative": 0.65}, ("negative_high", HIGH, True, False)),   # model threshold
    ((0.70, 0.20, 0.10), {"negative": 0.75}, {"negative": 0.65}, ("negative_low", LOW, False, False)),  # config wins
    ((0.70, 0.20, 0.10), {}, {"negative": None}, ("negative_low", LOW, False, False)),  # None -> default 0.8
    ((0.45, 0.40, 0.15), {"negative": 0.4}, {}, ("clarify", LOW, False, False)),  # confident but ambiguous
    ((0.40, 0.35, 0.25), {}, {}, ("clarify", LOW, False, False)),               # low and ambiguous
    ((0.10, 0.30, 0.60), {}, {}, ("positive_low", LOW, False, False)),
    ((0.10, 0.10, 0.80), {}, {}, ("positive_high", HIGH, False, True)),         # exactly at threshold
]


@pytest.mark.parametrize("probs,cfg_thr,model_thr,expected", TABLE)
def test_policy_table(probs, cfg_thr, model_thr, expected):
    cfg = PolicyConfig(thresholds=cfg_thr, default_threshold=0.8, ambiguity_margin=0.15)
    d = decide_prediction(pred(*probs), cfg, model_thr)
    assert (d.template, d.band, d.handoff, d.ask_review) == expected
    assert d.ask_about_self == (d.band == LOW)
    assert d.correction is None


def test_threshold_precedence():
    cfg = PolicyConfig(thresholds={"neutral": 0.5}, default_threshold=0.9)
    assert threshold_for("neutral", cfg, {"neutral": 0.7}) == 0.5
    assert threshold_for("negative", cfg, {"negative": 0.7}) == 0.7
    assert threshold_for("positive", cfg, {}) == 0.9


@pytest.mark.parametrize("text,leaning,expected", [
    ("yes", "negative", "negative"), ("Yeah that's right", "positive", "positive"),
    ("no", "negative", None), ("it was bad", "positive", "negative"), ("great!", "negative", "positive"),
    ("neutral", "negative", "neutral"), ("not good", "positive", None), ("hmm", "negative", None),
    ("No, it was terrible, the staff were rude and the food was cold", "positive", "negative"),
    ("love the new app, checkout is quick and the delivery was on time", "negative", None),  # a new message
])
def test_reading_answers_to_a_clarifying_question(text, leaning, expected):
    assert read_answer(text, Pending(7, leaning), LABELS) == expected


def test_answer_to_clarification_records_a_correction_and_replies_for_that_label():
    d = decide_turn("it was bad", pred(0.3, 0.4, 0.3), Pending(7, "neutral"), 7, "neutral", LABELS, CFG, {})
    assert d.correction == (7, "negative") and d.template == "negative_high" and d.handoff
    assert d.pending is None


def test_unclear_answer_is_treated_as_a_new_message():
    d = decide_turn("hmm", pred(0.05, 0.9, 0.05), Pending(7, "negative"), 7, "negative", LABELS, CFG, {})
    assert d.correction is None and d.template == "neutral_high"


def test_customer_says_the_bot_was_wrong_with_and_without_the_right_label():
    d = decide_turn("you got it wrong, I'm actually happy", pred(0.2, 0.2, 0.6), None, 11, "negative", LABELS, CFG, {})
    assert d.correction == (11, "positive") and d.template == "positive_high"
    d = decide_turn("that's wrong", pred(0.6, 0.3, 0.1), None, 11, "negative", LABELS, CFG, {})
    assert d.template == "correction" and d.correction is None
    assert d.pending == Pending(11, "negative", "correction")
    # "yes" does not confirm the leaning after a complaint about the bot; only a named label does
    assert read_answer("yes", d.pending, LABELS) is None
    assert read_answer("neutral", d.pending, LABELS) == "neutral"


def test_wrong_without_history_is_just_a_message():
    d = decide_turn("wrong size delivered", pred(0.95, 0.03, 0.02), None, None, None, LABELS, CFG, {})
    assert d.template == "negative_high" and d.correction is None


def test_label_named_uses_synonyms_and_refuses_mixed():
    assert label_named("absolutely awful", LABELS) == "negative"
    assert label_named("good but also bad", LABELS) is None
    assert label_named("so-so", LABELS) == "neutral"
    assert label_named("joyful", ["anger", "joy"]) is None
    assert label_named("joy", ["anger", "joy"]) == "joy"


probabilities = st.lists(st.floats(0.001, 1.0), min_size=3, max_size=3).map(
    lambda xs: {name: x / sum(xs) for name, x in zip(LABELS, xs)})


@given(probabilities, st.floats(0.0, 1.0), st.floats(0.0, 0.5))
def test_decision_is_consistent_for_any_prediction(probs, threshold, margin):
    p = Prediction(max(probs, key=probs.get), probs)
    cfg = PolicyConfig(default_threshold=threshold, ambiguity_margin=margin)
    d = decide_prediction(p, cfg, {})
    confident = p.confidence >= threshold and p.margin >= margin
    assert (d.band == HIGH) == confident == (band(p, cfg, {}) == HIGH)
    if confident:
        assert d.template == f"{p.label}_high" and d.handoff == (p.label == "negative")
    else:
        assert d.template == ("clarify" if p.margin < margin else f"{p.label}_low") and not d.handoff
