"""The few words the bot shows outside templates (quick-reply buttons), per language; English is the fallback.

Templates hold everything else (``templates/<lang>/``). Button texts are also what a chat shows as the customer's
turn when they press one, so every language's texts map back to the same payloads.
"""

from __future__ import annotations

LABEL_WORDS = {   # how a sentiment label is said to a customer: never "negative"
    "en": {"negative": "👎 Bad", "neutral": "😐 Okay", "positive": "👍 Good"},
    "de": {"negative": "👎 Schlecht", "neutral": "😐 Okay", "positive": "👍 Gut"},
    "fr": {"negative": "👎 Mauvais", "neutral": "😐 Correct", "positive": "👍 Bien"},
    "es": {"negative": "👎 Mal", "neutral": "😐 Normal", "positive": "👍 Bien"},
    "pt": {"negative": "👎 Ruim", "neutral": "😐 Razoável", "positive": "👍 Bom"},
    "it": {"negative": "👎 Male", "neutral": "😐 Così così", "positive": "👍 Bene"},
    "nl": {"negative": "👎 Slecht", "neutral": "😐 Oké", "positive": "👍 Goed"},
}
PERSON = {"en": "Talk to a person", "de": "Mit einem Menschen sprechen", "fr": "Parler à quelqu'un",
          "es": "Hablar con una persona", "pt": "Falar com uma pessoa", "it": "Parlare con una persona",
          "nl": "Iemand spreken"}
CHAT_HERE = {"en": "Reply here in the chat", "de": "Hier im Chat antworten", "fr": "Répondre ici dans le chat",
             "es": "Responder aquí en el chat", "pt": "Responder aqui no chat", "it": "Rispondere qui in chat",
             "nl": "Hier in de chat antwoorden"}
CSAT_STARS = ["1 ★", "2 ★★", "3 ★★★", "4 ★★★★", "5 ★★★★★"]


def label_word(label: str, language: str) -> str:
    """The button text of a label ("👍 Good"); a label without a word (e.g. "joy") is shown capitalised."""
    words = LABEL_WORDS.get(language, LABEL_WORDS["en"])
    return words.get(label) or LABEL_WORDS["en"].get(label) or label.replace("_", " ").capitalize()


def plain_word(label: str, language: str) -> str:
    """A label in running text ("bad, okay, good"): the button text without its emoji, lower case."""
    word = label_word(label, language)
    return (word.split(" ", 1)[1] if word[:1] in "👎😐👍" else word).lower()
