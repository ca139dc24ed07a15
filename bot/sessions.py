"""Conversation identity: the customer's client holds a secret session token; the store knows only a hash of it.

The token is what authorises a client to continue a conversation, read its history, rate or correct its messages.
It is issued by the server (128 random bits), never chosen by a client, and never stored: conversations are keyed
by ``conversation_id(token)``, a one-way hash, so an export, a log line or the operator console that shows a
conversation id gives nobody the power to write into it.
"""

from __future__ import annotations

import hashlib
import secrets

TOKEN_BYTES = 16


def new_session_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def conversation_id(token: str) -> str:
    """The public, stored id of the conversation that ``token`` opens (32 hex characters)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()[:32]
