"""Identifier formats of the contract (Firestore auto-IDs, prefixed uuids)."""

from __future__ import annotations

import secrets
import string
import uuid

_AUTO_ID_ALPHABET = string.ascii_letters + string.digits


def auto_id() -> str:
    """20 characters of [A-Za-z0-9], the format of posts, runs, products and workspaces."""
    return "".join(secrets.choice(_AUTO_ID_ALPHABET) for _ in range(20))


def asset_id() -> str:
    """Media asset ids are `ast_<uuid-v4>` (delete/finalize validate this shape)."""
    return f"ast_{uuid.uuid4()}"


def request_id() -> str:
    """Fresh per error body; never echoed in a header."""
    return str(uuid.uuid4())


def digits(count: int) -> str:
    """Random decimal digits without a leading zero, for plausible platform ids."""
    return str(secrets.randbelow(9) + 1) + "".join(secrets.choice(string.digits) for _ in range(count - 1))


def shortcode(count: int = 11) -> str:
    """Instagram/Threads-style permalink code."""
    return "".join(secrets.choice(_AUTO_ID_ALPHABET + "_-") for _ in range(count))
