"""What counts as visible text, written once as regular expressions.

The same patterns validate requests (pydantic, the forms, the OAuth sign-up) and appear in the
OpenAPI document, so a client knows exactly which strings the server takes. They use only
`\\xHH`/`\\uHHHH` escapes and character classes, which Python, Rust (pydantic) and ECMA-262
(JSON Schema) read alike.
"""

from __future__ import annotations

import re

# Control characters, C1 controls, soft hyphen, zero-width and bidi controls, separators, BOM.
_HIDDEN = r"\x00-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb"
# Unicode spaces (str.split() splits on these and on the controls above).
_SPACES = r" \u00a0\u1680\u2000-\u200a\u202f\u205f\u3000"

VISIBLE = rf"^[^{_HIDDEN}]*$"  # visible text, possibly empty
SOME_VISIBLE = rf"^[^{_HIDDEN}]*[^{_HIDDEN}{_SPACES}][^{_HIDDEN}]*$"  # with one non-space character
USERNAME = r"^[A-Za-z0-9_.-]{3,32}$"
_ADDRESS_PART = rf"[^@{_HIDDEN}{_SPACES}]"
EMAIL = rf"^{_ADDRESS_PART}{{1,64}}@{_ADDRESS_PART}+\.{_ADDRESS_PART}+$"

VISIBLE_RE, SOME_VISIBLE_RE = re.compile(VISIBLE), re.compile(SOME_VISIBLE)
USERNAME_RE, EMAIL_RE = re.compile(USERNAME), re.compile(EMAIL)


def is_visible(text: str) -> bool:
    """Whether `text` holds no control, zero-width or bidi characters (it may be empty)."""
    return VISIBLE_RE.fullmatch(text) is not None  # fullmatch: `$` alone would allow a final newline


def tidy(text: str) -> str:
    """Whitespace runs become one space, ends trimmed."""
    return " ".join(text.split())
