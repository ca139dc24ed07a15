"""The bot's configuration: one typed dataclass tree, loaded from one TOML file with env overrides.

File: ``--config FILE`` or ``FEEDBACKBOT_CONFIG``; tables ``[model] [policy] [templates] [conversation] [models]
[db] [store] [server] [limits] [webhooks]``.
Env: ``FEEDBACKBOT_<TABLE>_<FIELD>``, e.g. ``FEEDBACKBOT_DB_URL=postgresql+psycopg://...``,
``FEEDBACKBOT_POLICY_AMBIGUITY_MARGIN=0.2``. Defaults live here, once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Literal
from pathlib import Path

from finetune import typed_config


@dataclass
class ModelConfig:
    # "default" = the shipped adapter merged onto the embedded base (cached after the first start);
    # or a merged model directory from `feedbackbot finetune` (OUT/model); or an adapter directory (OUT/adapter).
    path: str = "default"
    max_length: int = 128
    # A message longer than max_length tokens is read in overlapping windows of max_length, at most this many
    # (128 x 8 covers ~900 words), and the windows' logits are averaged by length; 1 = truncate instead.
    max_chunks: int = 8
    # Messages per forward pass; a call's messages are sorted by length first, so each pass pads little. Small
    # passes measure fastest on a small CPU (int8, 2 cores, 32 messages per call: 395 msg/s in passes of 8, 229 in
    # passes of 32), since batching buys little compute there and padding costs a lot.
    batch_size: int = 8
    threads: int | None = None          # inference threads; default min(4, CPUs this process may use)
    # Inference backend: "torch" (the reference), "onnx" (ONNX Runtime, float32) or "onnx-int8" (ONNX Runtime
    # with dynamic int8 weights: the fastest on a small CPU; accuracy guarded, see README "Speed").
    backend: Literal["torch", "onnx", "onnx-int8"] = "onnx-int8"
    # onnx-int8 refuses to start when its predictions agree with the float model on fewer probe messages.
    min_agreement: float = 0.95
    # onnx-int8 re-runs on the float graph the messages whose top two logits are closer than this (int8 rounding
    # moves logits by ~0.2). Measured on the default model: 4-5% of messages, agreement with PyTorch 98.5% -> 99.7%.
    # 0 = off (and the float graph is not kept in memory).
    recheck_margin: float = 0.5
    # Micro-batching: concurrent replies share one forward pass; a lone request is never delayed. 0 = off.
    # bench/load.py (API, 100 sessions, int8): 69.7 msg/s with 5 ms vs 41.7 without, p95 1.7 s vs 5.1 s.
    batch_window_ms: float = 5.0
    # Temperatures fitted on this business's own labelled messages by `feedbackbot calibrate`, keyed by the model
    # version they were fitted for (a model without an entry serves with its own temperature).
    temperatures: dict[str, float] = field(default_factory=dict)
    # Per-class logit biases fitted together with that temperature (`feedbackbot calibrate` chose "temperature +
    # bias"), keyed by model version, then label: probabilities are softmax(logits / T + bias).
    biases: dict[str, dict[str, float]] = field(default_factory=dict)
    # Per-class logit scales fitted together with them (`feedbackbot calibrate` chose "scales+bias": vector
    # scaling), keyed like the biases: probabilities are softmax(scale * logits / T + bias).
    scales: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass
class PolicyConfig:
    # Per-label minimum calibrated confidence for a confident ("high" band) reply. Labels not listed use
    # the thresholds stored in the model (chosen on validation for a target precision), then `default_threshold`.
    thresholds: dict[str, float] = field(default_factory=dict)
    default_threshold: float = 0.8
    ambiguity_margin: float = 0.15      # top-1 minus top-2 probability below this -> ask (as Rasa's fallback)
    handoff_labels: list[str] = field(default_factory=lambda: ["negative"])
    review_labels: list[str] = field(default_factory=lambda: ["positive"])


@dataclass
class TemplatesConfig:
    directory: str = ""                 # empty = the packaged templates/
    # Empty = unset: each language's templates then word the sentence without a name ("a member of our team",
    # "jemand von uns"), instead of one English placeholder inserted into every language.
    business_name: str = ""
    review_url: str = ""                # shown to happy customers when set

    @property
    def name(self) -> str:
        """The business name as served: surrounding blanks dropped, "" when unset."""
        return self.business_name.strip()

    @property
    def name_unset(self) -> bool:
        return not self.name

    def name_warning(self) -> str | None:
        """A warning for a business name that reads wrong in replies (the old English default), or None."""
        if self.name.lower() == "our team":
            return ('[templates] business_name = "our team" (the old default) is inserted as is into every '
                    "language's replies; leave it empty for each language's own wording, or set your name")
        return None


@dataclass
class CustomKind:
    """A kind of message the business answers itself, e.g. opening hours: recognised from `examples` (any
    language), answered with `reply` (plain text, shown as is; per language in `replies`)."""
    name: str = ""
    examples: list[str] = field(default_factory=list)
    reply: str = ""
    replies: dict[str, str] = field(default_factory=dict)    # language -> reply, e.g. {de = "Wir haben ..."}


@dataclass
class ConversationConfig:
    # Channels where the bot speaks first (the API returns the greeting with POST /conversations for clients to show).
    greet_channels: list[str] = field(default_factory=lambda: ["gradio", "widget", "cli", "api"])
    default_language: str = "en"        # until a message (or the client's hint) says otherwise
    languages: list[str] = field(default_factory=lambda: ["en", "de", "fr", "es", "pt", "it", "nl"])
    kinds: list[CustomKind] = field(default_factory=list)    # [[conversation.kinds]] name/examples/reply


@dataclass
class ModelsConfig:
    """The model registry (bot.registry) and hot reload (bot.reloader)."""
    max_regression: float = 0.02    # promote refuses a candidate this much worse on any held-out suite (unless forced)
    poll_s: float = 5.0             # how often a running bot checks which version serves; 0 = never (no hot reload)


@dataclass
class DbConfig:
    url: str = ""                       # empty = SQLite file in the user data dir; or postgresql+psycopg://...


@dataclass
class StoreConfig:
    # Replace e-mail addresses, phone numbers, card numbers (Luhn-checked) and IBANs (mod-97-checked) in message
    # text with [email] [phone] [card] [iban] before it is stored or exported (bot/redact.py); the classifier still
    # reads the original. A contact the customer gives for their hand-off ticket is kept on the ticket.
    redact: bool = False
    retain_days: int = 0                # `feedbackbot purge` deletes conversations idle longer; 0 = keep forever


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 7860
    allowed_origins: list[str] = field(default_factory=list)   # may embed the widget / call the API cross-origin
    console_logins_per_minute: int = 10  # operator console login attempts per client address (then 429)


@dataclass
class LimitsConfig:
    max_message_chars: int = 5000
    per_session_per_minute: int = 20    # HTTP channels; 0 = no limit
    per_ip_per_minute: int = 120        # HTTP channels, per client address; 0 = no limit
    max_concurrent_replies: int = 4     # model work at once; more requests wait up to `queue_timeout_s`
    queue_timeout_s: float = 10.0       # then 503


@dataclass
class WebhooksConfig:
    """Hand-off notifications (see bot.webhooks): a JSON event POSTed to each URL, signed with HMAC-SHA256."""
    urls: list[str] = field(default_factory=list)     # empty = no notifications
    # The HMAC key. Set it by env (FEEDBACKBOT_WEBHOOKS_SECRET), not in the file; never logged nor shown.
    secret: str = field(default="", repr=False)
    on_thumbs_down: bool = False        # also notify when a customer gives a reply a thumbs-down
    max_attempts: int = 12              # then the delivery is marked failed (visible in the store's outbox stats)
    backoff_s: float = 2.0              # retry n waits backoff_s * 2**(n-1), capped at backoff_max_s, with jitter
    backoff_max_s: float = 600.0
    timeout_s: float = 10.0             # per POST
    poll_s: float = 1.0                 # how often the worker looks for due deliveries (new ones wake it at once)

    def __post_init__(self):
        from urllib.parse import urlsplit

        for i, url in enumerate(self.urls):
            if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
                raise typed_config.ConfigError(f"webhooks.urls[{i}]: not an http(s) URL")   # URLs can be secrets
        if self.urls and not self.secret:
            raise typed_config.ConfigError("webhooks.urls is set but webhooks.secret is empty: set "
                                           "FEEDBACKBOT_WEBHOOKS_SECRET (events are always signed)")
        if self.max_attempts < 1 or self.backoff_s < 0 or self.backoff_max_s < 0 or self.timeout_s <= 0 \
                or self.poll_s <= 0:
            raise typed_config.ConfigError("webhooks: max_attempts >= 1, backoff_s >= 0, backoff_max_s >= 0, "
                                           "timeout_s > 0 and poll_s > 0")


@dataclass
class BotConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    templates: TemplatesConfig = field(default_factory=TemplatesConfig)
    conversation: ConversationConfig = field(default_factory=ConversationConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    db: DbConfig = field(default_factory=DbConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    server: ServerConfig = field(default_factory=ServerConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    webhooks: WebhooksConfig = field(default_factory=WebhooksConfig)


def load_config(path: Path | None = None, env=None) -> BotConfig:
    env = os.environ if env is None else env
    if path is None and env.get("FEEDBACKBOT_CONFIG"):
        path = Path(env["FEEDBACKBOT_CONFIG"])
    return typed_config.load(BotConfig, path, env=env)  # a [finetune] table in the same file is skipped


ConfigError = typed_config.ConfigError
