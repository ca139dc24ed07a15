"""The one place where a customer message becomes a reply: classify -> policy -> render -> store."""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from dataclasses import dataclass

from .classifier import Classifier
from .config import BotConfig
from .micro_batch import MicroBatcher
from .policy import Prediction, decide_turn
from .render import Renderer
from .store import ConversationState, Store, TurnRecord, new_ticket_id

log = logging.getLogger("feedbackbot")


class InputError(ValueError):
    """The customer message cannot be accepted (empty, too long, not text). ``status`` is the HTTP code."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Reply:
    message_id: int
    session: str
    text: str               # plain text
    html: str               # HTML-escaped rendering for browser channels
    template: str
    prediction: Prediction | None   # None when the model failed (template "error"; the message is still stored)
    band: str | None
    ticket: str | None
    correction: tuple[int, str] | None
    latency_ms: float

    def as_dict(self) -> dict:
        return {"message_id": self.message_id, "session_id": self.session, "reply": self.text,
                "reply_html": self.html, "template": self.template, "band": self.band, "ticket": self.ticket,
                "correction": None if self.correction is None else
                {"message_id": self.correction[0], "label": self.correction[1]},
                "prediction": None if self.prediction is None else
                {"label": self.prediction.label, "confidence": self.prediction.confidence,
                 "probabilities": self.prediction.probabilities},
                "latency_ms": self.latency_ms}


def clean_text(text, max_chars: int) -> str:
    if not isinstance(text, str):
        raise InputError("message must be text")
    if "\x00" in text:
        raise InputError("message contains a NUL character")
    if len(text) > max_chars:
        raise InputError(f"message is too long ({len(text)} characters; the limit is {max_chars})", status=413)
    if not text.strip():
        raise InputError("message is empty")
    return text


class Bot:
    def __init__(self, classifier: Classifier, renderer: Renderer, store: Store, config: BotConfig):
        self.classifier, self.renderer, self.store, self.config = classifier, renderer, store, config
        window = config.model.batch_window_ms
        # Late-bound, so the batcher always calls the classifier the bot holds now. It takes up to four passes'
        # worth of waiting requests at once; the classifier sorts them by length into passes of `batch_size`.
        self.batcher = (MicroBatcher(lambda texts: self.classifier.predict(texts), window,
                                     4 * max(1, config.model.batch_size)) if window > 0 else None)
        self.renderer.check(classifier.labels)  # refuse to start on a broken or incomplete template set

    @classmethod
    def from_config(cls, config: BotConfig, log_fn=print) -> "Bot":
        from .model_source import resolve_model_dir

        model_dir = resolve_model_dir(config.model.path, log_fn)
        classifier = Classifier.from_config(model_dir, config.model, log_fn)
        if not classifier.calibrated:
            log_fn(f"WARNING: {model_dir} has no feedbackbot.json: probabilities are NOT calibrated and the "
                   "policy uses default thresholds")
        renderer = Renderer(config.templates.directory or None)
        bot = cls(classifier, renderer, Store(config.db.url), config)
        classifier.warm_up()
        return bot

    @staticmethod
    def new_session() -> str:
        return uuid.uuid4().hex

    def reply(self, session: str, text: str, channel: str = "api") -> Reply:
        started = time.perf_counter()
        text = clean_text(text, self.config.limits.max_message_chars)
        if not session or len(session) > 128:
            raise InputError("session id must be 1-128 characters")
        state: ConversationState = self.store.state(session)
        try:
            prediction, decision, ticket, rendered = self._respond(session, text, state)
        except Exception:  # the model or a template failed: keep the message, answer with the error template
            log.exception("reply failed for conversation %s; storing the message with the error reply", session)
            prediction, decision, ticket = None, None, None
            rendered = self.renderer.render("error", self._context(text, None, None, None))
        latency_ms = (time.perf_counter() - started) * 1000
        message_id = self.store.record_turn(TurnRecord(
            conversation_id=session, channel=channel, text=text,
            label=prediction.label if prediction else None,
            probabilities=prediction.probabilities if prediction else None,
            band=decision.band if decision else None, template=rendered.template, reply=rendered.text,
            latency_ms=latency_ms, model_version=self.classifier.version, ticket=ticket,
            correction=decision.correction if decision else None,
            pending_after=decision.pending if decision else state.pending,
            pending_on_self=(decision.label, "clarify") if decision and decision.ask_about_self else None))
        return Reply(message_id=message_id, session=session, text=rendered.text, html=rendered.html,
                     template=rendered.template, prediction=prediction, band=decision.band if decision else None,
                     ticket=ticket, correction=decision.correction if decision else None, latency_ms=latency_ms)

    def _context(self, text: str, prediction: Prediction | None, decision, ticket: str | None) -> dict:
        labels = self.classifier.labels
        return {"text": text, "label": decision.label if decision else None,
                "leaning": decision.label if decision else None,
                "confidence": prediction.confidence if prediction else None,
                "probabilities": prediction.probabilities if prediction else {}, "ticket": ticket, "choices": labels,
                "business_name": self.config.templates.business_name,
                "review_url": self.config.templates.review_url or None,
                "ask_review": bool(decision and decision.ask_review), "handoff": bool(decision and decision.handoff)}

    def _respond(self, session: str, text: str, state: ConversationState):
        prediction = self.batcher.predict(text) if self.batcher else self.classifier.predict([text])[0]
        decision = decide_turn(text, prediction, state.pending, state.last_message_id, state.last_label,
                               self.classifier.labels, self.config.policy, self.classifier.thresholds)
        ticket = new_ticket_id() if decision.handoff else None
        pick = int(hashlib.sha256(f"{session}:{state.last_message_id}".encode()).hexdigest(), 16)
        rendered = self.renderer.render(decision.template, self._context(text, prediction, decision, ticket), pick)
        return prediction, decision, ticket, rendered

    def rate(self, message_id: int, value: int) -> None:
        self.store.add_rating(message_id, value)

    def correct(self, message_id: int, label: str) -> None:
        if label not in self.classifier.labels:
            raise InputError(f"unknown label {label!r}; labels are {', '.join(self.classifier.labels)}")
        self.store.add_correction(message_id, label, source="api")
