"""JavaScript string semantics the contract depends on (the real server is Node.js)."""

from __future__ import annotations

import math
import re
from typing import Any

# Characters removed by String.prototype.trim: ECMAScript WhiteSpace + LineTerminator.
# Python's str.strip() differs (it strips U+001C..U+001F and keeps U+FEFF), so it cannot be used.
_JS_WHITESPACE = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)


def js_trim(value: str) -> str:
    """Trim like JavaScript, so normalized bodies and lengths match the server's zod `.trim()`."""
    return value.strip(_JS_WHITESPACE)


def js_length(value: str) -> int:
    """Length in UTF-16 code units (JavaScript `.length`): an emoji outside the BMP counts as 2."""
    return len(value.encode("utf-16-le", "surrogatepass")) // 2


_DECIMAL_RE = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
_RADIX = {"0x": 16, "0o": 8, "0b": 2}


def js_number(value: str) -> float:
    """`Number(string)`: trimmed, empty is 0, 0x/0o/0b prefixes, Infinity; anything else is NaN."""
    text = js_trim(value)
    if not text:
        return 0.0
    radix = _RADIX.get(text[:2].lower())
    if radix is not None:
        try:
            return float(int(text[2:], radix))
        except ValueError:
            return math.nan
    if text in ("Infinity", "+Infinity"):
        return math.inf
    if text == "-Infinity":
        return -math.inf
    return float(text) if _DECIMAL_RE.match(text) else math.nan


def js_string(value: Any) -> str:
    """`String(value)` for JSON values (Connect coerces ids this way)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return ",".join("" if item is None else js_string(item) for item in value)
    if isinstance(value, dict):
        return "[object Object]"
    return str(value)


def js_truthy(value: Any) -> bool:
    """JavaScript truthiness of a JSON value (objects and arrays are always truthy)."""
    if isinstance(value, dict | list):
        return True
    return bool(value)
