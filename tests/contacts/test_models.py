"""The contact model's email rule: its shortcut for the common address accepts exactly what
email-validator accepts."""

from __future__ import annotations

import random

import pytest
from email_validator import EmailNotValidError, validate_email

from callbridge.contacts.models import _email

LOCALS = ["user", "first.last", "a", "x" * 64, "x" * 65, "a..b", ".lead", "trail.", "o'hara",
          "plus+tag", "under_score", "dash-ed", "UPPER", "postmaster", "a b", "ü", "a\"b",
          "\"quoted\"", "", "1234", "a.b.c.d"]
DOMAINS = ["example.com", "EXAMPLE.COM", "mail.example.co.uk", "localhost", "a.test",
           "foo.invalid", "x.local", "host.onion", "1.2.3.4", "a.123", "-bad.com", "bad-.com",
           "a..com", ".com", "com", "xn--bcher-kva.de", "b\u00fccher.de", "[127.0.0.1]",
           "a" * 63 + ".com", "a" * 64 + ".com", ".".join(["a" * 60] * 4) + ".com",
           "under_score.com", "ex ample.com", "example.com.", "arpa", "x.arpa", "sub.example"]


def _accepted(check, address: str) -> bool:
    try:
        check(address)
    except (ValueError, EmailNotValidError):
        return False
    return True


def test_the_shortcut_accepts_exactly_what_email_validator_accepts():
    rng = random.Random(20261205)
    addresses = [f"{local}@{domain}" for local in LOCALS for domain in DOMAINS]
    addresses += ["no-at-sign", "two@@example.com", "a@b@example.com", "@example.com",
                  "user@", "Name <user@example.com>", "user@example.com\n"]
    alphabet = "ab.-_+@1Z'\" "
    for _ in range(3000):  # short random strings around the shortcut's edges
        addresses.append("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
                         + rng.choice(["@example.com", ".com", "@a.b", ""]))
    long_local = "y" * 64
    addresses += [f"{long_local}@{'d' * 60}.{'e' * 60}.{'f' * n}.com"
                  for n in range(55, 70)]  # 246 to 260 characters: around the 254 limit
    disagree = [a for a in addresses
                if _accepted(_email, a)
                != _accepted(lambda v: validate_email(v, check_deliverability=False), a)]
    assert disagree == []
    assert sum(_accepted(_email, a) for a in addresses) > 100  # the shortcut was exercised


@pytest.mark.parametrize("address", ["user@localhost", "user@a.test", "a..b@example.com"])
def test_what_email_validator_refuses_is_refused_after_a_plain_address_of_the_domain(address):
    """The domain cache remembers accepted domains only: a refused one is refused every time."""
    _email("someone@example.com")
    with pytest.raises(ValueError):
        _email(address)
    with pytest.raises(ValueError):
        _email(address)


def test_the_ascii_shortcut_of_the_matching_key_is_nfkc_casefold():
    """text.fold's shortcut for ASCII (lower()) gives what NFKC + casefold + NFKC gives: every
    ASCII character, and random ASCII strings."""
    import string
    import unicodedata

    from callbridge.text import fold

    def full(value: str) -> str:
        return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", value).casefold())
    rng = random.Random(7)
    samples = [chr(c) for c in range(128)]
    samples += ["".join(rng.choice(string.printable) for _ in range(rng.randint(0, 20)))
                for _ in range(20_000)]
    assert [fold(s) for s in samples] == [full(s) for s in samples]
    assert fold("Straße ﬁ") == full("Straße ﬁ") == "strasse fi"  # the full path still runs
