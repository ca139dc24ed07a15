"""The confidence policy: pure functions of (message, prediction, conversation state, config) -> decision. No I/O.

Bands: a prediction is "high" when its calibrated confidence reaches the label's threshold and the gap to the
runner-up is at least the ambiguity margin; otherwise "low", and the bot asks instead of guessing.

What the customer tells us becomes a stored label only when it is unambiguous (what the store keeps is the next
fine-tune's training data, so a wrong label is worse than none):
- an answer counts only for a question the customer can see: the client names the reply it answers
  (``in_reply_to``) and it must be the reply that asked the open question;
- it is either a quick-reply button (an exact payload) or a message that names a label and nothing else ("bad",
  "it was okay", "gut"). Anything longer is a new message, classified on its own: "they gave me the wrong meal"
  is a complaint, not a correction, whatever words it contains.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from .config import PolicyConfig
from .locales import LABEL_WORDS

HIGH, LOW = "high", "low"
WHICH = "which"                         # the question "how was it: bad, okay, good?" (label buttons)
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
    kind: str = WHICH                   # WHICH, or a flow question (bot.flow: followup, csat, contact)


@dataclass(frozen=True)
class QuickReply:
    payload: str                        # what a button press sends, e.g. "label:negative", "csat:4"
    text: str                           # what the button shows (and what the chat shows as the customer's turn)


@dataclass(frozen=True)
class Answer:
    """The customer's explicit answer to "how was it?": the label they chose."""
    label: str
    source: str                         # CUSTOMER_BUTTON | CUSTOMER_TEXT


@dataclass(frozen=True)
class Decision:
    template: str                       # template key, e.g. "negative_high", "clarify"
    label: str                          # the label the reply is about
    band: str
    handoff: bool = False               # open (or add to) the conversation's hand-off ticket
    ask_review: bool = False
    ask: str | None = None              # this reply asks a question: WHICH, or a flow question
    correction: tuple[int, str, str] | None = None   # (target message id, label, source) the customer gave


def threshold_for(label: str, cfg: PolicyConfig, model_thresholds: dict[str, float | None]) -> float:
    if label in cfg.thresholds:
        return cfg.thresholds[label]
    value = model_thresholds.get(label)
    return cfg.default_threshold if value is None else value


def band(pred: Prediction, cfg: PolicyConfig, model_thresholds: dict[str, float | None]) -> str:
    confident = pred.confidence >= threshold_for(pred.label, cfg, model_thresholds)
    return HIGH if confident and pred.margin >= cfg.ambiguity_margin else LOW


def combine_evidence(before: Prediction, answer: Prediction, prior: dict[str, float] | None = None) -> Prediction:
    """The reading of a follow-up answer together with the message it follows up: two messages of one customer
    about one experience are two pieces of evidence for one label, so (Bayes, the messages taken as independent
    given the label) p(y | both) is proportional to p(y | before) * p(y | answer) / p(y). ``prior``: the prior the
    served probabilities already hold once each (Classifier.served_prior: the training label shares, times
    e^bias where a business's class biases are served); None or missing labels: uniform. Measured against reading the two messages concatenated (bench/conversation.py): fewer
    confirmation steps and more of the confident readings right, because a long concatenation dilutes a clear
    answer with the vague message it follows."""
    labels = list(before.probabilities)
    prior = prior or {}
    score = {label: max(before.probabilities[label], 1e-9) * max(answer.probabilities.get(label, 0.0), 1e-9)
             / max(prior.get(label, 1.0 / len(labels)), 1e-9) for label in labels}
    total = sum(score.values())
    probabilities = {label: value / total for label, value in score.items()}
    return Prediction(max(probabilities, key=probabilities.get), probabilities)


def decide_for_label(label: str, cfg: PolicyConfig, correction: tuple[int, str, str] | None = None) -> Decision:
    """The reply for a label the bot is sure about (a confident prediction or the customer's own word)."""
    return Decision(template=f"{label}_{HIGH}", label=label, band=HIGH, handoff=label in cfg.handoff_labels,
                    ask_review=label in cfg.review_labels, correction=correction)


