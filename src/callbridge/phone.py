"""The one number matcher: every stored number, search, call-log number and by-number lookup is
compared by the same canonical key, for the account's home region.

- ``clean`` checks what a written number may hold (digits, the formatting characters
  space - . ( ) / and a leading +) and drops the formatting: "+45 71 99 99 99" -> "+4571999999".
- ``phone_key`` is the matching key: E.164 ("+4571999999") when libphonenumber finds the number
  possible in the account's region (a Danish account's "71999999", "004571999999" and "+45 71 99 99
  99" are one number), or, failing that, valid as an international number written without its +
  (Relatel's "4571999999"); else the digits themselves (an extension "309", a short code "112"),
  which then match only the same digits.
- ``display`` is how the WebFones API shows a stored number: the key's digits without "+", and for
  North American accounts a North American number without its country code "1". That is exactly
  the seed's old rule ("+1 (555) 999-9999" is "5559999999") for US accounts, so they see what they
  always saw; a Danish account sees "4571999999".

libphonenumber's metadata is maintained upstream; hand-written national rules (trunk zeros,
international prefixes 00/011, number lengths per country) are what this replaces.
"""

from __future__ import annotations

import functools
import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult

# The formatting a written number may carry: space (and the no-break space of numbers pasted
# from web pages), - . ( ) / and +. Nothing else: not tabs or line breaks (CR/LF once slipped
# through a \s here), not letters.
FORMATTING = " \u00a0-.()/"
_FORMATTING = re.compile(f"[{re.escape(FORMATTING)}]")
PHONE_PATTERN = r"^[0-9 \u00a0().+/-]*$"  # the same, for the OpenAPI schema
MAX_DIGITS = 20
_NOT_A_NUMBER = "a phone number may hold only digits, spaces and + ( ) - . /"


def clean(raw: str) -> str:
    """The number without formatting: digits, with a leading + if it was written with one;
    '' for an empty input. ValueError for anything that isn't a written phone number."""
    compact = _FORMATTING.sub("", raw)
    plus = compact.startswith("+")
    digits = compact[1:] if plus else compact
    if not digits:
        if plus:
            raise ValueError(_NOT_A_NUMBER)
        return ""
    if not (digits.isascii() and digits.isdigit()):
        raise ValueError(_NOT_A_NUMBER)
    if len(digits) > MAX_DIGITS:
        raise ValueError(f"a phone number has at most {MAX_DIGITS} digits")
    return "+" + digits if plus else digits


def digits_of(raw: str) -> str:
    """The digits of a written number (for substring searches); ValueError as clean()."""
    return clean(raw).lstrip("+")


def _key(cleaned: str, region: str) -> str:
    """The matching key of a cleaned, non-empty number: a ten-digit North American one without
    libphonenumber (_nanp_key), any other through it."""
    return _nanp_key(cleaned, region) or _parsed_key(cleaned, region)


@functools.lru_cache(maxsize=65_536)  # call-log naming and screen-pop ask for the same numbers
def _parsed_key(cleaned: str, region: str) -> str:
    try:
        number = phonenumbers.parse(cleaned, region)
        if phonenumbers.is_possible_number_with_reason(number) == ValidationResult.IS_POSSIBLE:
            return phonenumbers.format_number(number, PhoneNumberFormat.E164)
    except NumberParseException:
        pass
    if not cleaned.startswith("+"):
        try:
            number = phonenumbers.parse("+" + cleaned, None)
            if phonenumbers.is_valid_number(number):
                return phonenumbers.format_number(number, PhoneNumberFormat.E164)
        except NumberParseException:
            pass
    return cleaned.lstrip("+")


def phone_key(raw: str, region: str) -> str:
    """The matching key of a written number for an account of `region` ('' for an empty one);
    ValueError as clean()."""
    cleaned = clean(raw)
    return _key(cleaned, region) if cleaned else ""


_NANP_REGIONS = frozenset(phonenumbers.region_codes_for_country_code(1))


def _nanp_key(cleaned: str, region: str) -> str | None:
    """The key of a North American number written with its ten digits (area code 2-9): as
    +1 and the ten digits, or as the ten digits alone in a North American account. libphonenumber
    finds every such number possible and keys it +1 and the digits, whatever the digits are
    (its national prefix 1 and an area code prepended to seven digits don't apply to ten digits
    starting 2-9); tests/contacts/test_numbers.py checks it against libphonenumber on random
    numbers of every NANP region. A bulk import keys and shows (display) every number it stores:
    each parse was a tenth of its time."""
    if len(cleaned) == 12 and cleaned.startswith("+1") and cleaned[2] in "23456789":
        return cleaned
    if len(cleaned) == 10 and cleaned[0] in "23456789" and region in _NANP_REGIONS:
        return "+1" + cleaned
    return None


def digits_shown(key: str, region: str) -> str:
    """A key's digits as the WebFones API shows them when they read back as the same number: no
    '+', and no '1' for a North American number in a North American account."""
    if key.startswith("+1") and phonenumbers.country_code_for_region(region) == 1:
        return key[2:]
    return key.lstrip("+")


def display(key: str, region: str) -> str:
    """How the WebFones API shows a stored number of an account of `region` (see above): its
    digits, unless they would read back as another number. '+4571999999' in a US account keeps
    its '+': as '4571999999' it read back as (457) 199-9999, so a CRM writing back the number it
    was shown turned a Danish mobile into an American one. Either way one of digits_shown(key)
    and the key itself."""
    shown = digits_shown(key, region)
    if shown != key and _key(shown, region) != key:
        return key
    return shown


def shown_to_keys(keys: list[str], region: str) -> dict[str, str]:
    """{shown form: key} of one contact's keys, without reading any number again: a stored shown
    form is display(key), which is digits_shown(key) or the key itself. Only when two keys share
    their digits (+1 212… and +212…) is display() asked which of them shows as the digits."""
    out: dict[str, str] = {k: k for k in keys}
    seen: dict[str, list[str]] = {}
    for k in keys:
        seen.setdefault(digits_shown(k, region), []).append(k)
    for digits, owners in seen.items():
        if len(owners) == 1:
            out[digits] = owners[0]
        else:
            for k in owners:
                if display(k, region) == digits:
                    out[digits] = k
    return out


def national_format(key: str) -> str:
    """The number as its own country writes it ("71 99 99 99"); the key itself when it is not
    an international number."""
    if not key.startswith("+"):
        return key
    try:
        return phonenumbers.format_number(phonenumbers.parse(key, None), PhoneNumberFormat.NATIONAL)
    except NumberParseException:
        return key.lstrip("+")


def looks_like_phone(text: str) -> bool:
    """True when text is a number with formatting only (so a search can compare it as digits)."""
    try:
        return bool(clean(text).lstrip("+"))
    except ValueError:
        return False


def valid_region(region: str) -> bool:
    return region in phonenumbers.SUPPORTED_REGIONS
