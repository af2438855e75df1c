"""iCalendar (RFC 5545) content lines, the one writer behind every calendar the services produce.

Why it is shared: a value copied from a partner's input (an organisation name, an activity title) ends up
in calendars of two services, and a single escaping mistake there lets that input end the content line
and start properties or whole components of its own (``\\rEND:VEVENT\\rBEGIN:VEVENT``).

- TEXT values (§3.3.11): backslash, semicolon and comma are escaped; every line break — CRLF, a lone LF, a
  lone CR, and the Unicode line separators some parsers split on (NEL, U+2028, U+2029) — becomes ``\\n``.
  Other control characters are not allowed in TEXT (the CONTROL rule, §3.1) and are dropped; HTAB stays.
- Parameter values (§3.2) are quoted when they contain ``:;,`` and lose DQUOTE and control characters.
- Lines are folded at 75 octets (§3.1), never inside a UTF-8 sequence, with CRLF + one space.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_LINE_BREAKS = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
# C0 controls but HTAB, DEL, and C1 controls (NEL is a line break, handled above).
_CONTROLS = re.compile("[\x00-\x08\x0a-\x1f\x7f\x80-\x9f]")
_NAME = re.compile(r"^[A-Za-z0-9-]+$")
MAX_OCTETS = 75


def escape_text(value: str) -> str:
    """A TEXT property value that cannot leave its content line."""
    value = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    value = _LINE_BREAKS.sub("\\\\n", value)
    return _CONTROLS.sub("", value)


def param_value(value: str) -> str:
    value = _CONTROLS.sub("", _LINE_BREAKS.sub(" ", value)).replace('"', "")
    return f'"{value}"' if any(c in value for c in ":;,") else value


def fold(line: str) -> list[str]:
    """One logical line as physical lines of at most 75 octets; continuations start with a space."""
    raw = line.encode()
    out: list[bytes] = []
    while len(raw) > (MAX_OCTETS if not out else MAX_OCTETS - 1):
        cut = MAX_OCTETS if not out else MAX_OCTETS - 1
        while (raw[cut] & 0xC0) == 0x80:  # a continuation byte: step back to the character's start
            cut -= 1
        out.append(raw[:cut])
        raw = raw[cut:]
    out.append(raw)
    return [out[0].decode(), *(" " + part.decode() for part in out[1:])]


def line(name: str, value: str, *, text: bool = False, **params: str) -> str:
    """``NAME;PARAM=v:value``. ``text=True`` escapes ``value`` as TEXT; other values (dates, numbers,
    enumerations) are written by our code, and still cannot carry a line break or control character."""
    if not _NAME.match(name) or not all(_NAME.match(k.replace("_", "-")) for k in params):
        raise ValueError(f"not an iCalendar property or parameter name: {name!r} {list(params)!r}")
    value = escape_text(value) if text else _CONTROLS.sub("", _LINE_BREAKS.sub("", value))
    head = name.upper() + "".join(f";{k.replace('_', '-').upper()}={param_value(v)}" for k, v in params.items())
    return f"{head}:{value}"


def serialize(lines: Iterable[str]) -> str:
    """The calendar object: every logical line folded, each physical line ended by CRLF."""
    return "".join(f"{physical}\r\n" for logical in lines for physical in fold(logical))
