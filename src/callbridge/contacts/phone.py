"""Phone-number normalization, as the WebFones seed defines it.

Formatting characters and '+' are removed, and the leading country code '1' of an 11-digit number
is dropped, so "+1 (555) 999-9999", "1-555-999-9999" and "5559999999" are one number. This is the
seed's storage rule, deliberately simple and stable: it must give the same key on write and on every
search. Display formatting (call log) uses the phonenumbers library instead.
"""

from __future__ import annotations

import re

# The formatting a written number may carry: space (and the no-break space of numbers pasted
# from web pages), - . ( ) / and +. Nothing else: not tabs or line breaks (CR/LF once slipped
# through a \s here), not letters.
FORMATTING = " \u00a0-.()/"
_FORMATTING = re.compile(f"[{re.escape(FORMATTING)}+]")
PHONE_PATTERN = r"^[0-9 \u00a0().+/-]*$"  # the same, for the OpenAPI schema
MAX_DIGITS = 20


def normalize_phone(raw: str) -> str:
    """Digits only; '' for an empty input. Raises ValueError for anything that isn't a number."""
    digits = _FORMATTING.sub("", raw)
    if not digits:
        return ""
    if not (digits.isascii() and digits.isdigit()):
        raise ValueError("a phone number may hold only digits, spaces and + ( ) - . /")
    if len(digits) > MAX_DIGITS:
        raise ValueError(f"a phone number has at most {MAX_DIGITS} digits")
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    return digits


def looks_like_phone(text: str) -> bool:
    """True when text is a number with formatting only (so a search can compare it as digits)."""
    try:
        return bool(normalize_phone(text))
    except ValueError:
        return False
