"""Synthetic training examples for the behaviours the suite probes, built from this module's own parts.

The behaviour suite (``data/behaviour``) is hand-written held-out truth; training on paraphrases of it would
make its scores meaningless. So nothing here is derived from it: the subjects, verdicts, intensifiers, emoji and
noise rules below are this module's own (services the suite does not use: couriers, cafés, garages, gyms,
utilities, insurers), and ``tests/test_augment.py`` fails when generated texts share an exact sentence or more
than a small share of word 3-grams with the suite.

Labels follow from construction: a negated positive verdict is negative, the clause after "but" carries the
label, an intensifier keeps the polarity, a noise transform keeps the label.

Versions (a recipe's ``[mix] augment_version``): version 1 is exactly what the shipped ``multilingual-aug`` model
was trained on, kept byte for byte so that recipe still reproduces it. Version 2 adds what the probes showed the
model still misreads, each from this module's own words again:

- praise whose word looks like a complaint: "-less" and "-free" words that praise (seamless, tireless,
  hassle-free) next to "-less" words that blame (clueless, pointless), so the suffix stops being the cue;
- litotes: a negated complaint word is praise ("wasn't a hassle in the slightest", "zero hiccups with");
- neutral negations drawn from a pool large enough that about a third of the negation examples are neutral (in
  version 1 the 195 distinct negated facts ran out and duplicates redrew the label: 21% neutral);
- questions: a plain question is neutral, a question that complains is negative, one that thanks is positive.

Version 3 keeps version 2 and widens its two weakest behaviours (negation and intensity, below 0.92 on the suite's
validation half and its test half): negated *actions* ("never got back to me" is a complaint, "didn't put a foot
wrong" is praise), degree words on facts that stay neutral ("the van is hugely wide"), mild verdicts that keep
their polarity ("a wee bit tardy") and superlatives.
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

# --- version 2: this module's own words again, none taken from the behaviour suites --------------------------------

# "-less" / "-free" words: the first praise, the second blame; the same suffix on both sides.
SUFFIX_PRAISE = ("seamless", "effortless", "faultless", "tireless", "stress-free", "hassle-free", "trouble-free",
                 "fuss-free", "priceless")
SUFFIX_BLAME = ("clueless", "pointless", "hopeless", "thoughtless", "careless", "tactless", "charmless")
# Complaint words that a negation turns into praise (litotes).
MILD_BAD = ("a hassle", "a chore", "a headache", "fiddly", "awkward to arrange", "a faff", "a struggle", "shabby",
            "a drag", "slow to turn up")
SNAGS = ("hiccups", "snags", "glitches", "surprises on the bill", "delays", "headaches")
_LITOTES_FORMS = ("{s} wasn't {m} in the slightest", "{s} was never once {m}", "booking {s} was not {m} this time",
                  "for once {s} wasn't {m}", "I wouldn't call {s} {m} by any measure")
_SNAG_FORMS = ("zero {n} with {s}", "not one of the usual {n} with {s}, lovely", "{s} came with no {n} this time",
               "I had no {n} whatsoever from {s}, thank you")
# More negated facts, and tails that keep them facts.
NEGATED_FACTS_2 = ("{s} hasn't confirmed the time slot", "I don't need {s} after the end of May",
                   "my landlord didn't tell me about {s}", "I haven't had a reply from {s} because I only wrote today",
                   "{s} won't need the spare key", "we aren't switching from {s}, just updating the address",
                   "I didn't ask {s} for a receipt", "{s} isn't open on the 26th", "nobody from {s} is due this week",
                   "I haven't read the leaflet from {s}", "{s} doesn't take bookings by text",
                   "I won't be home when {s} calls, my neighbour will")
FACT_TAILS = ("", ", just so you know", ", for your records", " (as far as I know)", ", in case it matters")
_QUESTION_NEUTRAL = ("what time does {s} shut on Fridays?", "can I move {s} to the afternoon?",
                     "does {s} need the reference number?", "who should I ask about {s}?",
                     "is {s} included in the monthly fee?", "how far ahead should I book {s}?",
                     "where do I send the form for {s}?", "which day is {s} coming?",
                     "do I pay {s} before or after the job?", "is there a phone number for {s}?",
                     "has {s} got my new address?", "can my partner sign for {s} instead of me?",
                     "how long does {s} usually take?", "do you have a price list for {s}?",
                     "is {s} available on the 3rd?", "what do I bring to {s}?")
_QUESTION_NEGATIVE = ("why was {s} so {b} again?", "how can {s} be this {b}?", "why does nobody fix {s}?",
                      "is {s} always this {b}?", "what's the point of {s} if it never turns up?")
_QUESTION_POSITIVE = ("could you thank {s} for being so {g}?", "can I leave a review saying {s} was {g}?",
                      "will {s} be the same one next time? they were {g}")


def negation_v2(rng: random.Random) -> Example:
    """Version 1's negation with a neutral pool that does not run out (facts x tails)."""
    if rng.random() < 1 / 3:
        return _negated_fact(rng)
    return _polar_negation(rng)


