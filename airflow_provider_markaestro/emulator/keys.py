"""API key format (§2.1) and the scope catalogue (§2.3); shared by the seed loader and auth."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

KEY_PREFIX = "mk_live_"

ALL_SCOPES: tuple[str, ...] = (
    "products.read",
    "media.write",
    "posts.read",
    "posts.write",
    "posts.publish",
    "job_runs.read",
    "webhooks.manage",
)

# products.read is the only implied scope; nothing else implies anything (§2.3).
_IMPLIED_BY: dict[str, frozenset[str]] = {"products.read": frozenset({"posts.write", "posts.publish"})}

CLIENT_ID_RE = re.compile(r"^cli_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{32}$")


@dataclass(frozen=True)
class ParsedKey:
    workspace_id: str
    client_id: str
    secret: str


def parse_key(token: str) -> ParsedKey | None:
    """Split `mk_live_<ws>.<client>.<secret>` at the first two dots, trimming each part, as keys.ts does."""
    if not token.startswith(KEY_PREFIX):
        return None
    parts = token[len(KEY_PREFIX) :].split(".", 2)
    if len(parts) != 3:
        return None
    workspace_id, client_id, secret = (part.strip() for part in parts)
    if not workspace_id or not client_id or not secret:
        return None
    return ParsedKey(workspace_id, client_id, secret)


def hash_secret(secret: str) -> str:
    """The server keeps only SHA-256 hex of the secret; the emulator does the same."""
    return hashlib.sha256(secret.encode()).hexdigest()


def has_scope(granted: frozenset[str], required: str) -> bool:
    """Scope check including the products.read implication."""
    return required in granted or bool(granted & _IMPLIED_BY.get(required, frozenset()))
