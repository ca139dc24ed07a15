"""Response templates: sandboxed Jinja2, customer text only ever passed as a variable.

Each ``templates/<key>.j2`` may hold several variants separated by a line ``{# variant #}``; the bot picks one
deterministically per message so replies do not repeat word for word. ``templates/<lang>/<key>.j2`` is the same
reply in another language; a key missing there falls back to the top-level (English) file. Lookup for a label
template ``<label>_<band>`` falls back to ``default_<band>`` (for label sets without their own files, e.g.
emotions); ``feedbackbot templates check`` lists which labels use it and which keys each language lacks.
``business_name`` is none when the business has not set one: templates word each sentence without it in their
own language (``{{ business_name or "uns" }}``), and the check fails on any that would show "None".
"""

from __future__ import annotations

import html
import importlib.resources
import re
from dataclasses import dataclass
from pathlib import Path

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from .policy import HIGH, LOW

VARIANT_SPLIT = re.compile(r"^\{#\s*variant\s*#\}\s*$", re.M)
FIXED_KEYS = ("clarify", "tell_more", "error", "greeting", "greeting_reply", "goodbye", "csat_ask", "csat_thanks", "question",
              "person", "contact_saved", "ticket_status", "custom_kind", "mixed")
DEFAULT_LANGUAGE = "en"


class TemplateSetError(RuntimeError):
    """The template set is incomplete or broken; the message lists every problem."""


@dataclass(frozen=True)
class Rendered:
    text: str       # plain text (CLI, JSON `reply`)
    html: str       # HTML-escaped customer data (browser channels)
    template: str   # the key actually used


def packaged_templates_dir() -> Path:
    return Path(str(importlib.resources.files("templates")))


def sample_context(labels: list[str]) -> dict:
    label = labels[0]
    return {"text": "<b>sample</b> {{ 7*7 }}", "label": label, "leaning": label, "confidence": 0.9,
            "probabilities": {name: 1 / len(labels) for name in labels}, "ticket": "FB-TEST01",
            "ticket_is_new": True, "choices": ["bad", "okay", "good"], "business_name": "ACME",
            "review_url": "https://example.com/review", "ask_review": True, "handoff": True,
            "good_part": "the staff", "bad_part": "the wait", "answer": "We open at 9.", "contact_kind": "email",
            "language": "en"}


