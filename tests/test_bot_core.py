import pytest

from bot.core import InputError
from bot.sessions import conversation_id
from bot.store import Correction, Message, Ticket

from conftest import ALWAYS_HIGH, ALWAYS_LOW, make_bot, text_predicted_as


@pytest.fixture
def db(tmp_path):
    return f"sqlite:///{tmp_path / 'fb.sqlite3'}"


def test_reply_classifies_renders_and_stores_everything(tiny_model_dir, db):
    bot = make_bot(tiny_model_dir, db)
    r = bot.reply("s1", "the delivery was late again", channel="api")
    assert abs(sum(r.prediction.probabilities.values()) - 1) < 1e-6
    assert r.prediction.label in bot.classifier.labels and r.text and r.template
    row = next(bot.store.iter_messages())
    assert row["id"] == r.message_id and row["conversation_id"] == conversation_id("s1") != "s1"
    assert row["channel"] == "api" and row["kind"] == "feedback" and row["label_source"] == "model"
    assert row["text"] == "the delivery was late again" and row["reply"] == r.text
    assert row["label"] == r.prediction.label and row["template"] == r.template
    assert row["probabilities"] == pytest.approx(r.prediction.probabilities)
    assert row["latency_ms"] > 0 and row["model_version"] == bot.classifier.version


def test_confident_negative_apologises_and_opens_a_ticket(tiny_model_dir, db):
    bot = make_bot(tiny_model_dir, db, **ALWAYS_HIGH)
    r = bot.reply("s2", text_predicted_as(bot.classifier, "negative"))
    assert r.template == "negative_high" and r.ticket and r.ticket.startswith("FB-")
    assert r.ticket in r.text
    assert bot.store.count(Ticket) == 1
    assert next(bot.store.iter_messages())["ticket"] == r.ticket


def test_confident_positive_thanks_without_ticket(tiny_model_dir, db):
    bot = make_bot(tiny_model_dir, db, **ALWAYS_HIGH)
    bot.config.templates.review_url = "https://example.com/review"
    r = bot.reply("s3", text_predicted_as(bot.classifier, "positive"))
    assert r.template == "positive_high" and r.ticket is None
    assert "https://example.com/review" in r.text


def test_unsure_bot_follows_up_then_confirms_with_buttons_and_records_the_answer(tiny_model_dir, db):
    bot = make_bot(tiny_model_dir, db, **ALWAYS_LOW)
    first = bot.reply("s4", "the flight was, well, a flight")
    assert first.band == "low" and not first.quick_replies            # a natural follow-up, no label choices
    assert bot.store.state(conversation_id("s4")).pending.kind == "followup"
    more = bot.reply("s4", "the seat was broken and nobody helped", in_reply_to=first.message_id)
    assert more.kind == "feedback" and more.template == "clarify"      # still unsure: the one confirmation step
    assert [q.payload for q in more.quick_replies] == ["label:negative", "label:neutral", "label:positive"]
    assert "negative" not in more.text and "positive" not in more.text   # nobody is asked to pick our label names
    answer = bot.reply("s4", "it was bad", in_reply_to=more.message_id)
    assert answer.correction == (first.message_id, "negative", "customer_text") and answer.kind == "answer"
    assert answer.template == "negative_high" and answer.ticket and answer.prediction is None
    assert bot.store.state(conversation_id("s4")).pending is None
    rows = list(bot.store.iter_messages())
    assert rows[0]["correction"] == "negative" and rows[2]["label"] is None
    assert bot.store.count(Correction) == 1


def test_a_follow_up_answer_is_read_together_with_the_message_it_follows_up(tiny_model_dir, db):
    from bot.policy import combine_evidence

    bot = make_bot(tiny_model_dir, db, **ALWAYS_LOW)
    first_text, answer_text = "the flight was, well, a flight", "the seat was broken and nobody helped"
    first = bot.reply("s4b", first_text)
    more = bot.reply("s4b", answer_text, in_reply_to=first.message_id)
    alone = bot.classifier.predict([first_text, answer_text])
    expected = combine_evidence(alone[0], alone[1], bot.classifier.served_prior)
    assert more.prediction.probabilities == pytest.approx(expected.probabilities)
    assert more.prediction.probabilities != pytest.approx(alone[1].probabilities)
    stored = list(bot.store.iter_messages())[-1]
    assert stored["probabilities"] == pytest.approx(expected.probabilities)
    counts = bot.classifier.meta["data"]["stats"]["class_counts"]
    assert bot.classifier.label_prior == pytest.approx({k: v / sum(counts.values()) for k, v in counts.items()})


def test_a_button_press_labels_the_message_the_bot_asked_about(tiny_model_dir, db):
    bot = make_bot(tiny_model_dir, db, **ALWAYS_LOW)
    first = bot.reply("s5", text_predicted_as(bot.classifier, "negative"))
    more = bot.reply("s5", "the crew did not care at all", in_reply_to=first.message_id)
    fix = bot.reply("s5", "\U0001F44D Good", in_reply_to=more.message_id, quick_reply="label:positive")
    assert fix.correction == (first.message_id, "positive", "customer_button") and fix.template == "positive_high"


