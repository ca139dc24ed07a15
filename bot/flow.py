"""The conversation: a pure state machine of (message, its kind, predictions, conversation state, config) -> decision.

    greet -> feedback -> (follow-up -> confirmation) -> CSAT -> closed

- kinds first: a greeting is answered as a greeting, a question is not feedback, asking for a person opens a
  hand-off ticket and asks how to reach the customer, "what's my ticket?" gets the ticket back, business kinds
  get the business's own answer; none of these is classified for sentiment or becomes training data;
- feedback: a confident prediction gets its reply (thanks / apology + ticket / acknowledgement); mixed feedback
  ("love X but Y is slow") thanks for the good part and acts on the bad one; an unsure prediction gets a natural
  follow-up ("what happened?"), whose answer is classified together with the turn before; only if that is still
  unsure does the customer see buttons (👍 Good / 😐 Okay / 👎 Bad) — the one confirmation step;
- thanks / goodbye after feedback asks for a CSAT rating (1-5 buttons) once, then the bot closes politely.
An answer counts only for the question the customer sees (policy.open_question) and only when unambiguous.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .config import PolicyConfig
from .locales import CHAT_HERE, CSAT_STARS, PERSON, label_word
from .policy import (HIGH, LOW, WHICH, Decision, Pending, Prediction, QuickReply,
                     band, decide_answer, decide_for_label, read_answer, read_button)

FOLLOWUP, CSAT, CONTACT = "followup", "csat", "contact"
PERSON_PAYLOAD, HERE_PAYLOAD = "person", "contact:chat"


@dataclass(frozen=True)
class Clause:
    text: str
    prediction: Prediction


@dataclass(frozen=True)
class FlowState:
    pending: Pending | None             # the open question the customer is answering (already checked visible)
    open_ticket: str | None
    had_feedback: bool
    csat_asked: bool


@dataclass(frozen=True)
class Contact:
    kind: str                           # email | phone | chat
    value: str


@dataclass(frozen=True)
class Step(Decision):
    """A Decision plus what the conversation records."""
    kind: str = "feedback"              # the message's kind as stored (answer turns: "answer")
    csat: int | None = None             # a CSAT rating the customer gave
    contact: Contact | None = None      # how to reach the customer, given for the ticket
    ask_csat: bool = False
    close: bool = False
    mixed: tuple[str, str] | None = None   # (good part, bad part)
    variables: dict = field(default_factory=dict)


def quick_replies(ask: str | None, labels: list[str], language: str, template: str = "") -> list[QuickReply]:
    """The buttons offered with a reply: the answers to its question, or a way to a person after a question the
    bot cannot answer."""
    if ask == WHICH:
        return [QuickReply(f"label:{label}", label_word(label, language)) for label in labels]
    if ask == CSAT:
        return [QuickReply(f"csat:{n}", CSAT_STARS[n - 1]) for n in range(1, 6)]
    if ask == CONTACT:
        return [QuickReply(HERE_PAYLOAD, CHAT_HERE.get(language, CHAT_HERE["en"]))]
    if template == "question":
        return [QuickReply(PERSON_PAYLOAD, PERSON.get(language, PERSON["en"]))]
    return []


def button_payloads(labels: list[str], languages) -> dict[str, str]:
    """Every button text, in every language, -> its payload (a chat shows the pressed button as the customer's
    turn, so the text is what comes back)."""
    out = {}
    for language in languages:
        for ask, template in ((WHICH, ""), (CSAT, ""), (CONTACT, ""), (None, "question")):
            out.update({q.text: q.payload for q in quick_replies(ask, labels, language, template)})
    return out


# --- reading CSAT and contact answers ---------------------------------------------------------------------------

_CSAT_TYPED = re.compile(r"^\s*([1-5])\s*(?:/\s*5|★+|stars?|sterne?|étoiles?|estrellas?|estrelas?|stelle)?\s*[.!]?\s*$",
                         re.I)
_EMAIL = re.compile(r"(?<![\w.+-])([A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24})"
                    r"(?![\w-])")
_PHONE = re.compile(r"(?<![\w+])(\+?\d[\d ()./-]{5,20}\d)(?!\w)")
_HERE = re.compile(r"^\s*(here|in (the )?chat|reply here|hier|ici|aquí|aqui|qui|chat)\s*[.!]?\s*$", re.I)


def read_csat(text: str) -> int | None:
    m = _CSAT_TYPED.match(text)
    return int(m.group(1)) if m else None


def read_contact(text: str) -> Contact | None:
    """An e-mail address or a phone number (7-15 digits) in the message, or "here" (reply in the chat)."""
    if _HERE.match(text):
        return Contact("chat", "chat")
    email = _EMAIL.search(text)
    if email:
        return Contact("email", email.group(1))
    phone = _PHONE.search(text)
    if phone:
        digits = re.sub(r"\D", "", phone.group(1))
        if 7 <= len(digits) <= 15:
            return Contact("phone", ("+" if phone.group(1).startswith("+") else "") + digits)
    return None


# --- mixed feedback -------------------------------------------------------------------------------------------

_CONTRAST = re.compile(r"[;,]?\s+\b(but|however|although|though|yet|aber|jedoch|allerdings|trotzdem|mais|cependant|"
                       r"pourtant|pero|sin embargo|aunque|mas|porém|entretanto|ma|però|tuttavia|maar|echter)\b\s*,?\s*",
                       re.I)


def split_clauses(text: str) -> list[str]:
    """The parts of a message around contrastive conjunctions ("love X but Y is slow" -> two), each >= 2 words;
    one part when there is no contrast."""
    parts = [p.strip(" ,.;!") for i, p in enumerate(_CONTRAST.split(text)) if i % 2 == 0]
    parts = [p for p in parts if len(p.split()) >= 2]
    return parts if len(parts) >= 2 else [text]


def mixed_parts(clauses: list[Clause], cfg: PolicyConfig, thresholds: dict) -> tuple[str, str] | None:
    """(good part, bad part) when one clause is confidently positive and another confidently negative."""
    good = [c for c in clauses if c.prediction.label == "positive" and band(c.prediction, cfg, thresholds) == HIGH]
    bad = [c for c in clauses if c.prediction.label == "negative" and band(c.prediction, cfg, thresholds) == HIGH]
    return (good[0].text, bad[0].text) if good and bad else None


# --- the turn ---------------------------------------------------------------------------------------------------

def _from(decision: Decision, **extra) -> Step:
    return Step(**{f: getattr(decision, f) for f in Decision.__dataclass_fields__}, **extra)


def answer_step(text: str, quick_reply: str | None, question: Pending | None, labels: list[str],
                cfg: PolicyConfig) -> Step | None:
    """The customer's explicit answer to the open question, or None (then the message is read on its own)."""
    if question is None:
        return None
    if question.kind == CSAT:
        value = int(quick_reply.removeprefix("csat:")) if quick_reply and quick_reply.startswith("csat:") \
            else (read_csat(text) if quick_reply is None else None)
        if value is None or not 1 <= value <= 5:
            return None
        return Step(template="csat_thanks", label="", band=HIGH, kind="answer", csat=value, close=True)
    if question.kind == CONTACT:
        contact = Contact("chat", "chat") if quick_reply == HERE_PAYLOAD else \
            (read_contact(text) if quick_reply is None else None)
        if contact is None:
            return None
        return Step(template="contact_saved", label="", band=HIGH, kind="answer", contact=contact,
                    variables={"contact_kind": contact.kind})
    if question.kind == WHICH:
        answer = read_button(quick_reply, question, labels) if quick_reply is not None else \
            read_answer(text, question, labels)
        return None if answer is None else _from(decide_answer(answer, question, cfg), kind="answer")
    return None


