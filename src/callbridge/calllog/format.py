"""Numbers as the call log shows them: '(580) 867-5309', '(580) 867-5309, x309'."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers


# libphonenumber takes ~50 us a number, and a PBX sees the same numbers again and again.
@lru_cache(maxsize=8192)
def display_number(digits: str | None, region: str = "US") -> str | None:
    if not digits:
        return None
    try:
        parsed = phonenumbers.parse(digits, region)
    except phonenumbers.NumberParseException:
        return digits
    if not phonenumbers.is_possible_number(parsed):
        return digits
    home = phonenumbers.country_code_for_region(region)
    style = (phonenumbers.PhoneNumberFormat.NATIONAL if parsed.country_code == home
             else phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return phonenumbers.format_number(parsed, style)


def inside_number(extension: str, did: str | None, region: str = "US") -> str:
    shown = display_number(did, region) if did else None
    return f"{shown}, x{extension}" if shown else f"x{extension}"
