"""JavaScript string semantics the contract depends on (the real server is Node.js)."""

from __future__ import annotations

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