def decide(kind: str, prediction: Prediction | None, context: Prediction | None, clauses: list[Clause],
           state: FlowState, cfg: PolicyConfig, thresholds: dict) -> Step:
    """A new message of ``kind`` (not an answer). ``prediction``: the message alone; ``context``: the message read
    together with the turn before, when it answers a follow-up; ``clauses``: predictions of its parts."""
    if kind == "greeting":
        return Step(template="greeting_reply", label="", band=HIGH, kind=kind)
    if kind == "thanks":
        if state.had_feedback and not state.csat_asked:
            return Step(template="csat_ask", label="", band=HIGH, kind=kind, ask=CSAT, ask_csat=True)
        return Step(template="goodbye", label="", band=HIGH, kind=kind, close=True)
    if kind == "question":
        return Step(template="question", label="", band=HIGH, kind=kind)
    if kind == "person":
        return Step(template="person", label="", band=HIGH, kind=kind, handoff=True, ask=CONTACT)
    if kind == "ticket":
        return Step(template="ticket_status", label="", band=HIGH, kind=kind)
    if kind != "feedback":                                   # a business-defined kind: its own answer
        return Step(template="custom_kind", label="", band=HIGH, kind=kind, variables={"kind": kind})
    assert prediction is not None, "feedback needs a prediction"
    mixed = mixed_parts(clauses, cfg, thresholds) if len(clauses) > 1 else None
    if mixed:
        return Step(template="mixed", label=prediction.label, band=HIGH, handoff=True, kind=kind, mixed=mixed)
    reading = context or prediction
    if band(reading, cfg, thresholds) == HIGH:
        return _from(decide_for_label(reading.label, cfg), kind=kind)
    if context is not None or (state.pending is not None and state.pending.kind == FOLLOWUP):
        # still unsure after a follow-up: the one confirmation step, with buttons
        return Step(template="clarify", label=reading.label, band=LOW, kind=kind, ask=WHICH)
    template = "tell_more" if reading.margin < cfg.ambiguity_margin else f"{reading.label}_{LOW}"
    return Step(template=template, label=reading.label, band=LOW, kind=kind, ask=FOLLOWUP)


__all__ = ["FOLLOWUP", "CSAT", "CONTACT", "PERSON_PAYLOAD", "HERE_PAYLOAD", "Clause", "Contact", "FlowState", "Step",
           "answer_step", "button_payloads", "decide", "quick_replies", "read_contact", "read_csat", "split_clauses"]