def _negated_fact(rng: random.Random) -> Example:
    subject = rng.choice(SUBJECTS)      # drawn first: version 2's exact draws (recipes reproduce its model)
    fact = rng.choice(NEGATED_FACTS + NEGATED_FACTS_2).format(s=subject) + rng.choice(FACT_TAILS)
    return Example(_upper_first(fact) + ".", "neutral", "negation")


def _polar_negation(rng: random.Random) -> Example:
    """A polar negation from version 1's forms."""
    while True:
        example = negation(rng)
        if example.label != "neutral":
            return example


def suffix_praise(rng: random.Random) -> Example:
    label = rng.choice(("positive", "negative"))
    word = rng.choice(SUFFIX_PRAISE if label == "positive" else SUFFIX_BLAME)
    subject = rng.choice(SUBJECTS)
    form = rng.choice(("{s} was {w}", "the whole visit from {s} was {w}", "{w}, that's {s} for you",
                       "{s}: {w} from start to finish", "honestly {s} was {w}"))
    return Example(_upper_first(form.format(s=subject, w=word)) + ".", label, "suffix_words")


def litotes(rng: random.Random) -> Example:
    subject = rng.choice(SUBJECTS)
    if rng.random() < 0.5:
        text = rng.choice(_LITOTES_FORMS).format(s=subject, m=rng.choice(MILD_BAD))
    else:
        text = rng.choice(_SNAG_FORMS).format(s=subject, n=rng.choice(SNAGS))
    return Example(_upper_first(text) + ".", "positive", "litotes")


def question(rng: random.Random) -> Example:
    label = rng.choice(("neutral", "neutral", "negative", "positive"))
    forms = {"neutral": _QUESTION_NEUTRAL, "negative": _QUESTION_NEGATIVE, "positive": _QUESTION_POSITIVE}[label]
    text = rng.choice(forms).format(s=rng.choice(SUBJECTS), b=rng.choice(BAD), g=rng.choice(GOOD))
    return Example(_upper_first(text), label, "questions")


GENERATORS_V2 = (negation_v2, contrast, intensity, emoji, noisy, suffix_praise, litotes, question)

# --- version 3: negated actions, degree words on facts, mild and superlative verdicts -------------------------------
# Version 2's negations only negate an adjective ("the courier wasn't punctual"). Customers more often negate what
# a service did or failed to do: a promised action that never happened is a complaint, "not a foot wrong" is praise.
# And a degree word is not a verdict: "hugely wide" about a van is a fact, "a smidge tardy" is still a complaint.

# A service that did not do its job: negative.
_FAILED_ACTIONS = ("{s} never got back to me about the refund", "{s} still hasn't sorted the leak",
                   "no one from {s} turned up on the agreed day", "{s} didn't return a single one of my calls",
                   "not one of my messages to {s} has been answered", "{s} failed to show and didn't warn us",
                   "the repair by {s} didn't even last a week", "{s} never sent the paperwork they promised",
                   "I got no apology from {s}, nothing at all", "{s} hasn't refunded the deposit after a month",
                   "nobody at {s} seemed to know what was going on", "{s} didn't bother to knock, just left a card",
                   "I won't be using {s} again after this", "{s} didn't fix anything, the noise is back",
                   "there was no sign of {s} all afternoon", "{s} never explained the extra charge")
# A service that left nothing to wish for: positive.
_NOTHING_AMISS = ("{s} didn't put a foot wrong", "not a thing went amiss with {s}",
                  "there's nothing I'd change about {s}", "{s} never once kept me hanging on",
                  "I wouldn't hesitate to book {s} again", "not a mark was left on the walls by {s}",
                  "I've got zero gripes with {s}", "{s} left nothing to be desired",
                  "I can't think of a single thing {s} could have done better", "{s} didn't miss a beat",
                  "not once did {s} make me chase them", "{s} never lets us down, week after week")
