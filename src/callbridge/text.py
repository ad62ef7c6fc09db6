"""The one rule for user text: what a text input may hold, and the key it is matched by.

Matching: SQLite's NOCASE folds ASCII only and Python's lower() is not case folding, so "Émile"
was not found by "émile". Every name, organization and email is matched through ``fold``: NFKC
(full-width "Ｊｏｈｎ" is "John", the "ﬁ" ligature is "fi") then Unicode case folding ("Straße" is
"strasse", "ΣΟΦΙΑ" is "σοφια"). Accents are kept on purpose: "Muller" and "Müller" are different
names in German, "Peña" and "Pena" in Spanish, and a receptionist types the name they see; an
accent-blind match would put strangers into a screen-pop's result list (docs/contacts.md).

Validation: text reaches logs, CSV exports, phones' displays and the dialplan. Control characters
(NUL ends a C string early: a NUL in a search once matched every contact) and the Unicode bidi
controls that make text display in another order than it is stored (U+202E turns "gnp.exe" into
"exe.png") are refused with a 400, as are lone surrogates (not text; SQLite can't store them).
"""

from __future__ import annotations

import re
import unicodedata

# C0/C1 controls and DEL; multi-line fields (notes, addresses) may hold tab, LF and CR.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Bidi embeddings, overrides and isolates (LRE RLE PDF LRO RLO, LRI RLI FSI PDI); surrogates.
_UNSAFE = re.compile("[\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def check_text(value: str, multiline: bool = False) -> str:
    """value unchanged, or ValueError saying what it may not hold."""
    if (_CONTROL_MULTILINE if multiline else _CONTROL).search(value):
        raise ValueError("must not contain control characters" +
                         (" (other than tab and line breaks)" if multiline else ""))
    if _UNSAFE.search(value):
        raise ValueError("must not contain bidirectional control characters or lone surrogates")
    return value


def check_multiline(value: str) -> str:
    return check_text(value, multiline=True)


def fold(value: str | None) -> str | None:
    """The matching key of a name, organization or email: NFKC, then case folded (see above).

    NFKC again after casefold: folding can produce sequences that compose differently."""
    if value is None:
        return None
    if value.isascii():  # NFKC leaves ASCII as it is, and its casefold is lower()
        return value.lower()
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", value).casefold())


def prefix_range(prefix: str) -> tuple[str, str | None]:
    """[low, high) of the strings that start with prefix, in SQLite's binary (code point) order;
    high is None when no string is above the range (the prefix is all U+10FFFF).

    The next string after every extension of prefix is prefix with its last character
    incremented; U+10FFFF has no successor, so it is dropped and the one before it incremented,
    and the surrogate block (no code point SQLite can store) is stepped over."""
    head = prefix
    while head:
        last = ord(head[-1])
        if last < 0x10FFFF:
            nxt = last + 1
            if 0xD800 <= nxt <= 0xDFFF:
                nxt = 0xE000
            return prefix, head[:-1] + chr(nxt)
        head = head[:-1]
    return prefix, None
