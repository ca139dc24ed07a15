"""Redaction of personal data in customer text before it is stored or exported (``[store] redact = true``).

Pure functions, no I/O. What is replaced, each by a typed placeholder:

- ``[email]``: an e-mail address (a superset of what the hand-off flow reads as a contact address);
- ``[iban]``: 2 letters, 2 check digits and 11-30 letters/digits (grouped by spaces or not) that pass the ISO 13616
  mod-97 check; a string that fails it is not an IBAN;
- ``[card]``: a run of 13-19 digits (grouped by single spaces or hyphens or not) that passes the Luhn check; a run
  that fails it is not a card;
- ``[phone]``: 7-15 digits (up to 17 after a leading ``00``), optionally after ``+``, grouped by spaces, dots,
  hyphens, slashes or parentheses: the numbers the hand-off flow reads as a phone number, and so also other long
  numbers (an order number of 7+ digits typed bare). Kept: dates (2026-01-31, 31.01.2026, 1/31/26: 1900-2099, with
  a day and a month that exist) and numbers glued to letters, ``#``, ``/`` or ``-`` (ticket ids like FB-12345678, URLs,
  ``#1234567``).

Detection runs in that order on the original text (e-mail, IBAN, card, phone); a later kind never matches inside
an earlier one. ``redact(redact(t).text) == redact(t).text``: the placeholders hold nothing any rule matches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

EMAIL, IBAN, CARD, PHONE = "email", "iban", "card", "phone"
KINDS = (EMAIL, IBAN, CARD, PHONE)
PLACEHOLDERS = {kind: f"[{kind}]" for kind in KINDS}
_MASK = "\ue000"     # stands in for a span already taken: not a word character, not a separator

_EMAIL = re.compile(r"(?<![\w.+-])[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,24}(?![\w-])")
# An IBAN candidate: country, check digits, then letters/digits with at most single spaces between them; the
# longest prefix ending at a group boundary that passes mod-97 is the IBAN (so trailing words do not spoil it).
_IBAN = re.compile(r"(?<![^\W_])[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9])+")
_GLUED = r"(?<![\w+\-/.#@" + _MASK + r"])"     # a number glued to these is part of something else (ids, URLs)
_DIGIT_RUN = re.compile(_GLUED + r"\d+(?:[ -]\d+)*(?!\w)")                 # card candidates: groups of digits
# Between digits: nothing, one of space . - /, or a parenthesis with a space on either side ("(0) 20"). Not " / ":
# two numbers given as alternatives ("030 1234567 / 0171 7654321") are two phones, not one too long to be one.
_PHONE = re.compile(_GLUED + r"\+?(?:\(\d{1,5}\)|\d)(?:(?:[ ./-]|\) ?| ?\(|\) ?\()?\d)*\)?(?!\w)")
_DATE = re.compile(r"(?<![\d./+-])(?:(?:19|20)\d\d([-./])(\d{1,2})\1(\d{1,2})"
                   r"|(\d{1,2})([-./])(\d{1,2})\5(?:(?:19|20)\d\d|\d\d))(?![./-]?\d)")


@dataclass(frozen=True)
class Found:
    kind: str
    start: int
    end: int
    value: str


@dataclass(frozen=True)
class Redacted:
    text: str
    found: tuple[Found, ...]

    @property
    def changed(self) -> bool:
        return bool(self.found)


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check of a string of digits."""
    if not digits.isdigit() or not digits.isascii():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_valid(iban: str) -> bool:
    """ISO 13616: 15-34 characters (spaces ignored), country letters, check digits, mod 97 == 1."""
    s = iban.replace(" ", "").upper()
    if not (15 <= len(s) <= 34 and s.isascii() and s.isalnum() and s[:2].isalpha() and s[2:4].isdigit()):
        return False
    rearranged = s[4:] + s[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def find(text: str) -> list[Found]:
    """The personal data in ``text``: non-overlapping spans, in order."""
    found: list[Found] = []
    work = text

    def take(kind: str, start: int, end: int) -> None:
        nonlocal work
        found.append(Found(kind, start, end, text[start:end]))
        work = work[:start] + _MASK * (end - start) + work[end:]

    for m in _EMAIL.finditer(work):
        take(EMAIL, m.start(), m.end())
    for m in list(_IBAN.finditer(work)):
        span = _longest_iban(m.group())
        if span:
            take(IBAN, m.start(), m.start() + span)
    for m in list(_DIGIT_RUN.finditer(work)):
        for start, end in _cards(m.group()):
            take(CARD, m.start() + start, m.start() + end)
    dates = _DATE.sub(lambda d: _MASK * len(d.group()) if _is_date(d) else d.group(), work)
    for m in _PHONE.finditer(dates):
        value = m.group()
        digits = sum(ch.isdigit() for ch in value)
        limit = 17 if value.startswith("00") else 15
        if 7 <= digits <= limit:
            take(PHONE, m.start(), m.end())
    return sorted(found, key=lambda f: f.start)


def redact(text: str) -> Redacted:
    """``text`` with each piece of personal data replaced by its placeholder."""
    found = find(text)
    out, at = [], 0
    for f in found:
        out += [text[at:f.start], PLACEHOLDERS[f.kind]]
        at = f.end
    out.append(text[at:])
    return Redacted("".join(out), tuple(found))


def scrub(text: str, found: tuple[Found, ...] | list[Found]) -> str:
    """``text`` with the exact values already found elsewhere (in the customer's message) replaced: for the bot's
    reply, which may quote the message, without touching what the bot itself says (a business's own phone number
    in a configured answer stays)."""
    for f in sorted(found, key=lambda f: len(f.value), reverse=True):
        text = text.replace(f.value, PLACEHOLDERS[f.kind])
    return text


def redact_record(text: str, reply: str | None, clauses: list | None) -> tuple[str, str | None, list | None, bool]:
    """A stored exchange with the customer's personal data taken out: (text, reply, clauses, changed). The reply is
    scrubbed of what the message held; clause texts (parts of the message) are redacted as well."""
    r = redact(text)
    changed = r.changed
    if reply is not None:
        scrubbed = scrub(reply, r.found)
        changed |= scrubbed != reply
        reply = scrubbed
    if clauses:
        new = []
        for clause in clauses:
            if isinstance(clause, dict) and isinstance(clause.get("text"), str):
                part = redact(scrub(clause["text"], r.found)).text
                changed |= part != clause["text"]
                clause = {**clause, "text": part}
            new.append(clause)
        clauses = new
    return r.text, reply, clauses, changed


def _is_date(m: re.Match) -> bool:
    """yyyy-mm-dd, or dd.mm.yy(yy) / mm/dd/yy(yy), in 1900-2099 with a day and a month that exist (12-34-5678 and
    0171-12-12 are phones)."""
    if m.group(2) is not None:
        return 1 <= int(m.group(2)) <= 12 and 1 <= int(m.group(3)) <= 31
    a, b = int(m.group(4)), int(m.group(6))
    return 1 <= min(a, b) <= 12 and max(a, b) <= 31


def _longest_iban(candidate: str) -> int:
    """The length of the longest prefix of ``candidate`` ending at a group boundary that is a valid IBAN, or 0.
    Written in groups, an IBAN has groups of 4 (the last 1-4, with a digit: it ends in account digits) in one case,
    so a word after it is not taken in."""
    ends = [i for i, ch in enumerate(candidate) if ch == " "] + [len(candidate)]
    for end in reversed(ends):
        prefix = candidate[:end]
        groups = prefix.split(" ")
        if len(groups) > 1 and (any(len(g) != 4 for g in groups[:-1]) or len(groups[-1]) > 4
                                or not any(ch.isdigit() for ch in groups[-1])
                                or not (prefix.isupper() or prefix.islower())):
            continue
        if iban_valid(prefix):
            return end
    return 0


def _cards(run: str) -> list[tuple[int, int]]:
    """Card numbers in a run of digit groups: leftmost, then longest whole-group spans of 13-19 digits that pass
    the Luhn check."""
    groups = [(m.start(), m.end()) for m in re.finditer(r"\d+", run)]
    spans, i = [], 0
    while i < len(groups):
        best, digits = None, ""
        for j in range(i, len(groups)):          # at most 19 digits: a few groups, never the whole run
            digits += run[groups[j][0]:groups[j][1]]
            if len(digits) > 19:
                break
            if len(digits) >= 13 and luhn_valid(digits):
                best = j
        if best is None:
            i += 1
        else:
            spans.append((groups[i][0], groups[best][1]))
            i = best + 1
    return spans
