import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.config import PolicyConfig
from bot.flow import FlowState, decide
from bot.policy import (CUSTOMER_BUTTON, CUSTOMER_TEXT, HIGH, LOW, WHICH, Answer, Pending, Prediction, band,
                        combine_evidence, decide_answer, open_question, read_answer, read_button, threshold_for)

NEW = FlowState(pending=None, open_ticket=None, had_feedback=False, csat_asked=False)


def decide_prediction(p, cfg, thresholds):
    return decide("feedback", p, None, [], NEW, cfg, thresholds)

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
    ((0.45, 0.40, 0.15), {"negative": 0.4}, {}, ("tell_more", LOW, False, False)),  # confident but ambiguous
    ((0.40, 0.35, 0.25), {}, {}, ("tell_more", LOW, False, False)),               # low and ambiguous
    ((0.10, 0.30, 0.60), {}, {}, ("positive_low", LOW, False, False)),
    ((0.10, 0.10, 0.80), {}, {}, ("positive_high", HIGH, False, True)),         # exactly at threshold
]


@pytest.mark.parametrize("probs,cfg_thr,model_thr,expected", TABLE)
def test_policy_table(probs, cfg_thr, model_thr, expected):
    cfg = PolicyConfig(thresholds=cfg_thr, default_threshold=0.8, ambiguity_margin=0.15)
    d = decide_prediction(pred(*probs), cfg, model_thr)
    assert (d.template, d.band, d.handoff, d.ask_review) == expected
    assert (d.ask is not None) == (d.band == LOW)
    assert d.correction is None


def test_threshold_precedence():
    cfg = PolicyConfig(thresholds={"neutral": 0.5}, default_threshold=0.9)
    assert threshold_for("neutral", cfg, {"neutral": 0.7}) == 0.5
    assert threshold_for("negative", cfg, {"negative": 0.7}) == 0.7
    assert threshold_for("positive", cfg, {}) == 0.9


WHICH_Q = Pending(target_id=7, asked_in=9, leaning="negative", kind=WHICH)
FOLLOWUP_Q = Pending(target_id=7, asked_in=7, leaning="negative", kind="followup")


@pytest.mark.parametrize("text,expected", [
    # a message that names a label and nothing else, in the languages we serve, or a button's own text
    ("it was bad", "negative"), ("great!", "positive"), ("Neutral.", "neutral"), ("it was really okay", "neutral"),
    ("\U0001F44D", "positive"), ("schlecht", "negative"), ("c'était très bien", "positive"), ("ottimo", "positive"),
    ("\U0001F44E Schlecht", "negative"), ("\U0001F610 Okay", "neutral"),
    # negation, several labels, anything more: a new message, never a relabel
    ("not good", None), ("wasn't bad", None), ("nicht gut", None), ("hmm", None), ("Hi", None), ("yes", None),
    ("good but also bad", None), ("love the app but login is slow", None), ("What are your opening hours?", None),
    ("They gave me the wrong meal and I'm allergic to nuts!", None),
    ("The invoice amount is incorrect and I was charged twice", None),
])
def test_only_unambiguous_answers_are_read(text, expected):
    answer = read_answer(text, WHICH_Q, LABELS)
    assert (None if answer is None else answer.label) == expected
    assert answer is None or answer.source == CUSTOMER_TEXT
    assert read_answer(text, FOLLOWUP_Q, LABELS) is None     # a follow-up is answered in words, not labels


def test_buttons_are_exactly_the_offered_payloads():
    assert read_button("label:positive", WHICH_Q, LABELS) == Answer("positive", CUSTOMER_BUTTON)
    assert read_button("label:positive", FOLLOWUP_Q, LABELS) is None      # not offered with that question
    assert read_button("label:ecstatic", WHICH_Q, LABELS) is None
    assert read_button("positive", WHICH_Q, LABELS) is None


def test_a_question_counts_only_when_it_is_the_reply_being_answered():
    assert open_question(WHICH_Q, 9) == WHICH_Q
    assert open_question(WHICH_Q, 7) is None and open_question(WHICH_Q, None) is None
    assert open_question(None, 9) is None


def test_answers_become_decisions_with_provenance():
    d = decide_answer(Answer("negative", CUSTOMER_TEXT), WHICH_Q, CFG)
    assert d.correction == (7, "negative", CUSTOMER_TEXT) and d.template == "negative_high" and d.handoff
    d = decide_answer(Answer("positive", CUSTOMER_BUTTON), WHICH_Q, CFG)
    assert d.correction == (7, "positive", CUSTOMER_BUTTON) and d.template == "positive_high" and d.ask is None


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
        assert d.template == ("tell_more" if p.margin < margin else f"{p.label}_low") and not d.handoff


def test_two_readings_that_lean_the_same_way_add_up_and_opposite_ones_cancel():
    lean_bad = pred(0.70, 0.20, 0.10)
    both = combine_evidence(lean_bad, lean_bad)
    assert both.label == "negative" and both.confidence > 0.9 > lean_bad.confidence
    assert band(both, CFG, {}) == HIGH and band(lean_bad, CFG, {}) == LOW
    torn = combine_evidence(pred(0.70, 0.20, 0.10), pred(0.10, 0.20, 0.70))
    assert band(torn, CFG, {}) == LOW and abs(torn.probabilities["negative"] - torn.probabilities["positive"]) < 1e-9
    assert abs(sum(torn.probabilities.values()) - 1) < 1e-9


def test_the_training_prior_is_divided_out_once():
    # each reading already holds the prior (negative was 60% of training): two weak "neutral" readings that a
    # negative-heavy model gives are stronger evidence for neutral than their raw product says
    a = pred(0.45, 0.50, 0.05)
    uniform = combine_evidence(a, a)
    skewed = combine_evidence(a, a, {"negative": 0.6, "neutral": 0.2, "positive": 0.2})
    assert skewed.probabilities["neutral"] > uniform.probabilities["neutral"]
    assert combine_evidence(a, a, {"negative": 1 / 3, "neutral": 1 / 3, "positive": 1 / 3}).probabilities == \
        pytest.approx(uniform.probabilities)


@given(st.lists(st.floats(0.01, 1.0), min_size=3, max_size=3), st.lists(st.floats(0.01, 1.0), min_size=3, max_size=3))
def test_combined_evidence_is_a_distribution_and_order_free(x, y):
    a, b = (pred(*(v / sum(vals) for v in vals)) for vals in (x, y))
    ab, ba = combine_evidence(a, b), combine_evidence(b, a)
    assert abs(sum(ab.probabilities.values()) - 1) < 1e-9 and ab.probabilities == pytest.approx(ba.probabilities)
