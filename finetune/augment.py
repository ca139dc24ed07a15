"""Synthetic training examples for the behaviours the suite probes, built from this module's own parts.

The behaviour suite (``data/behaviour``) is hand-written held-out truth; training on paraphrases of it would
make its scores meaningless. So nothing here is derived from it: the subjects, verdicts, intensifiers, emoji and
noise rules below are this module's own (services the suite does not use: couriers, cafés, garages, gyms,
utilities, insurers), and ``tests/test_augment.py`` fails when generated texts share an exact sentence or more
than a small share of word 3-grams with the suite.

Labels follow from construction: a negated positive verdict is negative, the clause after "but" carries the
label, an intensifier keeps the polarity, a noise transform keeps the label.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

SUBJECTS = ("the courier", "the barista", "the garage", "the gym instructor", "the insurance claim handler",
            "the electricity supplier", "the locksmith", "the removal crew", "the dry cleaner", "the car rental desk",
            "the parking operator", "the cinema box office", "the florist", "the tutor", "the plumber")
GOOD = ("punctual", "courteous", "thorough", "good value", "reliable", "quick to respond", "honest about costs",
        "careful with our things", "easy to deal with", "spot-on")
BAD = ("careless", "overpriced", "hours behind schedule", "dismissive", "unreachable by phone", "sloppy",
       "vague about the bill", "short-tempered", "disorganised", "a let-down")
BOOSTERS = ("remarkably", "properly", "seriously", "thoroughly", "massively")
SOFTENERS = ("marginally", "somewhat", "a touch", "mildly", "a little")
FACTS = ("{s} is booked for the 14th", "{s} sent a quote by post", "{s} opens at half past seven",
         "{s} asked for my postcode", "{s} takes cash and cards", "{s} moved to a new address in June",
         "{s} emailed a reference number", "{s} needs two days' notice")
# Negated statements of fact: a "not" does not make a message a complaint ("we didn't need the van" is neutral).
NEGATED_FACTS = ("{s} hasn't posted the invoice yet", "I haven't booked {s} for the spring", "we didn't need {s} "
                 "this month", "I'm not using {s} until after the holidays", "{s} doesn't open on bank holidays",
                 "I never signed up for the mailing list of {s}", "{s} won't arrive before noon on Thursday",
                 "I haven't decided whether to renew with {s}", "{s} isn't part of the package I chose",
                 "I don't drive, so {s} was arranged by my partner", "we haven't paid the deposit to {s} so far",
                 "{s} doesn't cover the postcode next door", "I'm not the account holder for {s}")
# Second halves of a factual contrast: plans and facts, no verdict.
PLANS = ("I may switch to the Saturday slot", "my sister handles the paperwork", "the second visit is in March",
         "the form asks for a landlord reference", "we could move it to the afternoon",
         "the receipt went to my work address", "I still have to compare two quotes")
EMOJI = {"positive": ("🌟", "💯", "😄", "🥳"), "negative": ("💢", "😞", "👿", "😣"), "neutral": ("📌", "🗓️", "ℹ️", "🔢")}


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    capability: str


def _upper_first(text: str) -> str:
    """Capitalise the first letter only (str.capitalize would lower-case "June")."""
    return text[:1].upper() + text[1:]


def _verdict(rng: random.Random, label: str) -> str:
    return rng.choice(GOOD if label == "positive" else BAD)


def _clause(rng: random.Random, label: str) -> str:
    subject = rng.choice(SUBJECTS)
    if label == "neutral":
        return rng.choice(FACTS).format(s=subject)
    return f"{subject} was {_verdict(rng, label)}"


def negation(rng: random.Random) -> Example:
    """A negated verdict takes the other polarity; "could not have been more X" keeps it (a negation that
    intensifies, the idiom a bag of words reads backwards); a negated fact stays neutral."""
    subject, label = rng.choice(SUBJECTS), rng.choice(("positive", "negative", "neutral"))
    if label == "neutral":
        return Example(_upper_first(rng.choice(NEGATED_FACTS).format(s=subject)) + ".", label, "negation")
    opposite = "negative" if label == "positive" else "positive"
    v = _verdict(rng, opposite)
    forms = (f"{subject} was never {v}", f"nobody could call {subject} {v}", f"{subject} was anything but {v}",
             f"{subject} wasn't {v}", f"{subject} was not {v}, not even slightly", f"I can't claim {subject} was {v}",
             f"{subject} didn't strike me as {v}", f"{subject} was hardly what you'd call {v}",
             f"in no way was {subject} {v}", f"I would never describe {subject} as {v}")
    if rng.random() < 0.15:
        same = rng.choice([v for v in (GOOD if label == "positive" else BAD) if " " not in v])
        return Example(_upper_first(f"{subject} couldn't have been more {same}") + ".", label, "negation")
    return Example(_upper_first(rng.choice(forms)) + ".", label, "negation")


# Contrast: the clause the connective puts last (or the main clause of "although") carries the verdict.
_CONTRAST_FORMS = ("{a}, but {b}", "{a}; however, {b}", "Although {a}, {b}", "{a}, though in the end {b}",
                   "{a}. Still, {b}", "Even if {a}, {b}", "{a}, yet {b}", "Sure, {a}, but {b}")


def contrast(rng: random.Random) -> Example:
    """A verdict after the connective carries the label (a factual clause after "but" would not make a verdict
    neutral); two factual clauses joined by "but" stay neutral."""
    label = rng.choice(("positive", "negative", "neutral"))
    form = rng.choice(_CONTRAST_FORMS)
    if label == "neutral":
        second = rng.choice(PLANS) if rng.random() < 0.5 else _clause(rng, "neutral")
        return Example(_upper_first(form.format(a=_clause(rng, "neutral"), b=second)) + ".", label, "contrast")
    first = "negative" if label == "positive" else "positive"
    return Example(_upper_first(form.format(a=_clause(rng, first), b=_clause(rng, label))) + ".", label, "contrast")


def intensity(rng: random.Random) -> Example:
    label = rng.choice(("positive", "negative"))
    degree = rng.choice(BOOSTERS + SOFTENERS)
    return Example(f"{_upper_first(rng.choice(SUBJECTS))} was {degree} {_verdict(rng, label)}.", label, "intensity")


def emoji(rng: random.Random) -> Example:
    label = rng.choice(("positive", "negative", "neutral"))
    marks = "".join(rng.choice(EMOJI[label]) for _ in range(rng.randint(1, 3)))
    text = marks if rng.random() < 0.25 else f"{_upper_first(_clause(rng, label))} {marks}"
    return Example(text, label, "emoji")


def noisy(rng: random.Random) -> Example:
    label = rng.choice(("positive", "negative", "neutral"))
    text = _clause(rng, label)
    style = rng.choice(("caps", "bare", "typo"))
    if style == "caps":
        text = text.upper()
    elif style == "typo":
        words = text.split()
        i = rng.randrange(len(words))
        if len(words[i]) > 3:
            j = rng.randrange(1, len(words[i]) - 1)
            words[i] = words[i][:j] + words[i][j + 1:]      # drop one inner letter
        text = " ".join(words)
    return Example(text.replace(",", ""), label, "noisy_text")


GENERATORS = (negation, contrast, intensity, emoji, noisy)


def generate(n: int, seed: int = 0) -> list[Example]:
    """``n`` distinct examples, round-robin over the behaviours, reproducible from ``seed``."""
    rng = random.Random(seed)
    seen, out = set(), []
    attempts = 0
    while len(out) < n:
        attempts += 1
        if attempts > 50 * n:
            raise ValueError(f"only {len(out)} distinct examples could be made; ask for fewer than {n}")
        example = GENERATORS[len(out) % len(GENERATORS)](rng)
        if example.text not in seen:
            seen.add(example.text)
            out.append(example)
    return out
