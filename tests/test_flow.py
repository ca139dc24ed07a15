"""The conversation state machine (bot/flow.py), the kind detector and language detection: pure, no model."""

import pytest

from bot.config import PolicyConfig
from bot.flow import (CONTACT, CSAT, FOLLOWUP, Clause, FlowState, answer_step, button_payloads, decide,
                      quick_replies, read_contact, read_csat, split_clauses)
from bot.kinds import Example, KindDetector, packaged_examples
from bot.language import detect, normalise_hint
from bot.policy import WHICH, Pending, Prediction

LABELS = ["negative", "neutral", "positive"]
CFG = PolicyConfig(default_threshold=0.8, ambiguity_margin=0.15)
NEW = FlowState(pending=None, open_ticket=None, had_feedback=False, csat_asked=False)
AFTER_FEEDBACK = FlowState(pending=None, open_ticket="FB-1", had_feedback=True, csat_asked=False)


def pred(neg, neu, pos):
    probs = {"negative": neg, "neutral": neu, "positive": pos}
    return Prediction(max(probs, key=probs.get), probs)


SURE_BAD, SURE_GOOD, UNSURE_BAD, TIED = pred(.95, .03, .02), pred(.02, .03, .95), pred(.6, .3, .1), pred(.4, .35, .25)


@pytest.mark.parametrize("kind,template,ask,handoff", [
    ("greeting", "greeting_reply", None, False), ("question", "question", None, False),
    ("person", "person", CONTACT, True), ("ticket", "ticket_status", None, False),
    ("opening_hours", "custom_kind", None, False),
])
def test_kinds_other_than_feedback_are_answered_as_what_they_are(kind, template, ask, handoff):
    step = decide(kind, None, None, [], NEW, CFG, {})
    assert (step.template, step.ask, step.handoff, step.kind) == (template, ask, handoff, kind)
    assert step.correction is None


def test_thanks_asks_csat_once_after_feedback_then_says_goodbye():
    assert decide("thanks", None, None, [], NEW, CFG, {}).template == "goodbye"           # no feedback: no survey
    ask = decide("thanks", None, None, [], AFTER_FEEDBACK, CFG, {})
    assert ask.template == "csat_ask" and ask.ask == CSAT and ask.ask_csat
    asked = FlowState(None, None, True, csat_asked=True)
    assert decide("thanks", None, None, [], asked, CFG, {}).template == "goodbye"        # asked once only
    assert [q.payload for q in quick_replies(CSAT, LABELS, "en")] == [f"csat:{n}" for n in range(1, 6)]


def test_feedback_confident_unsure_and_followed_up():
    assert decide("feedback", SURE_BAD, None, [], NEW, CFG, {}).template == "negative_high"
    first = decide("feedback", UNSURE_BAD, None, [], NEW, CFG, {})
    assert (first.template, first.ask) == ("negative_low", FOLLOWUP)                # "what happened?", no buttons
    assert quick_replies(FOLLOWUP, LABELS, "en") == []
    assert decide("feedback", TIED, None, [], NEW, CFG, {}).template == "tell_more"
    followed = FlowState(Pending(7, 7, "negative", FOLLOWUP), None, True, False)
    clear = decide("feedback", UNSURE_BAD, SURE_BAD, [], followed, CFG, {})          # read with the turn before
    assert clear.template == "negative_high" and clear.handoff and clear.ask is None
    still = decide("feedback", UNSURE_BAD, UNSURE_BAD, [], followed, CFG, {})
    assert (still.template, still.ask) == ("clarify", WHICH)                        # the one confirmation step
    words = [q.text for q in quick_replies(WHICH, LABELS, "de")]
    assert words == ["\U0001F44E Schlecht", "\U0001F610 Okay", "\U0001F44D Gut"]
    assert not any(label in " ".join(words).lower() for label in LABELS)


def test_mixed_feedback_thanks_for_the_good_part_and_acts_on_the_bad_one():
    clauses = [Clause("I love the new update", SURE_GOOD), Clause("the login is slow", SURE_BAD)]
    step = decide("feedback", UNSURE_BAD, None, clauses, NEW, CFG, {})
    assert step.template == "mixed" and step.handoff and step.mixed == ("I love the new update", "the login is slow")
    same = [Clause("the food was cold", SURE_BAD), Clause("the waiter was rude", SURE_BAD)]
    assert decide("feedback", SURE_BAD, None, same, NEW, CFG, {}).template == "negative_high"


@pytest.mark.parametrize("text,parts", [
    ("I love the new update but the login is slow", ["I love the new update", "the login is slow"]),
    ("Das Essen war super, aber der Service war langsam", ["Das Essen war super", "der Service war langsam"]),
    ("good but slow", ["good but slow"]),                          # parts of one word are no clauses
    ("the delivery was late again", ["the delivery was late again"]),
])
def test_split_clauses(text, parts):
    assert split_clauses(text) == parts


@pytest.mark.parametrize("text,expected", [
    ("jane.doe+shop@example.co.uk", ("email", "jane.doe+shop@example.co.uk")),
    ("you can reach me at jane@example.com thanks", ("email", "jane@example.com")),
    ("+49 (30) 1234-5678", ("phone", "+493012345678")), ("call 030 123456", ("phone", "030123456")),
    ("here", ("chat", "chat")), ("hier im Chat", None), ("123", None), ("my order 12 was late", None),
    ("not@valid", None),
])
def test_contact_reading(text, expected):
    contact = read_contact(text)
    assert (None if contact is None else (contact.kind, contact.value)) == expected