@pytest.mark.parametrize("text,status,fragment", [
    ("", 400, "empty"), ("   \n\t ", 400, "empty"), ("x" * 5001, 413, "too long"), ("a\x00b", 400, "NUL"),
])
def test_bad_input_is_refused_and_nothing_is_stored(tiny_model_dir, db, text, status, fragment):
    bot = make_bot(tiny_model_dir, db)
    with pytest.raises(InputError, match=fragment) as err:
        bot.reply("s6", text)
    assert err.value.status == status
    assert bot.store.count(Message) == 0


def test_text_is_stored_exactly_as_received(tiny_model_dir, db):
    bot = make_bot(tiny_model_dir, db)
    texts = ["{{ 7*7 }}", "<script>alert(1)</script>", "\U0001F600\U0001F44D", "\u0645\u0631\u062d\u0628\u0627 \u05e9\u05dc\u05d5\u05dd",
             "tab\there\r\nnewline", "x" * 5000]
    replies = [bot.reply("s7", t) for t in texts]
    assert [r["text"] for r in bot.store.iter_messages()] == texts
    assert all("49" not in r.text and "<script>" not in r.html for r in replies)


def test_rate_and_correct_validate(tiny_model_dir, db):
    bot = make_bot(tiny_model_dir, db)
    r = bot.reply("s8", "the seat was ok")
    bot.rate("s8", r.message_id, -1)
    with pytest.raises(InputError, match="unknown label"):
        bot.correct("s8", r.message_id, "furious")
    with pytest.raises(InputError, match="rating value"):
        bot.rate("s8", r.message_id, True)
    bot.correct("s8", r.message_id, "neutral")
    row = next(bot.store.iter_messages())
    assert row["rating"] == -1 and row["correction"] == "neutral" and row["correction_source"] == "customer_button"


def test_bot_refuses_to_start_on_broken_templates(tiny_model_dir, db, tmp_path):
    from bot.classifier import Classifier
    from bot.config import BotConfig
    from bot.core import Bot
    from bot.render import Renderer, TemplateSetError
    from bot.store import Store

    broken = tmp_path / "tpl"
    broken.mkdir()
    (broken / "clarify.j2").write_text("ok")
    with pytest.raises(TemplateSetError, match="no template negative_high.j2"):
        Bot(Classifier(tiny_model_dir), Renderer(broken), Store(db), BotConfig())


def test_export_labelled_file_feeds_finetune(tiny_model_dir, db, tmp_path):
    from bot.export import export
    from finetune.config import DataConfig
    from finetune.data import load_labelled

    bot = make_bot(tiny_model_dir, db, **ALWAYS_LOW)
    first = bot.reply("s9", "the seat was broken and the crew ignored me")
    more = bot.reply("s9", "the crew ignored me for an hour", in_reply_to=first.message_id)   # follow-up
    bot.reply("s9", "terrible", in_reply_to=more.message_id)      # answer to the buttons -> correction
    other = bot.reply("s10", "the crew was lovely, all good")
    bot.correct("s10", other.message_id, "positive")
    out = tmp_path / "labelled.csv"
    assert export(bot.store, out, labelled=True) == 2       # only labels a customer gave; answers are not data
    ds, labels, _ = load_labelled(DataConfig(path=str(out), labels=bot.classifier.labels))
    by_text = {t: labels[l] for t, l in zip(ds["text"], ds["label"])}
    assert by_text["the seat was broken and the crew ignored me"] == "negative"
    assert by_text["the crew was lovely, all good"] == "positive"
    full = tmp_path / "all.jsonl"
    assert export(bot.store, full) == 4
    import json
    rows = [json.loads(line) for line in full.read_text().splitlines()]
    assert rows[0]["id"] == first.message_id and rows[0]["correction"] == "negative"


def test_a_model_failure_keeps_the_message_and_answers_with_the_error_template(tiny_model_dir, db):
    bot = make_bot(tiny_model_dir, db)

    def broken(texts):
        raise RuntimeError("onnx session at /secret/path crashed")

    bot.classifier.predict = broken
    r = bot.reply("s11", "my refund never came")
    assert r.template == "error" and r.prediction is None and "saved" in r.text
    assert "secret" not in r.text
    row = next(bot.store.iter_messages())
    assert row["text"] == "my refund never came" and row["template"] == "error" and row["label"] is None
    assert r.as_dict()["prediction"] is None


@pytest.mark.parametrize("text", ["", "x" * 6000])
def test_input_errors_are_not_swallowed_by_the_error_path(tiny_model_dir, db, text):
    bot = make_bot(tiny_model_dir, db)
    with pytest.raises(InputError):
        bot.reply("s12", text)


def test_fuzz_message_path(tiny_model_dir, tmp_path):
    """Arbitrary text: either a clear InputError and nothing stored, or a reply and the text stored verbatim."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    bot = make_bot(tiny_model_dir, f"sqlite:///{tmp_path / 'fuzz.sqlite3'}")
    bot.config.limits.max_message_chars = 300

    @settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.text(max_size=400), st.sampled_from(["a", "b"]))
    def check(text, session):
        before = bot.store.count(Message)
        try:
            r = bot.reply(session, text)
        except InputError as exc:
            assert exc.status in (400, 413) and str(exc)
            assert bot.store.count(Message) == before
            assert not text.strip() or len(text) > 300 or "\x00" in text
            return
        assert bot.store.get_message(r.message_id).text == text
        assert r.text and r.template

    check()
