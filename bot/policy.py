"""The confidence policy: pure functions of (prediction, conversation state, config) -> decision. No I/O.

Bands: a prediction is "high" when its calibrated confidence reaches the label's threshold and the gap to the
runner-up is at least the ambiguity margin; otherwise "low", and the bot asks a clarifying question instead of
guessing. A customer's answer to that question, or a "you got it wrong", becomes a correction of the earlier
message (the label the customer meant), never a second guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .config import PolicyConfig

HIGH, LOW = "high", "low"


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
    """The bot asked the customer about an earlier message and waits for the answer."""
    message_id: int
    leaning: str                        # the label the model leaned to for that message
    kind: str = "clarify"               # clarify | correction


@dataclass(frozen=True)
class Decision:
    template: str                       # template key, e.g. "negative_high", "clarify"
    label: str                          # the label the reply is about
    band: str
    handoff: bool = False               # open a hand-off ticket
    ask_review: bool = False
    pending: Pending | None = None      # state to wait in after this reply (None clears it)
    correction: tuple[int, str] | None = None   # (earlier message id, label the customer meant)
    ask_about_self: bool = False        # the pending question refers to this very message


def threshold_for(label: str, cfg: PolicyConfig, model_thresholds: dict[str, float | None]) -> float:
    if label in cfg.thresholds:
        return cfg.thresholds[label]
    value = model_thresholds.get(label)
    return cfg.default_threshold if value is None else value


def band(pred: Prediction, cfg: PolicyConfig, model_thresholds: dict[str, float | None]) -> str:
    confident = pred.confidence >= threshold_for(pred.label, cfg, model_thresholds)
    return HIGH if confident and pred.margin >= cfg.ambiguity_margin else LOW


def decide_for_label(label: str, cfg: PolicyConfig) -> Decision:
    """The reply for a label the bot is sure about (confident prediction or the customer's own word)."""
    return Decision(template=f"{label}_{HIGH}", label=label, band=HIGH,
                    handoff=label in cfg.handoff_labels, ask_review=label in cfg.review_labels)


def decide_prediction(pred: Prediction, cfg: PolicyConfig, model_thresholds: dict[str, float | None]) -> Decision:
    if band(pred, cfg, model_thresholds) == HIGH:
        return decide_for_label(pred.label, cfg)
    ambiguous = pred.margin < cfg.ambiguity_margin
    return Decision(template="clarify" if ambiguous else f"{pred.label}_{LOW}", label=pred.label, band=LOW,
                    ask_about_self=True)


_WRONG = re.compile(r"\b(you('| a)?re wrong|(you )?got (it|that|me) wrong|wrong|not what i meant|misunderstood|"
                    r"that'?s not (it|right|true)|incorrect|you misread)\b", re.I)
_YES = re.compile(r"^\s*(yes|yeah|yep|yup|correct|right|exactly|indeed|sure|that'?s right|y)\b", re.I)
_NO = re.compile(r"^\s*(no|nope|nah|not really|n)\b", re.I)
SYNONYMS = {
    "negative": ("negative", "bad", "terrible", "awful", "unhappy", "angry", "annoyed", "disappointed",
                 "frustrated", "poor", "horrible", "complaint", "upset"),
    "neutral": ("neutral", "ok", "okay", "fine", "in between", "so-so", "so so", "meh", "mixed", "average",
                "just a question", "question", "neither"),
    "positive": ("positive", "good", "great", "happy", "love", "excellent", "awesome", "pleased", "satisfied",
                 "fantastic", "amazing", "glad"),
}


def label_named(text: str, labels: list[str]) -> str | None:
    """The single label the text names (by name or a known synonym); None if none or several."""
    lowered = f" {text.lower()} "
    found = set()
    for label in labels:
        words = SYNONYMS.get(label, ()) + (label.lower(),)
        if any(re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", lowered) for w in words):
            found.add(label)
    # "not good" / "not bad" flip meaning: refuse to guess
    if re.search(r"\bnot (so |very |too )?(good|bad|great|happy|fine|ok|okay)\b", lowered):
        return None
    return found.pop() if len(found) == 1 else None


MAX_ANSWER_WORDS = 8


def looks_like_answer(text: str) -> bool:
    """Short replies, or ones opening with yes/no, answer the question; anything longer is a new message."""
    return len(text.split()) <= MAX_ANSWER_WORDS or bool(_YES.match(text) or _NO.match(text))


def read_answer(text: str, pending: Pending, labels: list[str]) -> str | None:
    """The label the customer means in answer to a pending question, or None if it is no clear answer."""
    if not looks_like_answer(text):
        return None
    named = label_named(text, labels)
    if named:
        return named
    if pending.kind == "clarify" and _YES.match(text) and not _NO.match(text):
        return pending.leaning
    return None


def says_bot_was_wrong(text: str) -> bool:
    return bool(_WRONG.search(text))


def decide_turn(text: str, pred: Prediction, pending: Pending | None, previous_message_id: int | None,
                previous_label: str | None, labels: list[str], cfg: PolicyConfig,
                model_thresholds: dict[str, float | None]) -> Decision:
    """The whole turn: answer to a pending question, complaint about the bot, or a new message."""
    if pending is not None:
        meant = read_answer(text, pending, labels)
        if meant is not None:
            decision = decide_for_label(meant, cfg)
            return Decision(template=decision.template, label=meant, band=HIGH, handoff=decision.handoff,
                            ask_review=decision.ask_review, correction=(pending.message_id, meant))
    if previous_message_id is not None and says_bot_was_wrong(text):
        meant = label_named(text, labels)
        if meant is not None:
            decision = decide_for_label(meant, cfg)
            return Decision(template=decision.template, label=meant, band=HIGH, handoff=decision.handoff,
                            ask_review=decision.ask_review, correction=(previous_message_id, meant))
        return Decision(template="correction", label=previous_label or pred.label, band=LOW,
                        pending=Pending(previous_message_id, previous_label or pred.label, "correction"))
    return decide_prediction(pred, cfg, model_thresholds)
