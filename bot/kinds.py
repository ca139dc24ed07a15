"""What kind of message this is, before any sentiment: greeting, thanks/goodbye, a question, a request for a person,
a question about the customer's ticket, business-defined kinds (e.g. opening hours) — or feedback.

Few-shot, from example utterances (``bot/kinds_examples.jsonl``, seven languages, plus ``[[conversation.kinds]]``
from the config): a message takes the kind of the examples it is most similar to, and is feedback unless that
similarity is convincing. Similarity is the cosine of TF-IDF vectors of character 2-5-grams and words, kept in an
inverted index, so a message costs well under a millisecond (bench/conversation.py; the README has the numbers).

Why not sentence embeddings (the SetFit idea)? The served encoder is fine-tuned for sentiment, so its hidden states
separate "good" from "bad" rather than "hello" from "where is my order", and a second, untouched encoder pass would
cost 4-15 ms per message on 2 cores against a budget of 3 ms. The examples carry the multilinguality instead: a
kind is recognised in a language for which it has examples. Measured on a held-out set written independently of
these examples (data/conversation/kinds_test.jsonl).
"""

from __future__ import annotations

import importlib.resources
import json
import math
import re
import unicodedata
import zlib
from collections import defaultdict
from dataclasses import dataclass

FEEDBACK = "feedback"
TOP_K = 2
BUILT_IN = ("greeting", "thanks", "question", "person", "ticket")
_NON_WORD = re.compile(r"[^\w?¿!¡']+")


@dataclass(frozen=True)
class Example:
    text: str
    kind: str
    language: str = ""


@dataclass(frozen=True)
class KindGuess:
    kind: str
    score: float            # cosine similarity to the closest example of that kind
    example: str | None     # that example (for explanations and tests)
    language: str | None    # the example's language


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_NON_WORD.sub(" ", text).split())


def features(text: str) -> dict[int, float]:
    """Hashed character 2-5-grams of each word (with boundaries) and the words themselves, log-scaled counts.
    (Position features, first word and length, measured no better by leave-one-out: 0.765 vs 0.781.)"""
    counts: dict[int, int] = defaultdict(int)
    norm = normalise(text)
    for word in norm.split():
        counts[zlib.crc32(b"w:" + word.encode())] += 2
        padded = f" {word} "
        for n in (2, 3, 4, 5):
            for i in range(len(padded) - n + 1):
                counts[zlib.crc32(padded[i:i + n].encode())] += 1
    if "?" in text or "¿" in text:
        counts[zlib.crc32(b"#question-mark")] += 2
    return {f: 1.0 + math.log(c) for f, c in counts.items()}


def packaged_examples() -> list[Example]:
    path = importlib.resources.files("bot") / "kinds_examples.jsonl"
    return [Example(**json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


class KindDetector:
    """Nearest examples by TF-IDF cosine; ``min_similarity`` separates a recognised kind from feedback."""

    def __init__(self, examples: list[Example], min_similarity: float = 0.2):
        if not examples:
            raise ValueError("the kind detector needs example utterances")
        self.examples = examples
        self.min_similarity = min_similarity
        vectors = [features(e.text) for e in examples]
        df: dict[int, int] = defaultdict(int)
        for vec in vectors:
            for f in vec:
                df[f] += 1
        n = len(vectors)
        self.idf = {f: math.log((1 + n) / (1 + d)) + 1.0 for f, d in df.items()}
        self.index: dict[int, list[tuple[int, float]]] = defaultdict(list)
        for i, vec in enumerate(vectors):
            weighted = self._weigh(vec)
            for f, w in weighted.items():
                self.index[f].append((i, w))

    def _weigh(self, vec: dict[int, float]) -> dict[int, float]:
        weighted = {f: v * self.idf.get(f, 0.0) for f, v in vec.items()}
        norm = math.sqrt(sum(w * w for w in weighted.values())) or 1.0
        return {f: w / norm for f, w in weighted.items() if w}

    @property
    def kinds(self) -> list[str]:
        return sorted({e.kind for e in self.examples} | {FEEDBACK})

    def detect(self, text: str) -> KindGuess:
        scores: dict[int, float] = defaultdict(float)
        for f, w in self._weigh(features(text)).items():
            for i, ew in self.index.get(f, ()):
                scores[i] += w * ew
        if not scores:
            return KindGuess(FEEDBACK, 0.0, None, None)
        # A kind's score is the mean of its TOP_K closest examples: one example sharing a topic word ("invoice")
        # must not decide alone.
        by_kind: dict[str, list[tuple[float, int]]] = defaultdict(list)
        for i, score in scores.items():
            by_kind[self.examples[i].kind].append((score, i))
        ranked = {kind: sorted(hits, reverse=True)[:TOP_K] for kind, hits in by_kind.items()}
        kind_score = {kind: sum(s for s, _ in hits) / TOP_K for kind, hits in ranked.items()}
        kind = max(kind_score, key=kind_score.__getitem__)
        example = self.examples[ranked[kind][0][1]]
        if kind == FEEDBACK or kind_score[kind] < self.min_similarity:
            return KindGuess(FEEDBACK, kind_score.get(FEEDBACK, 0.0), None,
                             example.language if kind == FEEDBACK else None)
        return KindGuess(kind, kind_score[kind], example.text, example.language or None)