# Degree words (this module's own list, none of the suites' words).
STRONG = ("unbelievably", "wildly", "hugely", "immensely", "decidedly", "truly", "insanely", "awfully")
MILD = ("a smidge", "faintly", "a wee bit", "moderately", "sort of", "ever so slightly", "partly")
# Facts with a degree word on a word that is no verdict: neutral.
_DEGREE_FACTS = ("the van from {s} is {d} wide, so I'll clear the drive", "the quote from {s} is {d} detailed, "
                 "it runs to five pages", "{s} is {d} new round here, they opened in May",
                 "the booking form for {s} is {d} long, nine sections", "our flat is {d} high up for {s}, fourth "
                 "floor", "{s} is {d} far from my office, two bus stops", "the slot with {s} is {d} early, "
                 "ten past six", "the box for {s} is {d} tall, it won't fit in the car", "my question about {s} is "
                 "{d} technical, it's about the meter", "the street for {s} is {d} narrow, park round the corner")
# Verdicts with a mild degree keep their polarity: a small complaint is still a complaint.
MILD_PRAISE = ("tidier than last time", "cheaper than I feared", "quicker than the old one", "friendlier than "
               "the previous team", "easier to book than before")
MILD_BLAME = ("tardy", "steep on price", "rushed", "grumpy", "behind on the schedule", "off-hand with us")
# Superlatives.
_SUPERLATIVE = {"positive": ("{s} was hands down the finest we've used", "{s} beat every other firm we tried",
                             "top marks to {s}, best in town by a mile"),
                "negative": ("{s} was hands down the shoddiest we've used", "{s} was worse than every other firm "
                             "we tried", "{s} was the most chaotic outfit in town by a mile")}


def negation_v3(rng: random.Random) -> Example:
    """A third neutral negated facts, a third version 1's negated verdicts, a third negated actions."""
    roll = rng.random()
    if roll < 2 / 3:
        return _negated_fact(rng) if roll < 1 / 3 else _polar_negation(rng)
    label = rng.choice(("positive", "negative"))
    pool = _NOTHING_AMISS if label == "positive" else _FAILED_ACTIONS
    return Example(_upper_first(rng.choice(pool).format(s=rng.choice(SUBJECTS))) + ".", label, "negation")


def intensity_v3(rng: random.Random) -> Example:
    """A third neutral facts with a degree word; the rest verdicts, strong, mild or superlative."""
    subject = rng.choice(SUBJECTS)
    if rng.random() < 1 / 3:
        text = rng.choice(_DEGREE_FACTS).format(s=subject, d=rng.choice(STRONG + MILD))
        return Example(_upper_first(text) + rng.choice(FACT_TAILS) + ".", "neutral", "intensity")
    label = rng.choice(("positive", "negative"))
    style = rng.random()
    if style < 0.4:
        text = f"{subject} was {rng.choice(STRONG)} {_verdict(rng, label)}"
    elif style < 0.8:
        text = f"{subject} was {rng.choice(MILD)} {rng.choice(MILD_PRAISE if label == 'positive' else MILD_BLAME)}"
    else:
        text = rng.choice(_SUPERLATIVE[label]).format(s=subject)
    return Example(_upper_first(text) + ".", label, "intensity")


GENERATORS_V3 = (negation_v3, contrast, intensity_v3, emoji, noisy, suffix_praise, litotes, question)
VERSIONS = {1: GENERATORS, 2: GENERATORS_V2, 3: GENERATORS_V3}


def generate(n: int, seed: int = 0, version: int = 1) -> list[Example]:
    """``n`` distinct examples, round-robin over the behaviours of ``version``, reproducible from ``seed``."""
    if version not in VERSIONS:
        raise ValueError(f"augment version {version} is unknown; known: {sorted(VERSIONS)}")
    generators = VERSIONS[version]
    rng = random.Random(seed)
    seen, out = set(), []
    attempts = 0
    while len(out) < n:
        attempts += 1
        if attempts > 50 * n:
            raise ValueError(f"only {len(out)} distinct examples could be made; ask for fewer than {n}")
        example = generators[len(out) % len(generators)](rng)
        if example.text not in seen:
            seen.add(example.text)
            out.append(example)
    return out
