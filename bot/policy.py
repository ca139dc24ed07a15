"""The confidence policy: pure functions of (message, prediction, conversation state, config) -> decision. No I/O.

Bands: a prediction is "high" when its calibrated confidence reaches the label's threshold and the gap to the
runner-up is at least the ambiguity margin; otherwise "low", and the bot asks instead of guessing.

What the customer tells us becomes a stored label only when it is unambiguous (what the store keeps is the next
fine-tune's training data, so a wrong label is worse than none):
- an answer counts only for a question the customer can see: the client names the reply it answers
  (``in_reply_to``) and it must be the reply that asked the open question;
- it is either a quick-reply button (an exact payload) or a message that names a label and nothing else ("bad",
  "it was okay", "yes" to "did I get that right?"). Anything longer is a new message, classified on its own:
  "they gave me the wrong meal" is a complaint, not a correction, whatever words it contains.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from .config import PolicyConfig

HIGH, LOW = "high", "low"
CONFIRM, WHICH = "confirm", "which"     # "did I get that right?" (yes/no) | "how would you describe it?" (a label)
YES, NO = "yes", "no"
# Where a label came from (stored with every label; training can weigh or exclude sources).
MODEL, CUSTOMER_BUTTON, CUSTOMER_TEXT, OPERATOR = "model", "customer_button", "customer_text", "operator"
HUMAN_SOURCES = (CUSTOMER_BUTTON, CUSTOMER_TEXT, OPERATOR)


@dataclass(frozen=True)
class Prediction:
    label: str
    probabilities: dict[str, float]     # calibrated, sums to 1

    @property
    def confidence(self) -> float:
        return self.probabilities[self.label]

    @property
    def margin(self) -> float:
        ranked = sorted(self.probabilities.values(), reverse=True)
        return ranked[0] - (ranked[1] if len(ranked) > 1 else 0.0)


@dataclass(frozen=True)
class Pending:
    """An open question: the reply of message ``asked_in`` asks about the label of message ``target_id``."""
    target_id: int
    asked_in: int
    leaning: str                        # the label the model leaned to for the target message
    kind: str = CONFIRM                 # CONFIRM (yes/no about `leaning`) | WHICH (pick a label)


@dataclass(frozen=True)
class QuickReply:
    payload: str                        # what a button press sends: "yes", "no" or "label:<name>"
    text: str                           # what the button shows (and what the chat shows as the customer's turn)


@dataclass(frozen=True)
class Answer:
    """The customer's explicit answer to the open question."""
    kind: str                           # YES | NO | "label"
    label: str | None                   # the label meant (None for NO)
    source: str                         # CUSTOMER_BUTTON | CUSTOMER_TEXT


@dataclass(frozen=True)
class Decision:
    template: str                       # template key, e.g. "negative_high", "clarify"
    label: str                          # the label the reply is about
    band: str
    handoff: bool = False               # open (or add to) the conversation's hand-off ticket
    ask_review: bool = False
    ask: str | None = None              # this reply asks a question: CONFIRM or WHICH
    correction: tuple[int, str, str] | None = None   # (target message id, label, source) the customer gave


def threshold_for(label: str, cfg: PolicyConfig, model_thresholds: dict[str, float | None]) -> float:
    if label in cfg.thresholds:
        return cfg.thresholds[label]
    value = model_thresholds.get(label)
    return cfg.default_threshold if value is None else value


def band(pred: Prediction, cfg: PolicyConfig, model_thresholds: dict[str, float | None]) -> str:
    confident = pred.confidence >= threshold_for(pred.label, cfg, model_thresholds)
    return HIGH if confident and pred.margin >= cfg.ambiguity_margin else LOW


def decide_for_label(label: str, cfg: PolicyConfig, correction: tuple[int, str, str] | None = None) -> Decision:
    """The reply for a label the bot is sure about (a confident prediction or the customer's own word)."""
    return Decision(template=f"{label}_{HIGH}", label=label, band=HIGH, handoff=label in cfg.handoff_labels,
                    ask_review=label in cfg.review_labels, correction=correction)


def decide_prediction(pred: Prediction, cfg: PolicyConfig, model_thresholds: dict[str, float | None]) -> Decision:
    if band(pred, cfg, model_thresholds) == HIGH:
        return decide_for_label(pred.label, cfg)
    if pred.margin < cfg.ambiguity_margin:   # no leaning worth confirming: ask which label fits
        return Decision(template="clarify", label=pred.label, band=LOW, ask=WHICH)
    return Decision(template=f"{pred.label}_{LOW}", label=pred.label, band=LOW, ask=CONFIRM)


def decide_answer(answer: Answer, pending: Pending, cfg: PolicyConfig) -> Decision:
    """The reply to an explicit answer: the label the customer meant is recorded and acted on; a "no" to
    "did I get that right?" asks which label fits instead of guessing again."""
    if answer.kind == NO:
        return Decision(template="correction", label=pending.leaning, band=LOW, ask=WHICH)
    label = pending.leaning if answer.kind == YES else answer.label
    return decide_for_label(label, cfg, correction=(pending.target_id, label, answer.source))


# --- reading an answer -------------------------------------------------------------------------------------------

FRIENDLY = {"negative": "👎 Bad", "neutral": "😐 Okay", "positive": "👍 Good"}
YES_TEXT, NO_TEXT = "Yes, that's right", "No"