class Renderer:
    def __init__(self, directory: Path | None = None):
        self.directory = Path(directory) if directory else packaged_templates_dir()
        if not self.directory.is_dir():
            raise TemplateSetError(f"template directory {self.directory} does not exist")
        self._envs = {escape: SandboxedEnvironment(undefined=StrictUndefined, autoescape=escape,
                                                   keep_trailing_newline=False) for escape in (False, True)}
        # (language, key) -> variants; language "" is the top level (English, the fallback)
        self._variants: dict[tuple[str, str], list[str]] = {}
        problems = []
        folders = [("", self.directory)] + [(p.name, p) for p in sorted(self.directory.iterdir())
                                             if p.is_dir() and not p.name.startswith(("_", "."))]
        for language, folder in folders:
            for path in sorted(folder.glob("*.j2")):
                source = path.read_text(encoding="utf-8")
                variants = [v.strip() for v in VARIANT_SPLIT.split(source) if v.strip()]
                for i, variant in enumerate(variants):
                    try:
                        for env in self._envs.values():
                            env.from_string(variant)
                    except TemplateError as exc:
                        problems.append(f"{path.relative_to(self.directory)} variant {i + 1}: {exc}")
                self._variants[(language, path.stem)] = variants
        if problems:
            raise TemplateSetError("broken templates:\n  " + "\n  ".join(problems))
        self._compiled = {(key, escape, i): self._envs[escape].from_string(src)
                          for key, variants in self._variants.items() for i, src in enumerate(variants)
                          for escape in (False, True)}

    @staticmethod
    def escape(text: str) -> str:
        """A stored plain-text reply as HTML (replayed and restored replies)."""
        return html.escape(text, quote=True)

    def keys(self) -> list[str]:
        return sorted({key for language, key in self._variants if not language})

    def languages(self) -> list[str]:
        return sorted({language for language, _ in self._variants if language})

    def resolve(self, key: str, language: str = "") -> tuple[str, str]:
        """(language folder, key) of the file that answers ``key`` in ``language``: that language's own file,
        else the top-level one; label templates fall back to default_<band>."""
        language = "" if language == DEFAULT_LANGUAGE else language
        candidates = [key]
        for band in (HIGH, LOW):
            if key.endswith(f"_{band}"):
                candidates.append(f"default_{band}")
        for candidate in candidates:
            for folder in ((language, "") if language else ("",)):
                if (folder, candidate) in self._variants:
                    return folder, candidate
        raise TemplateSetError(f"no template {key}.j2 in {self.directory}")

    def render(self, key: str, context: dict, pick: int = 0, language: str = "") -> Rendered:
        found = self.resolve(key, language)
        n = len(self._variants[found])
        try:
            text = self._compiled[(found, False, pick % n)].render(**context)
            html_text = self._compiled[(found, True, pick % n)].render(**context)
        except (TemplateError, TypeError) as exc:   # TypeError: e.g. a filter on a none variable
            raise TemplateSetError(f"{found[1]}.j2 ({found[0] or 'default'}): {exc}") from None
        return Rendered(text=text.strip(), html=html_text.strip(), template=found[1])

    def check(self, labels: list[str], unnamed: bool = True) -> list[str]:
        """Render every variant of every template (every language) with sample context; report which file answers
        each needed key and which keys each language leaves to English (raises on problems). ``unnamed``: also
        render with no business name (as served when ``[templates] business_name`` is unset) and fail where a
        template would show "None"; a bot whose business has a name skips that pass, so a template set written
        for one named business keeps working."""
        needed = [f"{label}_{band}" for label in labels for band in (HIGH, LOW)] + list(FIXED_KEYS)
        problems, report = [], []
        for key in needed:
            try:
                used = self.resolve(key)[1]
            except TemplateSetError as exc:
                problems.append(str(exc))
                continue
            report.append(f"{key}: {used}.j2" + ("" if used == key else " (default)"))
        for language in self.languages():
            missing = [key for key in needed if (language, key) not in self._variants
                       and (key == self.resolve(key)[1] if not problems else True)]
            report.append(f"[{language}] " + (f"falls back to English for: {', '.join(missing)}" if missing
                                              else "complete"))
        named = sample_context(labels)
        # An unset [templates] business_name reaches templates as none: each sentence must read without it
        # ({{ business_name or "us" }}), else the customer would see "None" (or an empty gap).
        unnamed_ctx = {**named, "business_name": None}
        contexts = (named, unnamed_ctx) if unnamed else (named,)
        for (language, key), variants in self._variants.items():
            for i in range(len(variants)):
                name = f"{language + '/' if language else ''}{key}.j2 variant {i + 1}"
                nones = {}
                for ctx in contexts:
                    for escape in (False, True):
                        unset = "" if ctx is named else " (business_name unset)"
                        try:
                            out = self._compiled[((language, key), escape, i)].render(**ctx)
                        except (TemplateError, TypeError) as exc:   # TypeError: e.g. `| length` of a none name
                            problems.append(f"{name}{unset}: {exc}")
                            break
                        if not out.strip():
                            problems.append(f"{name}{unset}: renders empty")
                            break
                        nones[ctx is named] = len(re.findall(r"\bnone\b", out, re.IGNORECASE))   # also | upper
                if nones.get(False, 0) > nones.get(True, 0):     # more "None"s than the named rendering has
                    problems.append(f'{name}: shows "None" when business_name is unset; write a fallback, '
                                    'e.g. {{ business_name or "us" }}')
        if problems:
            raise TemplateSetError("template check failed:\n  " + "\n  ".join(dict.fromkeys(problems)))
        return report