def decide_answer(answer: Answer, pending: Pending, cfg: PolicyConfig) -> Decision:
    """The reply to an explicit answer: the label the customer meant is recorded and acted on."""
    return decide_for_label(answer.label, cfg, correction=(pending.target_id, answer.label, answer.source))


# --- reading an answer -------------------------------------------------------------------------------------------

# Words a customer may answer "how was it?" with, in the languages we serve (bot/locales.py has the buttons).
SYNONYMS = {
    "negative": ("negative", "bad", "terrible", "awful", "poor", "horrible", "unhappy", "disappointed",
                 "disappointing", "annoyed", "angry", "upset", "frustrated", "dreadful", "👎", "schlecht",
                 "mies", "furchtbar", "mauvais", "nul", "horrible", "mal", "malo", "ruim", "péssimo", "male",
                 "pessimo", "slecht"),
    "neutral": ("neutral", "ok", "okay", "fine", "alright", "average", "so-so", "so so", "meh", "mixed",
                "in between", "neither", "neither good nor bad", "😐", "oké", "okee", "geht so", "mittel",
                "correct", "moyen", "normal", "regular", "razoável", "mais ou menos", "così così", "normale",
                "gaat wel"),
    "positive": ("positive", "good", "great", "excellent", "amazing", "awesome", "fantastic", "happy", "pleased",
                 "satisfied", "wonderful", "perfect", "brilliant", "lovely", "👍", "gut", "super", "toll", "bien",
                 "bon", "génial", "bueno", "genial", "bom", "ótimo", "bene", "buono", "ottimo", "goed", "prima"),
}
# Words that may surround the one label word without changing what it says ("it was really bad").
_FILLER = {"it", "its", "it's", "was", "is", "were", "i", "i'd", "id", "i'm", "im", "am", "would", "say", "very",
           "really", "quite", "pretty", "so", "just", "definitely", "rather", "overall", "honestly", "the",
           "experience", "that", "thats", "that's", "all", "in", "actually", "a", "bit", "kind", "of", "sort",
           "more", "like", "um", "uh", "well", "oh", "es", "war", "sehr", "c'était", "très", "fue", "muy", "foi",
           "muito", "era", "molto", "het", "heel", "erg"}
_NEGATORS = {"not", "never", "isn't", "wasn't", "didn't", "don't", "no", "hardly", "nothing", "nor", "nicht",
             "kein", "pas", "ne", "não", "nao", "non", "niet", "geen"}
_PUNCT = re.compile(r"[^\w\s'👍👎😐-]+")


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold().replace("’", "'")
    return " ".join(_PUNCT.sub(" ", text).split())


def read_answer(text: str, pending: Pending, labels: list[str]) -> Answer | None:
    """The label a typed answer to "how was it?" names, or None when the message is not an unambiguous answer
    (then it is a new message). Pure; the caller has already checked that the question is the one shown."""
    if pending.kind != WHICH:
        return None
    words = _normalise(text).split()
    if not words or len(words) > 6 or _NEGATORS & set(words):   # "not bad": meaning flips; never guess
        return None
    phrase = " ".join(w for w in words if w not in _FILLER)
    found = {label for label in labels if phrase in SYNONYMS.get(label, ()) or phrase == label.casefold()}
    if len(found) != 1:                 # none, or a word of several labels, or the label words of a button
        found = {label for label in labels if _normalise(text) in (_normalise(b) for b in _button_texts(label))}
    return Answer(found.pop(), CUSTOMER_TEXT) if len(found) == 1 else None


def _button_texts(label: str) -> list[str]:
    return [words[label] for words in LABEL_WORDS.values() if label in words]


def read_button(payload: str, pending: Pending, labels: list[str]) -> Answer | None:
    """A label button pressed under the open "how was it?" question, else None."""
    label = payload.removeprefix("label:") if payload.startswith("label:") else None
    if pending.kind != WHICH or label not in labels:
        return None
    return Answer(label, CUSTOMER_BUTTON)


def open_question(pending: Pending | None, in_reply_to: int | None) -> Pending | None:
    """The pending question if it is the reply the customer is answering, else None (a question the customer can
    no longer see, after undo, clear or a reload, is never answered)."""
    if pending is None or in_reply_to is None or in_reply_to != pending.asked_in:
        return None
    return pending