def quick_replies(kind: str | None, labels: list[str]) -> list[QuickReply]:
    """The buttons offered with a question (none without one)."""
    if kind == CONFIRM:
        return [QuickReply(YES, YES_TEXT), QuickReply(NO, NO_TEXT)]
    if kind == WHICH:
        return [QuickReply(f"label:{label}", FRIENDLY.get(label, label.replace("_", " ").capitalize()))
                for label in labels]
    return []


_YES_WORDS = {"yes", "yeah", "yep", "yup", "ya", "y", "correct", "right", "exactly", "indeed", "sure", "true",
              "that's right", "thats right", "that is right", "you got it", "spot on"}
_NO_WORDS = {"no", "nope", "nah", "n", "not really", "wrong", "incorrect", "no it wasn't", "no it was not"}
SYNONYMS = {
    "negative": ("negative", "bad", "terrible", "awful", "poor", "horrible", "unhappy", "disappointed",
                 "disappointing", "annoyed", "angry", "upset", "frustrated", "dreadful", "👎"),
    "neutral": ("neutral", "ok", "okay", "fine", "alright", "average", "so-so", "so so", "meh", "mixed",
                "in between", "neither", "neither good nor bad", "😐"),
    "positive": ("positive", "good", "great", "excellent", "amazing", "awesome", "fantastic", "happy", "pleased",
                 "satisfied", "wonderful", "perfect", "brilliant", "lovely", "👍"),
}
# Words that may surround the one label word without changing what it says ("it was really bad").
_FILLER = {"it", "its", "it's", "was", "is", "were", "i", "i'd", "id", "i'm", "im", "am", "would", "say", "very",
           "really", "quite", "pretty", "so", "just", "definitely", "rather", "overall", "honestly", "the",
           "experience", "that", "thats", "that's", "all", "in", "actually", "a", "bit",
           "kind", "of", "sort", "more", "like", "um", "uh", "well", "oh"}
_NEGATORS = {"not", "never", "isn't", "wasn't", "didn't", "don't", "no", "hardly", "nothing", "nor"}
_PUNCT = re.compile(r"[^\w\s'👍👎😐-]+")


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold().replace("’", "'")
    return " ".join(_PUNCT.sub(" ", text).split())


def _label_word(words: list[str], labels: list[str]) -> str | None:
    """The label that ``words`` (fillers removed) name, when they are exactly one synonym of one label."""
    phrase = " ".join(w for w in words if w not in _FILLER)
    if not phrase:
        return None
    found = {label for label in labels if phrase in SYNONYMS.get(label, ()) or phrase == label.casefold()}
    return found.pop() if len(found) == 1 else None


def read_answer(text: str, pending: Pending, labels: list[str]) -> Answer | None:
    """The customer's typed answer to ``pending``, or None when the message is not an unambiguous answer (then it
    is a new message). Pure; the caller has already checked that the question is the one the customer sees."""
    norm = _normalise(text)
    if not norm or len(norm.split()) > 8:
        return None
    if norm in _YES_WORDS:
        return Answer(YES, pending.leaning, CUSTOMER_TEXT) if pending.kind == CONFIRM else None
    if norm in _NO_WORDS:
        return Answer(NO, None, CUSTOMER_TEXT) if pending.kind == CONFIRM else None
    words = norm.split()
    opener = None
    for prefix in sorted(_YES_WORDS | _NO_WORDS, key=len, reverse=True):   # "yes, it was bad" / "no, good"
        if norm.startswith(prefix + " "):
            opener = YES if prefix in _YES_WORDS else NO
            words = norm[len(prefix) + 1:].split()
            break
    rest = " ".join(words)
    if opener == YES and rest in _YES_WORDS or opener == NO and rest in _NO_WORDS:   # "yeah, that's right"
        return read_answer(opener, pending, labels)
    if _NEGATORS & set(words):          # "not bad", "wasn't great": meaning flips; never guess
        return None
    label = _label_word(words, labels)
    if label is None:
        return None
    if opener == YES and pending.kind == CONFIRM and label != pending.leaning:
        return None                     # "yes, it was good" to "you're unhappy, right?": contradictory
    if opener == NO and pending.kind == CONFIRM and label == pending.leaning:
        return None                     # "no, it was bad" to "you're unhappy, right?": contradictory
    return Answer("label", label, CUSTOMER_TEXT)


def read_button(payload: str, pending: Pending, labels: list[str]) -> Answer | None:
    """A quick-reply press: exactly one of the payloads offered with the open question, else None."""
    offered = {q.payload for q in quick_replies(pending.kind, labels)}
    if payload not in offered:
        return None
    if payload == YES:
        return Answer(YES, pending.leaning, CUSTOMER_BUTTON)
    if payload == NO:
        return Answer(NO, None, CUSTOMER_BUTTON)
    return Answer("label", payload.removeprefix("label:"), CUSTOMER_BUTTON)


def open_question(pending: Pending | None, in_reply_to: int | None) -> Pending | None:
    """The pending question if it is the reply the customer is answering, else None (a question the customer can
    no longer see, after undo, clear or a reload, is never answered)."""
    if pending is None or in_reply_to is None or in_reply_to != pending.asked_in:
        return None
    return pending
