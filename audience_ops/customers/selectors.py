"""Read-side queries over customer data, shared by views, commands and later the engine's UI."""

from __future__ import annotations

import phonenumbers
from django.conf import settings
from django.db.models import Count, F, Func, QuerySet, Value
from django.db.models.functions import Lower, Replace

from .models import AnonymousId, Event, Profile

# Characters people put between the digits of a phone number; stripped for the digits-only comparison.
PHONE_SEPARATORS = (" ", "-", "(", ")", ".", "/", "+")


def profile_stats() -> dict[str, int]:
    """Counts for the home page."""
    profiles = Profile.objects.count()
    known = Profile.objects.filter(external_id__isnull=False).count()
    return {"profiles": profiles, "known": known, "anonymous": profiles - known, "events": Event.objects.count()}


def phone_lookup_forms(query: str) -> tuple[set[str], set[str]]:
    """The stored spellings and the digit strings under which the phone number ``query`` may be stored.

    Profiles keep ``phone`` exactly as received, so one number can be stored as ``+15551234567``,
    ``(555) 123-4567``, ``555.123.4567`` or, for a British shopper, ``020 7946 0123``. When ``query`` parses as a
    possible number (national numbers read in ``DEFAULT_PHONE_REGION``, as ingestion reads them), this returns:

    - spellings: E.164, international and national formats and their usual separator variants, matched
      exactly against the ``phone`` index;
    - digits: the same number with every separator removed (country code + national number, ``00`` + that,
      the national form), for a fallback comparison against the stored value with its separators stripped.

    A bare national number without trunk prefix is only produced for the default region's country code, so
    ``+44 20 7946 0123`` never matches a domestic ``207 946 0123``. Two empty sets when ``query`` is not a phone
    number.
    """
    try:
        number = phonenumbers.parse(query, settings.DEFAULT_PHONE_REGION)
    except phonenumbers.NumberParseException:
        return set(), set()
    if not phonenumbers.is_possible_number(number):
        return set(), set()
    fmt = phonenumbers.PhoneNumberFormat
    country = str(number.country_code)
    domestic = number.country_code == phonenumbers.country_code_for_region(settings.DEFAULT_PHONE_REGION)
    significant = phonenumbers.national_significant_number(number)
    e164 = phonenumbers.format_number(number, fmt.E164)
    national = phonenumbers.format_number(number, fmt.NATIONAL)
    national_digits = "".join(ch for ch in national if ch.isdigit())
    international = phonenumbers.format_number(number, fmt.INTERNATIONAL)
    spellings = {query, e164, e164[1:], f"00{e164[1:]}", international}
    digits = {e164[1:], f"00{e164[1:]}"}
    international_groups = international.removeprefix(f"+{country}").replace("-", " ").split()
    for separator in ("-", ".", " "):
        spellings.add(f"+{country} {separator.join(international_groups)}")
        spellings.add(f"{country}{separator}{separator.join(international_groups)}")
    # A national spelling is only unambiguous for the default region, or when it carries a trunk prefix
    # (the 0 of 020 7946 0123) that no number of the default region starts with.
    if domestic or national_digits != significant:
        # "(555) 123-4567" is as often written 555-123-4567, 555.123.4567 or 555 123 4567.
        national_groups = national.replace("(", "").replace(")", "").replace("-", " ").split()
        spellings |= {national, national_digits, *(sep.join(national_groups) for sep in ("-", ".", " "))}
        digits.add(national_digits)
    if domestic:
        spellings |= {significant, f"+{country} {national}"}
        digits.add(significant)
    return spellings, digits


def _phone_digits_expression() -> Func:
    """``phone`` with its separators removed, as SQL that runs the same on SQLite and PostgreSQL."""
    expression: Func | F = F("phone")
    for separator in PHONE_SEPARATORS:
        expression = Replace(expression, Value(separator), Value(""))
    return expression


def profile_search(*, query: str) -> QuerySet[Profile]:
    """Profiles whose email (case-insensitive), phone, external id or one of whose anonymous ids equals ``query``.

    Each identifier is looked up through its own index and the matching ids are combined with UNION: an OR
    across columns and the anonymous-id table would make both databases scan every profile. Email goes
    through the ``lower(email)`` index (``iexact`` compiles to ``UPPER``/``LIKE`` and would miss it); phone
    through the ``phone`` index with the usual spellings of the number (:func:`phone_lookup_forms`). Only when
    a phone-looking query finds nothing that way does it fall back to comparing digits only, which scans the
    phone column: a rare miss pays for it, not every search.
    """
    query = query.strip()
    if not query:
        return Profile.objects.none()
    spellings, digits = phone_lookup_forms(query)
    by_email = Profile.objects.alias(email_lower=Lower("email")).filter(email_lower=query.lower())
    by_external_id = Profile.objects.filter(external_id=query)
    by_phone = Profile.objects.filter(phone__in=spellings or {query})
    by_anonymous_id = AnonymousId.objects.filter(anonymous_id=query)
    ids = set(
        by_email.order_by()
        .values_list("pk", flat=True)
        .union(
            by_external_id.order_by().values_list("pk", flat=True),
            by_phone.order_by().values_list("pk", flat=True),
            by_anonymous_id.order_by().values_list("profile_id", flat=True),
        )
    )
    if not ids and digits:
        ids = set(
            Profile.objects.filter(phone__isnull=False)
            .alias(phone_digits=_phone_digits_expression())
            .filter(phone_digits__in=digits)
            .values_list("pk", flat=True)
        )
    return Profile.objects.filter(pk__in=ids).order_by("id")


def profile_recent() -> QuerySet[Profile]:
    """Profiles newest first: what the browser shows before anyone has typed a query."""
    return Profile.objects.order_by("-created_at", "-id")


def profile_event_counts(*, profile_ids: list[int]) -> dict[int, int]:
    """Number of events per profile, for one page of a list (a join over all profiles would count them all)."""
    rows = (
        Event.objects.filter(profile_id__in=profile_ids)
        .order_by()
        .values("profile_id")
        .annotate(count=Count("id"))
        .values_list("profile_id", "count")
    )
    counts = dict.fromkeys(profile_ids, 0)
    counts.update(rows)
    return counts


def profile_timeline(*, profile: Profile, event_name: str = "") -> QuerySet[Event]:
    """A profile's events, newest first, optionally only those named ``event_name`` (exact, case-sensitive)."""
    events = Event.objects.filter(profile=profile)
    if event_name:
        events = events.filter(name=event_name)
    return events.order_by("-occurred_at", "-id")


def profile_event_names(*, profile: Profile) -> list[str]:
    """The distinct event names a profile has, sorted, for the timeline filter."""
    return list(Event.objects.filter(profile=profile).order_by("name").values_list("name", flat=True).distinct())


def profile_anonymous_ids(*, profile: Profile) -> QuerySet[AnonymousId]:
    """The anonymous ids that now point at ``profile`` (its own, or merged in when it was identified)."""
    return AnonymousId.objects.filter(profile=profile).order_by("-linked_at", "anonymous_id")
