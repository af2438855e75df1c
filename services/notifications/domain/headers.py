"""Values that end up in a mail header: made single-line and inert, whatever a partner typed.

An activity title or organisation name reaches the Subject line, a display name reaches From/To. Python's
``email`` package refuses CR/LF (and U+2028, U+2029, NEL, VT, FF, which its line splitting treats as
line breaks) with a ValueError, and lets NUL and other controls through raw. Either way one hostile name
would break every mail it appears in, so every such value is neutralised before it is set.
"""

from __future__ import annotations

import re
import unicodedata

MAX_HEADER_CHARS = 250

# Cc: C0/C1 controls incl. CR, LF, NEL; Cf: format characters (bidi overrides, zero-width); Zl/Zp:
# U+2028/U+2029; Cs/Co/Cn: surrogates, private use, unassigned code points.
_UNSAFE_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"}
_SPACES = re.compile(r"\s+")


def header_text(value: object, *, limit: int = MAX_HEADER_CHARS) -> str:
    """One line of plain text: unsafe characters become spaces, runs of white space one space, and the
    result is cut at ``limit`` characters (an ellipsis marks the cut)."""
    text = "".join(" " if unicodedata.category(ch) in _UNSAFE_CATEGORIES else ch for ch in str(value))
    text = _SPACES.sub(" ", text).strip()
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


_ADDR_SPEC = re.compile(r"^[^\s@<>()\[\],;:\"\\]+@[^\s@<>()\[\],;:\"\\]+$")


def safe_address(address: str) -> bool:
    """An addr-spec with nothing that could end a header or smuggle a second address."""
    return bool(_ADDR_SPEC.match(address)) and all(
        unicodedata.category(ch) not in _UNSAFE_CATEGORIES for ch in address
    )
