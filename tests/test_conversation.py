"""The conversation through Bot.reply() on a real (tiny) model and store: kinds, hand-off contact, ticket lookup,
CSAT, languages, mixed feedback, business-defined kinds."""

import pytest

from bot.config import CustomKind, PolicyConfig
from bot.policy import Prediction
from bot.sessions import conversation_id

from conftest import ALWAYS_HIGH, make_bot


@pytest.fixture
def bot(tiny_model_dir, tmp_path):
    return make_bot(tiny_model_dir, f"sqlite:///{tmp_path / 'fb.sqlite3'}", **ALWAYS_HIGH)


def test_greeting_question_person_contact_ticket_and_csat(bot):
    s = "c1"
    hi = bot.reply(s, "Hi")
    assert hi.kind == "greeting" and hi.template == "greeting_reply" and hi.prediction is None
    q = bot.reply(s, "What are your opening hours?")
    assert q.template == "question" and [b.payload for b in q.quick_replies] == ["person"]
    person = bot.reply(s, "Talk to a person", in_reply_to=q.message_id, quick_reply="person")
    assert person.template == "person" and person.ticket and person.ticket in person.text
    assert [b.payload for b in person.quick_replies] == ["contact:chat"]
    saved = bot.reply(s, "sure, it's jane.doe@example.com", in_reply_to=person.message_id)
    assert saved.template == "contact_saved" and saved.kind == "answer" and "e-mail" in saved.text
    ticket = bot.store.ticket(person.ticket)
    assert (ticket["contact_kind"], ticket["contact"]) == ("email", "jane.doe@example.com") and ticket["contact_at"]
    mine = bot.reply(s, "what's my ticket?")
    assert mine.template == "ticket_status" and person.ticket in mine.text
    again = bot.reply(s, "I want to talk to a human")                      # the same ticket, not a second one
    assert again.ticket == person.ticket
    bot.reply(s, "the crew was lovely")                                    # feedback, then goodbye -> CSAT
    bye = bot.reply(s, "Thanks, bye")
    assert bye.template == "csat_ask" and [b.payload for b in bye.quick_replies][-1] == "csat:5"
    rated = bot.reply(s, "4 ★★★★", in_reply_to=bye.message_id, quick_reply="csat:4")
    assert rated.template == "csat_thanks" and rated.kind == "answer"
    conv = bot.store.conversation(conversation_id(s))
    assert conv["csat"] == 4 and conv["closed_at"] is not None
    assert bot.reply(s, "thank you!").template == "goodbye"                # asked once only
    rows = list(bot.store.iter_messages())
    assert [r["kind"] for r in rows][:4] == ["greeting", "question", "person", "answer"]
    assert all(r["label"] is None for r in rows if r["kind"] != "feedback")  # no sentiment for non-feedback


def test_a_german_customer_is_answered_in_german(bot):
    r = bot.reply("de1", "Die Lieferung kam schon wieder zu spät und niemand hat angerufen")
    assert r.language == "de" and r.template in {"negative_high", "neutral_high", "positive_high"}
    german = (bot.renderer.directory / "de" / f"{r.template}.j2").read_text(encoding="utf-8")
    english = (bot.renderer.directory / f"{r.template}.j2").read_text(encoding="utf-8")
    assert r.text[:25] in german and r.text[:25] not in english             # the German file answered
    hi = bot.reply("de1", "Hallo")                                         # too short to tell: stays German
    assert hi.language == "de" and hi.text[:20] in (bot.renderer.directory / "de" / "greeting_reply.j2").read_text()
    assert bot.store.conversation(conversation_id("de1"))["language"] == "de"


def test_the_client_language_hint_is_used_until_the_customer_writes_enough(bot):
    r = bot.reply("fr1", "Bonjour", language="fr-FR")
    assert r.language == "fr" and r.template == "greeting_reply"
    assert bot.greeting("fr2", "widget", "es-ES")["language"] == "es"
    assert bot.greeting("x", "email") is None                              # not a greeting channel


def test_mixed_feedback_thanks_for_the_good_part_and_opens_a_ticket_for_the_bad(bot):
    def model(texts):       # a stand-in classifier with clear opinions, so the flow (not a random model) is tested
        out = []
        for t in texts:
            bad, good = "slow" in t, "love" in t
            probs = {"negative": .9, "neutral": .05, "positive": .05} if bad and not good else \
                {"negative": .05, "neutral": .05, "positive": .9} if good and not bad else \
                {"negative": .45, "neutral": .1, "positive": .45}
            out.append(Prediction(max(probs, key=probs.get), probs))
        return out

    bot.classifier.predict = model
    bot.batcher = None
    bot.config.policy = PolicyConfig(default_threshold=0.8, ambiguity_margin=0.15)
    r = bot.reply("m1", "I love the new update but the login is slow")
    assert r.template == "mixed" and r.ticket and "I love the new update" in r.text and "the login is slow" in r.text
    row = next(bot.store.iter_messages())
    assert [(c["text"], c["label"]) for c in row["clauses"]] == [("I love the new update", "positive"),
                                                                  ("the login is slow", "negative")]


def test_business_kinds_answer_with_the_business_reply(tiny_model_dir, tmp_path):
    bot = make_bot(tiny_model_dir, f"sqlite:///{tmp_path / 'fb.sqlite3'}")
    bot.config.conversation.kinds = [CustomKind("opening_hours", ["when are you open", "opening hours"],
                                                "We're open Mon-Sat 9-18.", {"de": "Wir haben Mo-Sa 9-18 geöffnet."})]
    from bot.core import Bot

    bot = Bot(bot.classifier, bot.renderer, bot.store, bot.config)
    r = bot.reply("b1", "When are you open on Saturday?")
    assert r.kind == "opening_hours" and r.text == "We're open Mon-Sat 9-18."
    bot.config.conversation.kinds = [CustomKind("broken", [], "")]
    with pytest.raises(ValueError, match="needs a name, examples and a reply"):
        Bot(bot.classifier, bot.renderer, bot.store, bot.config)


def test_with_no_business_name_a_german_apology_names_nobody_in_english(bot):
    assert bot.config.templates.business_name == ""                       # the shipped default: unset
    r = bot.reply("de2", "Ich möchte bitte mit einem Menschen sprechen, das Paket ist kaputt angekommen")
    assert r.language == "de" and r.ticket and r.ticket in r.text
    assert "our team" not in r.text and "None" not in r.text and "jemand von uns" in r.text
    bot.config.templates.business_name = "Zed Air"
    again = bot.reply("de3", "Ich möchte bitte mit einem Menschen sprechen, das Paket ist kaputt angekommen")
    assert "jemand von Zed Air" in again.text
