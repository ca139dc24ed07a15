"""Response templates: sandboxed Jinja2, customer text only ever passed as a variable.

Each ``templates/<key>.j2`` may hold several variants separated by a line ``{# variant #}``; the bot picks one
deterministically per message so replies do not repeat word for word. Lookup for a label template
``<label>_<band>`` falls back to ``default_<band>`` (for label sets without their own files, e.g. emotions);
``feedbackbot templates check`` lists which labels use it.
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
FIXED_KEYS = ("clarify", "correction", "error", "greeting")


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
            "review_url": "https://example.com/review", "ask_review": True, "handoff": True}


class Renderer:
    def __init__(self, directory: Path | None = None):
        self.directory = Path(directory) if directory else packaged_templates_dir()
        if not self.directory.is_dir():
            raise TemplateSetError(f"template directory {self.directory} does not exist")
        self._envs = {escape: SandboxedEnvironment(undefined=StrictUndefined, autoescape=escape,
                                                   keep_trailing_newline=False) for escape in (False, True)}
        self._variants: dict[str, list[str]] = {}
        problems = []
        for path in sorted(self.directory.glob("*.j2")):
            source = path.read_text(encoding="utf-8")
            variants = [v.strip() for v in VARIANT_SPLIT.split(source) if v.strip()]
            for i, variant in enumerate(variants):
                try:
                    for env in self._envs.values():
                        env.from_string(variant)
                except TemplateError as exc:
                    problems.append(f"{path.name} variant {i + 1}: {exc}")
            self._variants[path.stem] = variants
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
        return sorted(self._variants)

    def resolve(self, key: str) -> str:
        if key in self._variants:
            return key
        for band in (HIGH, LOW):
            if key.endswith(f"_{band}") and f"default_{band}" in self._variants:
                return f"default_{band}"
        raise TemplateSetError(f"no template {key}.j2 in {self.directory}")

    def render(self, key: str, context: dict, pick: int = 0) -> Rendered:
        key = self.resolve(key)
        n = len(self._variants[key])
        try:
            text = self._compiled[(key, False, pick % n)].render(**context)
            html = self._compiled[(key, True, pick % n)].render(**context)
        except TemplateError as exc:
            raise TemplateSetError(f"{key}.j2: {exc}") from None
        return Rendered(text=text.strip(), html=html.strip(), template=key)

    def check(self, labels: list[str]) -> list[str]:
        """Render every variant of every needed template with sample context; return a report (raises on problems)."""
        needed = [f"{label}_{band}" for label in labels for band in (HIGH, LOW)] + list(FIXED_KEYS)
        problems, report = [], []
        for key in needed:
            try:
                used = self.resolve(key)
            except TemplateSetError as exc:
                problems.append(str(exc))
                continue
            report.append(f"{key}: {used}.j2" + ("" if used == key else " (default)"))
        ctx = sample_context(labels)
        for key, variants in self._variants.items():
            for i in range(len(variants)):
                for escape in (False, True):
                    try:
                        out = self._compiled[(key, escape, i)].render(**ctx)
                    except TemplateError as exc:
                        problems.append(f"{key}.j2 variant {i + 1}: {exc}")
                        break
                    if not out.strip():
                        problems.append(f"{key}.j2 variant {i + 1}: renders empty")
                        break
        if problems:
            raise TemplateSetError("template check failed:\n  " + "\n  ".join(dict.fromkeys(problems)))
        return report
