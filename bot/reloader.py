"""Hot reload: a running bot follows the registry's serving version without a restart or a failed request.

A background thread asks the store every ``poll_s`` seconds which version serves (bot.registry). When it is not
the one this process serves, it builds the new classifier beside the old one (model directory, ONNX build and
start-up checks, warm-up — seconds, off the request path), then swaps the reference the bot holds. A reply
reads that reference once per turn, so a turn in flight finishes on the model it started with, and the next turn
uses the new one; every stored message records the version that answered it. Replicas sharing one PostgreSQL
converge on the promoted version within ``poll_s``. A version that fails to load is logged and retried at the
next poll; the old model keeps serving meanwhile.
"""

from __future__ import annotations

import logging
import threading

from .registry import Registry

log = logging.getLogger("feedbackbot")


class ModelWatcher:
    def __init__(self, bot, poll_s: float = 5.0, log_fn=None):
        self.bot, self.poll_s = bot, poll_s
        self.registry = Registry(bot.store)
        self._log = log_fn or log.info
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.failed: dict[str, str] = {}      # version -> the last load error (shown once per version)

    def check(self) -> bool:
        """Switch to the serving version if it is not the one served; True when a swap happened."""
        serving = self.registry.serving()
        if serving is None or serving["version"] == self.bot.classifier.version:
            return False
        try:
            classifier = self.bot.load_classifier(serving["path"])
            if classifier.labels != self.bot.classifier.labels:
                raise ValueError(f"labels {classifier.labels} differ from {self.bot.classifier.labels}")
        except Exception as exc:   # keep serving the old model; say why once per version
            if self.failed.get(serving["version"]) != str(exc):
                self.failed[serving["version"]] = str(exc)
                log.error("cannot switch to model %s: %s", serving["version"], exc)
            return False
        previous = self.bot.classifier.version
        self.bot.classifier = classifier
        self._log(f"now serving model {classifier.version} (was {previous})")
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.check()
            except Exception:     # the store unreachable for a moment: try again at the next poll
                log.exception("model watcher: checking the registry failed")

    def start(self) -> "ModelWatcher":
        self.check()
        self._thread = threading.Thread(target=self._run, name="model-watcher", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
