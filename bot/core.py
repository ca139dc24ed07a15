"""The one place where a customer message becomes a reply: classify -> policy -> render -> store.

Channels call ``Bot.reply(session, text, ...)`` with what their customer sees: ``in_reply_to`` is the bot reply the
customer is answering (the last one shown), ``quick_reply`` the payload of a pressed button, ``client_message_id``
an idempotency key that makes a retry of the same message return the stored reply instead of a second one.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field

from .classifier import Classifier
from .config import BotConfig
from .micro_batch import MicroBatcher
from .flow import (FOLLOWUP, PERSON_PAYLOAD, Clause, FlowState, Step, answer_step, decide, quick_replies,
                   split_clauses)
from .kinds import FEEDBACK, Example, KindDetector, packaged_examples
from .language import detect as detect_language
from .language import normalise_hint
from .locales import plain_word
from .policy import CUSTOMER_BUTTON, WHICH, Pending, Prediction, QuickReply, combine_evidence, open_question
from .redact import redact, redact_record
from .render import Renderer
from .sessions import conversation_id, new_session_token
from .store import ConversationState, DuplicateTurn, NotFound, Store, TurnRecord, new_ticket_id

log = logging.getLogger("feedbackbot")
MAX_CLIENT_ID = 64


class InputError(ValueError):
    """The request cannot be accepted (empty, too long, not text, ...). ``status`` is the HTTP code and ``code`` a
    stable machine-readable name."""

    def __init__(self, message: str, status: int = 400, code: str = "invalid_input"):
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class Reply:
    message_id: int
    session: str
    conversation_id: str
    text: str               # plain text
    html: str               # HTML-escaped rendering for browser channels
    template: str
    kind: str               # feedback | answer | greeting | thanks | question | person | ticket | a business kind
    prediction: Prediction | None   # None for answers, and when the model failed (template "error")
    band: str | None
    ticket: str | None
    correction: tuple[int, str, str] | None
    latency_ms: float
    quick_replies: list[QuickReply] = field(default_factory=list)
    replayed: bool = False  # a retry of a message already stored: this is the stored reply
    language: str = "en"    # the language of the reply

    def as_dict(self) -> dict:
        return {"message_id": self.message_id, "session_id": self.session, "conversation_id": self.conversation_id,
                "reply": self.text, "reply_html": self.html, "template": self.template, "kind": self.kind,
                "band": self.band, "ticket": self.ticket,
                "correction": None if self.correction is None else
                {"message_id": self.correction[0], "label": self.correction[1], "source": self.correction[2]},
                "prediction": None if self.prediction is None else
                {"label": self.prediction.label, "confidence": self.prediction.confidence,
                 "probabilities": self.prediction.probabilities},
                "quick_replies": [{"payload": q.payload, "text": q.text} for q in self.quick_replies],
                "language": self.language, "replayed": self.replayed, "latency_ms": self.latency_ms}


def clean_text(text, max_chars: int) -> str:
    if not isinstance(text, str):
        raise InputError("message must be text")
    if "\x00" in text:
        raise InputError("message contains a NUL character")
    if len(text) > max_chars:
        raise InputError(f"message is too long ({len(text)} characters; the limit is {max_chars})", status=413,
                         code="too_long")
    if not text.strip():
        raise InputError("message is empty", code="empty")
    return text


def _check_session(session) -> str:
    if not isinstance(session, str) or not session or len(session) > 128:
        raise InputError("session id must be 1-128 characters")
    return session


class Bot:
    def __init__(self, classifier: Classifier, renderer: Renderer, store: Store, config: BotConfig):
        self.classifier, self.renderer, self.store, self.config = classifier, renderer, store, config
        window = config.model.batch_window_ms
        # Late-bound, so the batcher always calls the classifier the bot holds now. It takes up to four passes'
        # worth of waiting requests at once; the classifier sorts them by length into passes of `batch_size`.
        self.batcher = (MicroBatcher(lambda texts: self.classifier.predict(texts), window,
                                     4 * max(1, config.model.batch_size)) if window > 0 else None)
        # refuse to start on a broken or incomplete template set (and, with no business name, on one that needs it)
        self.renderer.check(classifier.labels, unnamed=config.templates.name_unset)
        if warning := config.templates.name_warning():
            log.warning(warning)
        conv = config.conversation
        custom = [Example(text, k.name) for k in conv.kinds for text in k.examples]
        unknown = [k.name for k in conv.kinds if not k.name or not k.examples or not (k.reply or k.replies)]
        if unknown:
            raise ValueError(f"[[conversation.kinds]] {unknown}: each needs a name, examples and a reply")
        self.kinds = KindDetector(packaged_examples() + custom)

    @classmethod
    def from_config(cls, config: BotConfig, log_fn=print) -> "Bot":
        classifier = load_classifier(config.model.path, config, log_fn)
        renderer = Renderer(config.templates.directory or None)
        store = Store(config.db.url, config.webhooks.urls, config.webhooks.on_thumbs_down)
        return cls(classifier, renderer, store, config)

    def load_classifier(self, path: str, log_fn=print) -> Classifier:
        """A classifier for another model directory with this bot's settings (hot reload, the registry)."""
        return load_classifier(path, self.config, log_fn)

    # --- conversations ------------------------------------------------------------------------------------------

    @staticmethod
    def new_session() -> str:
        """A fresh session token (the client's secret; see bot.sessions)."""
        return new_session_token()

    def start_conversation(self, channel: str) -> str:
        token = new_session_token()
        self.store.create_conversation(conversation_id(token), channel)
        return token

    def greeting(self, session: str, channel: str = "api", language: str | None = None) -> dict | None:
        """The bot's opening line for a new conversation, in the client's language (None where the channel is
        configured not to greet)."""
        conv = self.config.conversation
        if channel not in conv.greet_channels:
            return None
        language = normalise_hint(language, tuple(conv.languages)) or conv.default_language
        pick = int(conversation_id(_check_session(session)), 16)
        rendered = self.renderer.render("greeting", self._context("", None, None, None, False, language), pick,
                                        language)
        return {"text": rendered.text, "html": rendered.html, "quick_replies": [], "language": language}

    def knows(self, session: str) -> bool:
        return self.store.exists(conversation_id(_check_session(session)))

    # --- the turn -------------------------------------------------------------------------------------------------

    def reply(self, session: str, text: str, channel: str = "api", in_reply_to: int | None = None,
              quick_reply: str | None = None, client_message_id: str | None = None,
              language: str | None = None) -> Reply:
        started = time.perf_counter()
        text = clean_text(text, self.config.limits.max_message_chars)
        cid = conversation_id(_check_session(session))
        if client_message_id is not None and not (isinstance(client_message_id, str)
                                                  and 0 < len(client_message_id) <= MAX_CLIENT_ID):
            raise InputError(f"client_message_id must be 1-{MAX_CLIENT_ID} characters")
        for attempt in range(3):
            if client_message_id is not None:
                stored = self.store.find_turn(cid, client_message_id)
                if stored is not None:
                    return self._replay(session, cid, stored, text)
            state = self.store.state(cid)
            turn, reply = self._turn(session, cid, text, channel, state, in_reply_to, quick_reply, started, language)
            if self.config.store.redact:    # after the model and the flow read the original: only what is stored
                turn["text"], turn["reply"], turn["clauses"], turn["redacted"] = redact_record(
                    turn["text"], turn["reply"], turn["clauses"])
            try:
                message_id = self.store.record_turn(
                    TurnRecord(**turn, latency_ms=reply.latency_ms, client_message_id=client_message_id,
                               in_reply_to=in_reply_to))
            except DuplicateTurn:   # a concurrent request stored this client id, or opened the ticket, first
                log.info("conversation %s: concurrent turn (attempt %d); answering again", cid, attempt + 1)
                continue
            return _with_id(reply, message_id)
        raise InputError("this conversation is busy; please send again", status=409, code="conflict")

    def _turn(self, session: str, cid: str, text: str, channel: str, state: ConversationState,
              in_reply_to: int | None, quick_reply: str | None, started: float, language_hint: str | None = None):
        classifier = self.classifier      # read once: a hot reload (bot.reloader) never splits a turn across models
        labels, conv = classifier.labels, self.config.conversation
        question = open_question(state.pending, in_reply_to)
        language = (detect_language(text, tuple(conv.languages)) or state.language
                    or normalise_hint(language_hint, tuple(conv.languages)) or conv.default_language)
        step = None
        if quick_reply is not None and quick_reply != PERSON_PAYLOAD:
            if question is None:
                raise InputError("that question is no longer open; please type your message", status=409,
                                 code="question_closed")
            step = answer_step(text, quick_reply, question, labels, self.config.policy)
            if step is None:
                raise InputError(f"{quick_reply!r} is not one of the answers offered", code="unknown_quick_reply")
        elif quick_reply is None and question is not None:
            step = answer_step(text, None, question, labels, self.config.policy)
        prediction, clauses, ticket, ticket_is_new = None, [], None, False
        try:
            if step is None:
                kind = "person" if quick_reply == PERSON_PAYLOAD else self.kinds.detect(text).kind
                context = None
                if kind == FEEDBACK:
                    prediction, context, clauses = self._read_feedback(classifier, cid, text, question)
                step = decide(kind, prediction, context, clauses, FlowState(question, state.open_ticket,
                              state.had_feedback, state.csat_asked), self.config.policy, classifier.thresholds)
                prediction = context or prediction
            if step.handoff:
                ticket_is_new = state.open_ticket is None
                ticket = new_ticket_id() if ticket_is_new else state.open_ticket
            elif step.contact is not None or step.kind == "ticket":
                ticket = state.open_ticket
            pick = int(hashlib.sha256(f"{cid}:{state.last_message_id}".encode()).hexdigest(), 16)
            context_vars = self._context(text, prediction, step, ticket, ticket_is_new, language)
            rendered = self.renderer.render(step.template, context_vars, pick, language)
        except Exception:  # the model or a template failed: keep the message, answer with the error template
            log.exception("reply failed for conversation %s; storing the message with the error reply", cid)
            prediction, step, ticket, ticket_is_new, clauses = None, None, None, False, []
            rendered = self.renderer.render("error", self._context(text, None, None, None, False, language),
                                            0, language)
        ask = step.ask if step else None
        turn = dict(conversation_id=cid, channel=channel, text=text, kind=step.kind if step else FEEDBACK,
                    label=prediction.label if prediction else None,
                    probabilities=prediction.probabilities if prediction else None,
                    band=step.band if step and prediction else None, template=rendered.template,
                    reply=rendered.text, model_version=classifier.version, ticket=ticket,
                    ticket_is_new=ticket_is_new, correction=step.correction if step else None,
                    ask=(ask, step.label) if ask else None,
                    ask_target=question.target_id if ask and question is not None and question.kind in
                    (WHICH, FOLLOWUP) and step.kind in (FEEDBACK, "answer") else None,
                    language=language,
                    clauses=[{"text": c.text, "label": c.prediction.label, "confidence": c.prediction.confidence}
                             for c in clauses] if len(clauses) > 1 else None,
                    csat=step.csat if step else None,
                    contact=(step.contact.kind, step.contact.value) if step and step.contact else None,
                    ask_csat=bool(step and step.ask_csat), close=bool(step and step.close))
        reply = Reply(message_id=0, session=session, conversation_id=cid, text=rendered.text, html=rendered.html,
                      template=rendered.template, kind=turn["kind"], prediction=prediction,
                      band=turn["band"], ticket=ticket, correction=turn["correction"],
                      latency_ms=(time.perf_counter() - started) * 1000, language=language,
                      quick_replies=quick_replies(ask, labels, language, rendered.template))
        return turn, reply

    def _read_feedback(self, classifier: Classifier, cid: str, text: str, question: Pending | None):
        """(the message's prediction, the reading of it together with the turn before when it answers a follow-up
        (policy.combine_evidence), its clauses with their predictions when it has contrasting parts). One forward
        pass for the message; extra texts only when there is a follow-up or a contrast. The turn before is read
        again by the current model rather than taken from the store, so both readings come from one model even
        across a hot reload."""
        # the micro-batcher calls the bot's current classifier: after a swap that is the new one, with the same
        # labels (a different label set is never hot-swapped)
        prediction = self.batcher.predict(text) if self.batcher else classifier.predict([text])[0]
        extra = []
        before = self.store.message_text(cid, question.target_id) if question and question.kind == FOLLOWUP else None
        if before:
            extra.append(before)
        parts = split_clauses(text)
        if len(parts) > 1:
            extra += parts
        predicted = classifier.predict(extra) if extra else []
        context = combine_evidence(predicted.pop(0), prediction, classifier.served_prior) if before else None
        clauses = [Clause(part, p) for part, p in zip(parts, predicted)] if len(parts) > 1 else []
        return prediction, context, clauses

    def _replay(self, session: str, cid: str, row: dict, text: str) -> Reply:
        if row["text"] != (text if row.get("redacted") is None else redact(text).text):
            raise InputError("client_message_id was already used for a different message", status=409,
                             code="client_message_id_reused")
        state = self.store.state(cid)
        pending = state.pending
        asks = pending.kind if pending is not None and pending.asked_in == row["id"] else None
        prediction = Prediction(row["label"], row["probabilities"]) if row["label"] and row["probabilities"] else None
        html = self.renderer.escape(row["reply"])
        return Reply(message_id=row["id"], session=session, conversation_id=cid, text=row["reply"], html=html,
                     template=row["template"], kind=row["kind"] or "feedback", prediction=prediction,
                     band=row["band"], ticket=row["ticket"], correction=None, latency_ms=row["latency_ms"],
                     language=row.get("language") or "en", replayed=True,
                     quick_replies=quick_replies(asks, self.classifier.labels, row.get("language") or "en",
                                                 row["template"]))

    def _context(self, text: str, prediction: Prediction | None, step: Step | None, ticket: str | None,
                 ticket_is_new: bool, language: str) -> dict:
        labels = self.classifier.labels
        variables = dict(step.variables) if step else {}
        kind = variables.get("kind")
        custom = next((k for k in self.config.conversation.kinds if k.name == kind), None) if kind else None
        return {"text": text, "label": step.label if step else None, "leaning": step.label if step else None,
                "confidence": prediction.confidence if prediction else None,
                "probabilities": prediction.probabilities if prediction else {}, "ticket": ticket,
                "ticket_is_new": ticket_is_new, "choices": [plain_word(label, language) for label in labels],
                "business_name": self.config.templates.name or None,
                "review_url": self.config.templates.review_url or None,
                "ask_review": bool(step and step.ask_review), "handoff": bool(step and step.handoff),
                "good_part": step.mixed[0] if step and step.mixed else None,
                "bad_part": step.mixed[1] if step and step.mixed else None,
                "answer": (custom.replies.get(language) or custom.reply) if custom else None,
                "contact_kind": variables.get("contact_kind"), "language": language}

    # --- what the owner of a conversation may do -----------------------------------------------------------------

    def rate(self, session: str, message_id: int, value: int) -> None:
        """Set the rating of one of this conversation's replies: 1 (up), -1 (down) or 0 (none)."""
        if isinstance(value, bool) or value not in (1, 0, -1):
            raise InputError("rating value must be 1, -1 or 0")
        try:
            self.store.set_rating(conversation_id(_check_session(session)), message_id, value)
        except NotFound as exc:
            raise InputError(str(exc), status=404, code="not_found") from None

    def correct(self, session: str, message_id: int, label: str) -> None:
        """The customer says which label one of their own messages has (an explicit button or command)."""
        if label not in self.classifier.labels:
            raise InputError(f"unknown label {label!r}; labels are {', '.join(self.classifier.labels)}",
                             code="unknown_label")
        try:
            self.store.add_correction(message_id, label, CUSTOMER_BUTTON,
                                      conversation_id=conversation_id(_check_session(session)))
        except NotFound as exc:
            raise InputError(str(exc), status=404, code="not_found") from None

    def history(self, session: str) -> dict:
        """The conversation as its customer sees it, with the open question's buttons (to restore a chat)."""
        cid = conversation_id(_check_session(session))
        state = self.store.state(cid)
        pending, language = state.pending, state.language or self.config.conversation.default_language
        messages = self.store.history(cid)
        question = None
        if pending is not None and messages and messages[-1]["id"] == pending.asked_in:
            question = {"message_id": pending.asked_in,
                        "quick_replies": [{"payload": q.payload, "text": q.text}
                                          for q in quick_replies(pending.kind, self.classifier.labels, language,
                                                                 messages[-1]["template"])]}
        return {"conversation_id": cid, "open_question": question,
                "messages": [{"message_id": m["id"], "text": m["text"], "reply": m["reply"],
                              "reply_html": self.renderer.escape(m["reply"]), "ticket": m["ticket"],
                              "rating": m["rating"], "created_at": m["created_at"].isoformat()}
                             for m in messages]}

    def withdraw(self, session: str, message_ids: list[int]) -> int:
        """The customer took these messages back (undo, edit, clear): see Store.withdraw."""
        return self.store.withdraw(conversation_id(_check_session(session)), message_ids)

    def withdraw_hidden(self, session: str, shown: set[int]) -> int:
        """Withdraw whatever this conversation stored that the client no longer shows (Gradio's undo, retry)."""
        cid = conversation_id(_check_session(session))
        return self.store.withdraw(cid, [m["id"] for m in self.store.history(cid) if m["id"] not in shown])


def without_business_calibration(config: BotConfig) -> BotConfig:
    """``config`` with no [model] temperatures, biases or scales: for comparing models with each other (the registry's
    scores, retrain's report), where a business's calibration fitted for one version would tilt the comparison
    (biases and scales move decisions) and would not carry over to the other anyway."""
    from dataclasses import replace

    return replace(config, model=replace(config.model, temperatures={}, biases={}, scales={}))


def load_classifier(path: str, config: BotConfig, log_fn=print) -> Classifier:
    from .model_source import resolve_model_dir

    model_dir = resolve_model_dir(path, log_fn)
    classifier = Classifier.from_config(model_dir, config.model, log_fn)
    if not classifier.calibrated:
        log_fn(f"WARNING: {model_dir} has no feedbackbot.json: probabilities are NOT calibrated and the "
               "policy uses default thresholds")
    classifier.warm_up()
    return classifier


def _with_id(reply: Reply, message_id: int) -> Reply:
    from dataclasses import replace

    return replace(reply, message_id=message_id)


__all__ = ["Bot", "Reply", "InputError", "Pending", "clean_text"]
