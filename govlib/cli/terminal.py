"""Text for a terminal: stored or untrusted text can never move the cursor or recolour the screen.

A kill-switch reason, a reviewer's name or a span attribute may hold control characters: ``\\r``
and ``ESC [ 2 K`` can rewrite what a terminal shows (a TRIGGERED switch reading as armed), and
bidi overrides can reverse what a line says. Every echo of such text in the CLI goes through
:func:`terminal_safe`, which shows those characters as escapes (``\\x1b``, ``\\r``, ``\\n``,
``\\u202e``) and keeps ordinary printable Unicode (accents, CJK, emoji) as it is.
"""

from __future__ import annotations

import unicodedata

__all__ = ["BIDI_CONTROLS", "terminal_safe", "terminal_lines"]

#: Bidi embeddings, overrides and isolates (U+202A..U+202E, U+2066..U+2069), the implicit marks
#: (LRM, RLM, ALM): shown escaped, never applied.
BIDI_CONTROLS = frozenset(
    [
        *map(chr, range(0x202A, 0x202F)),
        *map(chr, range(0x2066, 0x206A)),
        "\u200e",
        "\u200f",
        "\u061c",
    ]
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
#: Control (Cc), line and paragraph separators (Zl, Zp) and lone surrogates (Cs).
_UNSAFE_CATEGORIES = {"Cc", "Zl", "Zp", "Cs"}


def _escaped(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _unsafe(char: str) -> bool:
    return char in BIDI_CONTROLS or unicodedata.category(char) in _UNSAFE_CATEGORIES


def terminal_safe(text: object) -> str:
    """``text`` as one terminal line: control, separator and bidi characters shown as escapes.

    Example:
        >>> terminal_safe("TRIGGERED\\r\\x1b[2KKill-switch armed")
        'TRIGGERED\\\\r\\\\x1b[2KKill-switch armed'
        >>> terminal_safe("Zoë 名前 🙂 \\u202egnp.exe")
        'Zoë 名前 🙂 \\\\u202egnp.exe'
    """
    value = str(text)
    if value.isprintable():  # the common case (bidi controls, like every Cf, are not printable)
        return value
    return "".join(_escaped(c) if _unsafe(c) else c for c in value)


def terminal_lines(text: object) -> str:
    """Multi-line output (a summary, then one line per problem): each line made safe on its own.

    Line breaks stay line breaks; a carriage return, escape or bidi control inside a line is
    shown escaped.

    Example:
        >>> print(terminal_lines("Chain broken\\nreason: x\\r\\x1b[2Kfine"))
        Chain broken
        reason: x\\r\\x1b[2Kfine
    """
    return "\n".join(terminal_safe(line) for line in str(text).split("\n"))
