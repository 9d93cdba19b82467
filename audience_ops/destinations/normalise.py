"""The one normalisation module every destination adapter uses for identifiers.

Platforms match hashed identifiers, so a stray space or a national phone format means a silent non-match.
Each function returns the canonical form, or None when the value is not usable (an unmatchable
identifier is never sent). Platform-specific extras (gmail dot removal, ``+suffix`` removal, a phone with
or without ``+``) are explicit arguments, off by default, so an adapter opts in only where its platform
documents them.

A value that already is a SHA-256 hex digest (64 hex characters) is passed through lowercased, never
hashed twice: profiles imported from a system that only keeps hashes still match.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

import phonenumbers
from email_validator import EmailNotValidError, validate_email

_SHA256_HEX = re.compile(r"^[0-9a-fA-F]{64}$")
# What the official Meta SDK strips from both ends of an email before lowercasing it: whitespace, NUL,
# vertical tab, and dots (a trailing "." is usually the end of the sentence the address was copied from).
_EMAIL_STRIP = " \t\r\n\0\x0b."
_GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
# A plain ASCII dot-atom local part: for these, validating the domain once per domain is the whole check
# ``email-validator`` would make (a sync normalises millions of addresses that share a few domains).
_SIMPLE_LOCAL = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_MAX_LOCAL_LENGTH = 64
_MAX_ADDRESS_LENGTH = 254


def sha256_hex(value: str) -> str:
    """SHA-256 of the UTF-8 bytes of ``value``, as lowercase hex (what every platform expects)."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def is_sha256_hex(value: str | None) -> bool:
    """Whether ``value`` (ignoring surrounding whitespace) already is a SHA-256 hex digest, in either case."""
    return bool(value) and bool(_SHA256_HEX.match(value.strip()))


def hash_once(value: str) -> str:
    """``value`` hashed, unless it already is a hash, in which case it is only trimmed and lowercased."""
    if is_sha256_hex(value):
        return value.strip().lower()
    return sha256_hex(value)


def normalise_email(
    value: str | None,
    *,
    remove_gmail_dots: bool = False,
    remove_plus_suffix: bool = False,
    any_domain: bool = False,
) -> str | None:
    """Trimmed, lowercased, syntactically valid email; None when it is not an email address.

    ``email-validator`` checks the syntax only (no DNS lookups: a sync must not depend on the network)
    and lowercases only the domain, so the whole address is lowercased here. ``remove_gmail_dots`` drops
    every "." of the local part on gmail.com and googlemail.com; ``remove_plus_suffix`` drops "+tag" on
    the same domains (Google Data Manager's rules; Meta wants neither). ``any_domain`` applies those two
    rules to every domain (TikTok's help text, as an opt-in per destination).
    """
    if value is None:
        return None
    candidate = value.strip(_EMAIL_STRIP).lower()
    if not candidate:
        return None
    normalised = _validated(candidate)
    if normalised is None:
        return None
    local, _, domain = normalised.rpartition("@")
    if any_domain or domain in _GMAIL_DOMAINS:
        if remove_plus_suffix:
            local = local.split("+", 1)[0]
        if remove_gmail_dots:
            local = local.replace(".", "")
        if not local:
            return None
    return f"{local}@{domain}"


def _validated(candidate: str) -> str | None:
    """The lowercased address as ``email-validator`` normalises it, or None when it is not valid."""
    local, at, domain = candidate.partition("@")
    if (
        at
        and len(local) <= _MAX_LOCAL_LENGTH
        and len(candidate) <= _MAX_ADDRESS_LENGTH
        and _SIMPLE_LOCAL.match(local)
        and "@" not in domain
    ):
        valid_domain = _validated_domain(domain)
        return f"{local}@{valid_domain}" if valid_domain else None
    try:
        return validate_email(candidate, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return None


@lru_cache(maxsize=4096)
def _validated_domain(domain: str) -> str | None:
    try:
        return validate_email(f"a@{domain}", check_deliverability=False).domain.lower()
    except EmailNotValidError:
        return None


def normalise_phone(value: str | None, *, default_region: str) -> str | None:
    """The number in E.164 (``+442079460000``), or None when ``phonenumbers`` says it is not valid.

    National numbers are read in ``default_region``; international ones ("+44 ...", "0044 ...") carry
    their own country. Possible-but-unassigned numbers such as 555-0100 are dropped: they can never match.
    """
    if value is None or not value.strip():
        return None
    try:
        number = phonenumbers.parse(value, default_region)
    except phonenumbers.NumberParseException:
        return None
    if not _is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _is_valid_number(number: phonenumbers.PhoneNumber) -> bool:
    """``phonenumbers.is_valid_number``, with the same answer, about a fifth faster for the usual case.

    ``is_valid_number`` first finds the number's region, for a calling code shared by several regions
    (+1, +44, +7) by validating against each region in turn, then validates again against the region
    found. The main region of a calling code is tried first and, when its metadata has no leading-digits
    rule, is the region found whenever the number is valid for it; so "valid for the main region" already
    is the answer and the second validation is skipped. Anything else takes the library's own path.
    """
    main_region = phonenumbers.region_code_for_country_code(number.country_code)
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(main_region, None)
    if (
        metadata is not None
        and metadata.leading_digits is None
        and phonenumbers.is_valid_number_for_region(number, main_region)
    ):
        return True
    return phonenumbers.is_valid_number(number)


def phone_digits(e164: str) -> str:
    """Country code and number, digits only, no "+" (Meta: ``15559876543``)."""
    return e164.lstrip("+")


def phone_with_plus(e164: str) -> str:
    """E.164 with its "+" (TikTok, Google: ``+15559876543``)."""
    return e164 if e164.startswith("+") else f"+{e164}"


def normalise_external_id(value: str | None) -> str | None:
    """The external id trimmed, otherwise exactly as stored (platforms match it byte for byte)."""
    if value is None:
        return None
    trimmed = value.strip()
    return trimmed or None


def hashed_email(
    value: str | None,
    *,
    remove_gmail_dots: bool = False,
    remove_plus_suffix: bool = False,
    any_domain: bool = False,
) -> str | None:
    """SHA-256 hex of the normalised email; an already hashed value is passed through lowercased."""
    if value is None:
        return None
    if is_sha256_hex(value):
        return value.strip().lower()
    email = normalise_email(
        value, remove_gmail_dots=remove_gmail_dots, remove_plus_suffix=remove_plus_suffix, any_domain=any_domain
    )
    return sha256_hex(email) if email else None


def hashed_phone(value: str | None, *, default_region: str, with_plus: bool) -> str | None:
    """SHA-256 hex of the phone in E.164, with or without "+" as the platform wants; hashes pass through."""
    if value is None:
        return None
    if is_sha256_hex(value):
        return value.strip().lower()
    e164 = normalise_phone(value, default_region=default_region)
    if e164 is None:
        return None
    return sha256_hex(phone_with_plus(e164) if with_plus else phone_digits(e164))