def test_answers_to_csat_and_contact_questions():
    csat_q, contact_q = Pending(3, 3, "", CSAT), Pending(4, 4, "", CONTACT)
    assert answer_step("4", None, csat_q, LABELS, CFG).csat == 4
    assert answer_step("5 stars", None, csat_q, LABELS, CFG).csat == 5
    assert answer_step("", "csat:2", csat_q, LABELS, CFG).csat == 2
    assert answer_step("it was 4 hours late", None, csat_q, LABELS, CFG) is None      # a new message
    assert answer_step("6", None, csat_q, LABELS, CFG) is None and read_csat("45") is None
    saved = answer_step("me@example.org", None, contact_q, LABELS, CFG)
    assert saved.contact.kind == "email" and saved.template == "contact_saved" and saved.kind == "answer"
    assert answer_step("the room was dirty", None, contact_q, LABELS, CFG) is None
    label = answer_step("\U0001F44E Bad", "label:negative", Pending(7, 9, "neutral", WHICH), LABELS, CFG)
    assert label.correction == (7, "negative", "customer_button") and label.kind == "answer"


def test_every_button_text_in_every_language_maps_back_to_its_payload():
    payloads = button_payloads(LABELS, ["en", "de", "fr", "es", "pt", "it", "nl"])
    assert payloads["\U0001F44D Bien"] == "label:positive" and payloads["1 ★"] == "csat:1"
    assert payloads["Talk to a person"] == "person" and payloads["Mit einem Menschen sprechen"] == "person"


# --- kinds -------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def detector():
    return KindDetector(packaged_examples())


@pytest.mark.parametrize("text,kind", [
    ("Hi", "greeting"), ("Good morning!", "greeting"), ("Guten Morgen", "greeting"), ("Thanks, bye", "thanks"),
    ("What are your opening hours?", "question"), ("I want to talk to a human.", "person"),
    ("let me talk to a person", "person"), ("what's my ticket?", "ticket"),
    ("I love the new update but the login is slow", "feedback"), ("the delivery was late again", "feedback"),
    ("Our room was spotless and the staff went out of their way to help", "feedback"),
    ("@united lost my bag and customer service hung up on me. worst airline", "feedback"),
    ("The invoice amount is incorrect and I was charged twice", "feedback"),
])
def test_kind_detector_on_messages_from_the_issue(detector, text, kind):
    assert detector.detect(text).kind == kind


def test_praise_that_ends_in_thanks_is_feedback_and_a_plain_thanks_stays_a_goodbye(detector):
    """Seen in the bot: "J'adore la nouvelle appli, merci !" was answered with a goodbye and its praise never stored
    as feedback. These phrasings were written before the examples that fixed it and are not among them; the n-gram
    head generalises from one or two examples per language only partly, so the bar is a majority, with every plain
    thanks still read as one."""
    praise = ["Super Service, vielen Dank", "Service impeccable, merci beaucoup", "Muy buen servicio, gracias",
              "Entrega rápida, obrigado", "Ottimo servizio, grazie mille", "Snelle levering, dank je",
              "Great support, thanks!", "J adore la nouvelle appli, merci !", "Ich liebe die neue App, danke!"]
    plain = ["merci, bonne journée", "vielen Dank, tschüss", "gracias, hasta luego", "thanks a lot, bye",
             "grazie, buona serata", "bedankt, fijne dag nog"]
    known = {e.text.casefold() for e in packaged_examples()}
    assert not known & {t.casefold() for t in praise + plain}
    assert sum(detector.detect(t).kind == "feedback" for t in praise) >= 6
    assert all(detector.detect(t).kind == "thanks" for t in plain)


def test_business_kinds_come_from_a_few_examples_and_other_text_stays_feedback(tmp_path):
    custom = [Example(t, "opening_hours") for t in ("when are you open", "what time do you open",
                                                    "opening hours on saturday?", "are you open on sundays",
                                                    "wann haben Sie geöffnet")]
    detector = KindDetector(packaged_examples() + custom, cache_dir=tmp_path)
    assert detector.detect("When do you open on Saturday?").kind == "opening_hours"
    assert detector.detect("the pasta was overcooked").kind == "feedback"
    assert detector.detect("Hi").kind == "greeting"
    assert list(tmp_path.glob("head-*.npz"))                       # trained once, then loaded from the cache
    with pytest.raises(ValueError):
        KindDetector([])


def test_kind_examples_cover_every_kind_in_seven_languages():
    seen = {(e.kind, e.language) for e in packaged_examples()}
    for kind in ("greeting", "thanks", "question", "person", "ticket", "feedback"):
        for lang in ("en", "de", "fr", "es", "pt", "it", "nl"):
            assert (kind, lang) in seen


# --- language ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,language", [
    ("Die Lieferung kam schon wieder zu spät", "de"), ("La livraison était encore en retard", "fr"),
    ("El pedido llegó roto otra vez", "es"), ("O produto chegou quebrado", "pt"), ("Il servizio è stato ottimo", "it"),
    ("De bezorging was weer te laat", "nl"), ("the delivery was late again", "en"), ("ok", None), ("Hallo", None),
])
def test_language_detection_abstains_on_short_text(text, language):
    assert detect(text) == language


def test_language_hints():
    assert normalise_hint("de-AT") == "de" and normalise_hint("pt_BR") == "pt"
    assert normalise_hint("ja") is None and normalise_hint(None) is None
