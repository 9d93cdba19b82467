"""Glow & Grind demo data: a pure, deterministic generator of profiles, anonymous ids and events.

Nothing here touches the database. :func:`demo_profiles` yields one :class:`DemoProfile` at a time (the profile,
the anonymous ids that point at it and its events), so a loader can stream a million profiles without holding
their ten million events in memory. The same ``seed`` and ``now`` always give the same rows: every random
choice comes from one ``random.Random(seed)`` consumed in a fixed order, and every time is an offset from
``now``. The named QA profiles come first and use no randomness at all, so their facts hold for any seed.

``docs/demo-data.md`` describes the story this data tells and the rates behind it.
"""

from __future__ import annotations

import bisect
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Any, NamedTuple

HISTORY_DAYS = 400

PRODUCT_VIEWED = "Product Viewed"
PRODUCT_ADDED = "Product Added"
CHECKOUT_STARTED = "Checkout Started"
ORDER_COMPLETED = "Order Completed"
ORDER_REFUNDED = "Order Refunded"
PAGE_VIEWED = "Page Viewed"

TRACK = "track"
PAGE = "page"

QA_RECENT_PURCHASER = "qa-recent-purchaser"
QA_CART_ABANDONER = "qa-cart-abandoner"
QA_SUPPRESSED = "qa-suppressed"
QA_CONVERTER = "qa-converter"
QA_REFUNDER = "qa-refunder"
QA_VIP = "qa-vip"
QA_EXTERNAL_IDS = (QA_RECENT_PURCHASER, QA_CART_ABANDONER, QA_SUPPRESSED, QA_CONVERTER, QA_REFUNDER, QA_VIP)
QA_CONVERTER_ANONYMOUS_ID = "anon-qa-converter"

# What real CRMs hold in a phone field when nobody checked it. Every other generated phone is a valid
# number for the profile's ``country`` trait (US when the trait is missing).
INVALID_PHONES = ("555-0100", "n/a", "12345", "000-000-0000", "unknown")


class Product(NamedTuple):
    product_id: str
    name: str
    category: str
    price: float


CATALOG: tuple[Product, ...] = (
    Product("sk-vitc-serum", "Vitamin C Brightening Serum", "skincare", 38.0),
    Product("sk-gel-cleanser", "Gentle Gel Cleanser", "skincare", 22.0),
    Product("sk-retinol-night", "Retinol Night Cream", "skincare", 54.0),
    Product("sk-spf50-fluid", "SPF 50 Daily Fluid", "skincare", 29.0),
    Product("sk-ha-toner", "Hyaluronic Toner", "skincare", 26.0),
    Product("cf-morning-blend", "Morning Ritual Blend 340g", "coffee", 16.5),
    Product("cf-ethiopia-yirga", "Single Origin Ethiopia Yirgacheffe", "coffee", 19.0),
    Product("cf-swiss-decaf", "Swiss Water Decaf", "coffee", 17.5),
    Product("cf-espresso-1kg", "Espresso Roast 1kg", "coffee", 39.0),
    Product("sp-collagen", "Collagen Peptides", "supplements", 35.0),
    Product("sp-magnesium", "Magnesium Glycinate", "supplements", 24.0),
    Product("sp-d3k2", "Vitamin D3 + K2", "supplements", 18.0),
    Product("sp-omega3", "Omega-3 Fish Oil", "supplements", 28.0),
)
CATEGORIES = ("skincare", "coffee", "supplements")
PRODUCTS_BY_CATEGORY: dict[str, tuple[Product, ...]] = {
    category: tuple(product for product in CATALOG if product.category == category) for category in CATEGORIES
}
PRODUCTS_BY_ID: dict[str, Product] = {product.product_id: product for product in CATALOG}

PAGES = (
    ("/", "Glow & Grind"),
    ("/collections/skincare", "Skincare"),
    ("/collections/coffee", "Coffee"),
    ("/collections/supplements", "Supplements"),
    ("/pages/subscriptions", "Coffee subscriptions"),
    ("/blogs/journal/morning-routine", "A five-minute morning routine"),
)

FIRST_NAMES = (
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Oliver", "Sophia", "Elijah", "Isabella", "Lucas", "Mia", "Mateo",
    "Amelia", "Levi", "Harper", "Ethan", "Evelyn", "James", "Aria", "Leo", "Chloe", "Henry", "Nora", "Jack",
    "Priya", "Arjun", "Mei", "Hiro", "Fatima", "Omar", "Zoe", "Felix", "Lena", "Jonas", "Camille", "Hugo",
    "Aisha", "Kwame", "Sofia", "Diego", "Ingrid", "Lars", "Grace", "Samuel", "Hannah", "Daniel", "Leila", "Tariq",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee",
    "Thompson", "White", "Harris", "Clark", "Lewis", "Walker", "Young", "Allen", "King", "Wright", "Patel",
    "Nguyen", "Kim", "Chen", "Singh", "Okafor", "Muller", "Schmidt", "Dubois", "Laurent", "Rossi", "Novak",
    "Evans", "Hughes", "Murphy", "Kelly", "Fischer", "Weber",
)  # fmt: skip

# NANP area codes whose every exchange 200-999 (except N11) is a valid number for phonenumbers.
US_AREA_CODES = (
    201, 202, 212, 213, 305, 310, 312, 347, 404, 415, 503, 512, 617, 646, 702, 713, 718, 773, 818, 917,
)  # fmt: skip
CA_AREA_CODES = (416, 604, 514, 403, 613, 647, 778)

COUNTRIES = ("US", "GB", "CA", "DE", "FR")
COUNTRY_WEIGHTS = (0.70, 0.10, 0.09, 0.06, 0.05)
COUNTRY_CUMULATIVE = tuple(sum(COUNTRY_WEIGHTS[: index + 1]) for index in range(len(COUNTRY_WEIGHTS)))

# Funnel: the chance that a shopping session goes one step further.
ANONYMOUS_SHARE = 0.20
EMAIL_SHARE = 0.85
PHONE_SHARE = 0.60
INVALID_PHONE_SHARE = 0.04
MERGED_ANONYMOUS_SHARE = 0.35
ADD_RATE = 0.42
CHECKOUT_RATE = 0.62
ORDER_RATE = 0.72
REPLENISHER_SHARE = 0.65
REORDER_CYCLE_DAYS = 30.0
REORDER_LAPSE_RATE = 0.12
UNSUBSCRIBED_SHARE = 0.08

SECOND = timedelta(seconds=1)
DAY_SECONDS = 86_400
HOUR_SECONDS = 3_600


@dataclass(frozen=True, slots=True)
class ProfileRow:
    """One ``customers.Profile``: identifiers exactly as a shop would send them, every other trait in ``traits``."""

    external_id: str | None
    email: str | None
    phone: str | None
    traits: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class AnonymousIdRow(NamedTuple):
    anonymous_id: str
    linked_at: datetime


class EventRow(NamedTuple):
    """One ``customers.Event``. ``properties`` dicts are shared between rows (one per product and quantity):
    treat them as read-only."""

    name: str
    type: str
    occurred_at: datetime
    properties: dict[str, Any]
    message_id: str


@dataclass(slots=True)
class DemoProfile:
    """A profile with the anonymous ids that point at it and its events (oldest first)."""

    profile: ProfileRow
    anonymous_ids: list[AnonymousIdRow] = field(default_factory=list)
    events: list[EventRow] = field(default_factory=list)


def default_now(current: datetime) -> datetime:
    """``current`` rounded down to the hour: two loads in the same hour get the same data by default."""
    return current.replace(minute=0, second=0, microsecond=0)


def demo_profiles(*, count: int, seed: int, now: datetime) -> Iterator[DemoProfile]:
    """The six QA profiles, then ``count`` generated shoppers, each with its anonymous ids and events.

    Event times are ``<= now`` and reach back about ``HISTORY_DAYS``. Message ids are ``demo-<seed>-<n>`` with
    ``n`` counting from 1 in the order the events are yielded, zero-padded to ten digits so that they sort
    in that order too (the unique index on them then builds from presorted input, several times faster);
    ``demo-<seed>-0000000001`` marks a loaded seed.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    counter = _MessageIds(seed)
    for qa_profile in _qa_profiles(now=now):
        yield _finish(qa_profile, counter)
    generator = _ShopperGenerator(rng=random.Random(seed), now=now)
    for number in range(1, count + 1):
        yield _finish(generator.shopper(number), counter)


def first_message_id(*, seed: int) -> str:
    """The message id of the first event of a load: its presence means this seed is already loaded."""
    return f"demo-{seed}-{1:010d}"


class _MessageIds:
    def __init__(self, seed: int) -> None:
        self.prefix = f"demo-{seed}-"
        self.next = 1


class _Draft(NamedTuple):
    profile_fields: dict[str, Any]
    anonymous_ids: list[AnonymousIdRow]
    events: list[tuple[datetime, str, str, dict[str, Any]]]
    identified_at: datetime | None


def _finish(draft: _Draft, counter: _MessageIds) -> DemoProfile:
    """Sort the events, give them message ids and stamp created_at (first seen) and updated_at."""
    timed = sorted(draft.events, key=_by_time)
    prefix = counter.prefix
    number = counter.next
    events = []
    for occurred_at, name, kind, properties in timed:
        events.append(_new_tuple(EventRow, (name, kind, occurred_at, properties, f"{prefix}{number:010d}")))
        number += 1
    counter.next = number
    first_seen = timed[0][0] if timed else draft.identified_at
    if draft.identified_at is not None and first_seen is not None:
        first_seen = min(first_seen, draft.identified_at)
    if draft.anonymous_ids:
        first_seen = min(first_seen, *(row.linked_at for row in draft.anonymous_ids))
    updated_at = draft.identified_at or first_seen
    profile = ProfileRow(created_at=first_seen, updated_at=updated_at, **draft.profile_fields)
    return DemoProfile(profile=profile, anonymous_ids=draft.anonymous_ids, events=events)


# EventRow(...) goes through a Python-level __new__; ten million events make the direct call worth it.
_new_tuple = tuple.__new__
_by_time = itemgetter(0)


def _view(product: Product) -> dict[str, Any]:
    return {"category": product.category, "product_id": product.product_id, "price": product.price}


def _line(product: Product, quantity: int) -> dict[str, Any]:
    return {
        "category": product.category,
        "product_id": product.product_id,
        "price": product.price,
        "quantity": quantity,
    }


def _order(product: Product, quantity: int, order_id: str) -> dict[str, Any]:
    total = round(product.price * quantity, 2)
    return {
        "category": product.category,
        "product_id": product.product_id,
        "price": product.price,
        "quantity": quantity,
        "order_id": order_id,
        "revenue": total,
        "total": total,
    }


def _page(path: str, title: str) -> dict[str, Any]:
    return {"path": path, "title": title}


def _purchase(
    events: list, *, product: Product, quantity: int, order_id: str, at: datetime, refund_at: datetime | None = None
) -> None:
    """A full funnel ending in an order: view, add, checkout and order a few minutes apart (the order at ``at``)."""
    events.append((at - timedelta(minutes=25), PRODUCT_VIEWED, TRACK, _view(product)))
    events.append((at - timedelta(minutes=18), PRODUCT_ADDED, TRACK, _line(product, quantity)))
    events.append((at - timedelta(minutes=6), CHECKOUT_STARTED, TRACK, _line(product, quantity)))
    events.append((at, ORDER_COMPLETED, TRACK, _order(product, quantity, order_id)))
    if refund_at is not None:
        events.append((refund_at, ORDER_REFUNDED, TRACK, _order(product, quantity, order_id)))


def _qa_profile_fields(external_id: str, first_name: str, phone: str, **traits: Any) -> dict[str, Any]:
    base = {"first_name": first_name, "last_name": "Tester", "vip_tier": "none", "return_rate": 0.0}
    base.update({"unsubscribed": False, "country": "US", "support_escalated": False})
    base.update(traits)
    email = f"qa+{external_id.removeprefix('qa-')}@glowgrind.example"
    return {"external_id": external_id, "email": email, "phone": phone, "traits": base}


def _qa_profiles(*, now: datetime) -> list[_Draft]:
    """The named test profiles QA cases rely on; their facts are fixed relative to ``now``, for every seed."""
    day = timedelta(days=1)
    hour = timedelta(hours=1)
    serum, cleanser, spf = (PRODUCTS_BY_ID[key] for key in ("sk-vitc-serum", "sk-gel-cleanser", "sk-spf50-fluid"))
    blend, espresso, collagen = (PRODUCTS_BY_ID[key] for key in ("cf-morning-blend", "cf-espresso-1kg", "sp-collagen"))
    drafts = []

    # A purchase two hours ago: in "Purchased in last 24 hours", out of every cart abandoner audience.
    events: list = []
    _purchase(events, product=spf, quantity=1, order_id="GG-QA-0001", at=now - 2 * hour)
    events.append((now - 2 * hour - timedelta(minutes=40), PRODUCT_ADDED, TRACK, _line(cleanser, 1)))
    fields = _qa_profile_fields(QA_RECENT_PURCHASER, "Riley", "(212) 555-0101")
    drafts.append(_Draft(fields, [], events, now - 60 * day))

    # Added to cart a day ago, no order in the last 10 days (an older one at 75 days), still subscribed.
    for external_id, first_name, phone, unsubscribed, order_id in (
        (QA_CART_ABANDONER, "Casey", "+1 415 555 0102", False, "GG-QA-0002"),
        (QA_SUPPRESSED, "Sam", "(646) 555-0103", True, "GG-QA-0003"),
    ):
        events = []
        _purchase(events, product=cleanser, quantity=1, order_id=order_id, at=now - 75 * day)
        events.append((now - day - timedelta(minutes=12), PRODUCT_VIEWED, TRACK, _view(serum)))
        events.append((now - day, PRODUCT_ADDED, TRACK, _line(serum, 1)))
        fields = _qa_profile_fields(external_id, first_name, phone, unsubscribed=unsubscribed)
        drafts.append(_Draft(fields, [], events, now - 90 * day))

    # Browsed and added to cart anonymously within two days, then signed up: the anonymous history merged in.
    identified_at = now - 40 * hour
    events = [
        (now - 46 * hour, PAGE_VIEWED, PAGE, _page("/collections/supplements", "Supplements")),
        (now - 45 * hour - timedelta(minutes=50), PRODUCT_VIEWED, TRACK, _view(collagen)),
        (now - 45 * hour, PRODUCT_ADDED, TRACK, _line(collagen, 1)),
        (identified_at + timedelta(minutes=5), PAGE_VIEWED, PAGE, _page("/", "Glow & Grind")),
    ]
    anonymous_ids = [AnonymousIdRow(QA_CONVERTER_ANONYMOUS_ID, identified_at)]
    fields = _qa_profile_fields(QA_CONVERTER, "Jordan", "+1 212 555 0104", vip_tier=None)
    drafts.append(_Draft(fields, anonymous_ids, events, identified_at))

    # Ordered 20 days ago, refunded 15 days ago.
    events = []
    _purchase(events, product=serum, quantity=2, order_id="GG-QA-0005", at=now - 20 * day, refund_at=now - 15 * day)
    fields = _qa_profile_fields(QA_REFUNDER, "Morgan", "+44 20 7946 0105", return_rate=1.0, country="GB")
    drafts.append(_Draft(fields, [], events, now - 30 * day))

    # Gold tier, a coffee replenisher: last order (coffee) 30 days ago, so "coffee due" (25-45 days) matches.
    events = []
    for number, (product, days_ago) in enumerate(
        ((blend, 150), (serum, 128), (blend, 120), (espresso, 90), (collagen, 74), (blend, 60), (blend, 30)), start=1
    ):
        _purchase(events, product=product, quantity=2 if product is espresso else 1, order_id=f"GG-QA-01{number:02d}",
                  at=now - days_ago * day)  # fmt: skip
    fields = _qa_profile_fields(QA_VIP, "Avery", "(917) 555-0106", vip_tier="gold", return_rate=0.05)
    drafts.append(_Draft(fields, [], events, now - 200 * day))
    return drafts


class _ShopperGenerator:
    """Turns one stream of random numbers into shoppers; the call order below is part of the output."""

    def __init__(self, *, rng: random.Random, now: datetime) -> None:
        self.rng = rng
        self.now = now
        self.now_timestamp = now.timestamp()
        self.horizon = HISTORY_DAYS * DAY_SECONDS
        self.page_props = [_page(path, title) for path, title in PAGES]
        self.view_props = {product.product_id: _view(product) for product in CATALOG}
        self.line_props = {(product.product_id, qty): _line(product, qty) for product in CATALOG for qty in (1, 2, 3)}

    def at(self, seconds_ago: float) -> datetime:
        """The time ``seconds_ago`` (whole seconds) before now, in UTC."""
        return datetime.fromtimestamp(self.now_timestamp - int(seconds_ago), UTC)

    def shopper(self, number: int) -> _Draft:
        if self.rng.random() < ANONYMOUS_SHARE:
            return self.anonymous_visitor()
        return self.known_shopper(number)

    # Anonymous visitors: one or two cookies, a visit or two of browsing, almost never a cart.
    def anonymous_visitor(self) -> _Draft:
        rng = self.rng
        first_seen = rng.random() * self.horizon
        anonymous_ids = [AnonymousIdRow(self.uuid(), self.at(first_seen))]
        events: list = []
        self.browse(events, start=first_seen, pages=1 + int(rng.random() * 3))
        if rng.random() < 0.25:
            revisit = first_seen * rng.random()
            if rng.random() < 0.5:
                anonymous_ids.append(AnonymousIdRow(self.uuid(), self.at(revisit)))
            self.browse(events, start=revisit, pages=1)
        return _Draft({"external_id": None, "email": None, "phone": None, "traits": {}}, anonymous_ids, events, None)

    def browse(self, events: list, *, start: float, pages: int) -> None:
        """Page views, then perhaps a product or two, starting ``start`` seconds before now."""
        rng = self.rng
        offset = start
        for _ in range(pages):
            page = self.page_props[int(rng.random() * len(PAGES))]
            if offset >= 0:
                events.append((self.at(offset), PAGE_VIEWED, PAGE, page))
            offset -= 20 + rng.random() * 120
        if rng.random() < 0.55:
            product = CATALOG[int(rng.random() * len(CATALOG))]
            if offset > 0:
                events.append((self.at(offset), PRODUCT_VIEWED, TRACK, self.view_props[product.product_id]))
            offset -= 30 + rng.random() * 300
            if rng.random() < 0.08 and offset > 0:
                events.append((self.at(offset), PRODUCT_ADDED, TRACK, self.line_props[(product.product_id, 1)]))

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def known_shopper(self, number: int) -> _Draft:
        rng = self.rng
        first_name = FIRST_NAMES[int(rng.random() * len(FIRST_NAMES))]
        last_name = LAST_NAMES[int(rng.random() * len(LAST_NAMES))]
        traits, vip_tier, return_rate = self.traits(first_name, last_name)
        traits.update(consent_traits(number))
        email = self.email(first_name, last_name, number) if rng.random() < EMAIL_SHARE else None
        phone = self.phone(phone_region(traits)) if rng.random() < PHONE_SHARE else None

        # Lifetime: signed up some time in the last HISTORY_DAYS, active until now or until they drifted away.
        signup = (0.02 + 0.98 * rng.random()) * self.horizon
        lapsed = 0.0 if rng.random() < 0.45 else signup * rng.random()
        sessions = 1 + int(rng.expovariate(1 / 2.6))
        if vip_tier == "gold":
            sessions += 5
        elif vip_tier == "silver":
            sessions += 2
        affinity = self.affinity()
        refund_rate = 0.06 if return_rate is None else return_rate

        events: list = []
        anonymous_ids: list[AnonymousIdRow] = []
        if rng.random() < MERGED_ANONYMOUS_SHARE:
            # Browsed anonymously before signing up; the identity merge moved those events onto this profile.
            before = signup + HOUR_SECONDS + rng.random() * 10 * DAY_SECONDS
            anonymous_ids.append(AnonymousIdRow(self.uuid(), self.at(signup)))
            self.browse(events, start=before, pages=1 + int(rng.random() * 2))

        replenishing = False
        window = signup - lapsed
        for index in range(sessions):
            start = signup - (0 if index == 0 else rng.random() * window)
            ordered = self.session(events, start=start, affinity=affinity, number=number, refund_rate=refund_rate)
            if ordered is not None and ordered[0].category == "coffee" and not replenishing:
                replenishing = rng.random() < REPLENISHER_SHARE
                if replenishing:
                    self.replenish(events, product=ordered[0], after=ordered[1], number=number, refund_rate=refund_rate)

        profile_fields = {"external_id": f"cus_{number:06d}", "email": email, "phone": phone, "traits": traits}
        return _Draft(profile_fields, anonymous_ids, events, self.at(signup))

    def traits(self, first_name: str, last_name: str) -> tuple[dict[str, Any], str | None, float | None]:
        """Traits as a shop's identify calls leave them: most present, some missing, a few explicitly null."""
        rng = self.rng
        traits: dict[str, Any] = {}
        if rng.random() < 0.95:
            traits["first_name"] = first_name
        if rng.random() < 0.80:
            traits["last_name"] = last_name

        roll = rng.random()
        country = COUNTRIES[min(bisect.bisect_right(COUNTRY_CUMULATIVE, roll), len(COUNTRIES) - 1)]
        roll = rng.random()
        if roll < 0.97:
            traits["country"] = country
        elif roll < 0.985:
            traits["country"] = None

        roll = rng.random()
        vip_tier: str | None
        if roll < 0.66:
            vip_tier = "none"
        elif roll < 0.80:
            vip_tier = "silver"
        elif roll < 0.86:
            vip_tier = "gold"
        elif roll < 0.88:
            vip_tier = None
            traits["vip_tier"] = None
        else:
            vip_tier = None
        if vip_tier is not None:
            traits["vip_tier"] = vip_tier

        roll = rng.random()
        return_rate: float | None = None
        if roll < 0.88:
            return_rate = round(min(1.0, rng.betavariate(1.2, 11.0)), 2)
            traits["return_rate"] = return_rate
        elif roll < 0.90:
            traits["return_rate"] = None

        roll = rng.random()
        if roll < 0.94:
            traits["unsubscribed"] = rng.random() < UNSUBSCRIBED_SHARE / 0.94
        elif roll < 0.95:
            traits["unsubscribed"] = None

        roll = rng.random()
        if roll < 0.70:
            traits["support_escalated"] = rng.random() < 0.06
        elif roll < 0.71:
            traits["support_escalated"] = None
        return traits, vip_tier, return_rate

    def email(self, first_name: str, last_name: str, number: int) -> str:
        rng = self.rng
        roll = rng.random()
        domain = "example.com" if roll < 0.80 else "example.net" if roll < 0.92 else "example.org"
        local = f"{first_name}.{last_name}.{number}"
        roll = rng.random()
        if roll < 0.06:
            return f"{local}@{domain.capitalize()}"  # mixed case, as typed on a phone keyboard
        if roll < 0.09:
            return f" {local.lower()}@{domain} "  # stray spaces from a copy-paste
        if roll < 0.10:
            return f"{local.upper()}@{domain.upper()}"
        return f"{local.lower()}@{domain}"

    def phone(self, country: str) -> str:
        """A phone in one of the formats shops receive; valid for ``country`` unless drawn from INVALID_PHONES."""
        rng = self.rng
        if rng.random() < INVALID_PHONE_SHARE:
            return INVALID_PHONES[int(rng.random() * len(INVALID_PHONES))]
        roll = rng.random()
        if country in ("US", "CA"):
            codes = US_AREA_CODES if country == "US" else CA_AREA_CODES
            area = codes[int(rng.random() * len(codes))]
            exchange = 200 + int(rng.random() * 800)
            if exchange % 100 == 11:
                exchange += 1
            line = int(rng.random() * 10_000)
            if roll < 0.45:
                return f"({area}) {exchange}-{line:04d}"
            if roll < 0.60:
                return f"{area}-{exchange}-{line:04d}"
            if roll < 0.80:
                return f"+1 {area} {exchange} {line:04d}"
            if roll < 0.90:
                return f"+1{area}{exchange}{line:04d}"
            return f"{area}{exchange}{line:04d}"
        if country == "GB":
            if roll < 0.25:
                return f"+44 20 7946 0{int(rng.random() * 1000):03d}"
            if roll < 0.45:
                return f"020 7946 0{int(rng.random() * 1000):03d}"
            if roll < 0.70:
                block = "378"[int(rng.random() * 3)]
                return f"+44 20 {block}{int(rng.random() * 1000):03d} {int(rng.random() * 10_000):04d}"
            prefix = "45789"[int(rng.random() * 5)]
            return f"+44 7{prefix}{int(rng.random() * 100):02d} {int(rng.random() * 1_000_000):06d}"
        if country == "DE":
            digits = 10_000_000 + int(rng.random() * 90_000_000)
            if roll < 0.50:
                return f"+49 30 {digits}"
            if roll < 0.70:
                return f"030 {digits}"
            return f"+49 151 {digits}"
        pairs = " ".join(f"{10 + int(rng.random() * 90)}" for _ in range(3))
        if roll < 0.50:
            return f"+33 1 {10 + int(rng.random() * 90)} {pairs}"
        if roll < 0.70:
            return f"01 {10 + int(rng.random() * 90)} {pairs}"
        return f"+33 7 {50 + int(rng.random() * 40)} {pairs}"

    def affinity(self) -> tuple[str, ...]:
        """The categories a shopper browses, weighted by repetition (most shoppers favour one)."""
        rng = self.rng
        favourite = CATEGORIES[int(rng.random() * 3)]
        other = CATEGORIES[int(rng.random() * 3)]
        return (favourite, favourite, favourite, other, CATEGORIES[int(rng.random() * 3)])

    def session(
        self, events: list, *, start: float, affinity: tuple[str, ...], number: int, refund_rate: float
    ) -> tuple[Product, float] | None:
        """One visit down the funnel, starting ``start`` seconds before now; steps that would lie after now are
        cut (the visit is still going on). Returns the product and time of an order, if there was one."""
        rng = self.rng
        category = affinity[int(rng.random() * len(affinity))]
        choices = PRODUCTS_BY_CATEGORY[category]
        product = choices[int(rng.random() * len(choices))]
        offset = start
        views = 1 + (rng.random() < 0.55) + (rng.random() < 0.25)
        for _ in range(views):
            if offset <= 0:
                return None
            events.append((self.at(offset), PRODUCT_VIEWED, TRACK, self.view_props[product.product_id]))
            offset -= 30 + rng.random() * 400
        if rng.random() >= ADD_RATE or offset <= 0:
            return None
        quantity = 1 if rng.random() < 0.75 else 2 if rng.random() < 0.8 else 3
        line = self.line_props[(product.product_id, quantity)]
        events.append((self.at(offset), PRODUCT_ADDED, TRACK, line))
        offset -= 60 + rng.random() * 1_500
        if rng.random() >= CHECKOUT_RATE or offset <= 0:
            return None
        events.append((self.at(offset), CHECKOUT_STARTED, TRACK, line))
        offset -= 60 + rng.random() * 900
        if rng.random() >= ORDER_RATE or offset <= 0:
            return None
        self.order(events, product=product, quantity=quantity, offset=offset, number=number, refund_rate=refund_rate)
        return product, offset

    def order(
        self, events: list, *, product: Product, quantity: int, offset: float, number: int, refund_rate: float
    ) -> None:
        rng = self.rng
        order_id = f"GG-{number:07d}-{len(events):03d}"
        properties = _order(product, quantity, order_id)
        events.append((self.at(offset), ORDER_COMPLETED, TRACK, properties))
        if rng.random() < refund_rate:
            refund_offset = offset - (3 + rng.random() * 22) * DAY_SECONDS
            if refund_offset > 0:
                events.append((self.at(refund_offset), ORDER_REFUNDED, TRACK, properties))

    def replenish(self, events: list, *, product: Product, after: float, number: int, refund_rate: float) -> None:
        """Coffee re-orders about every 30 days (a few days either way) until the shopper lapses."""
        rng = self.rng
        offset = after
        while True:
            offset -= (REORDER_CYCLE_DAYS + rng.gauss(0, 3.5)) * DAY_SECONDS
            if offset <= 0 or rng.random() < REORDER_LAPSE_RATE:
                return
            quantity = 1 if rng.random() < 0.8 else 2
            line = self.line_props[(product.product_id, quantity)]
            if rng.random() < 0.4:
                events.append((self.at(offset + 300), PRODUCT_VIEWED, TRACK, self.view_props[product.product_id]))
            events.append((self.at(offset + 240), PRODUCT_ADDED, TRACK, line))
            events.append((self.at(offset + 120), CHECKOUT_STARTED, TRACK, line))
            self.order(
                events, product=product, quantity=quantity, offset=offset, number=number, refund_rate=refund_rate
            )


# Google's EU user consent, as a consent banner records it: both granted for 7 known shoppers in 10, ad
# personalisation denied for 1 in 10, nothing recorded for 2 in 10. Derived from the shopper's number rather
# than the random stream, so adding it changed no other generated value.
CONSENT_TRAITS = ("consent_ad_user_data", "consent_ad_personalization")


def consent_traits(number: int) -> dict[str, str]:
    """The consent traits of generated shopper ``number`` (empty when the shopper never answered)."""
    bucket = number % 10
    if bucket < 7:
        return dict.fromkeys(CONSENT_TRAITS, "granted")
    if bucket == 7:
        return {CONSENT_TRAITS[0]: "granted", CONSENT_TRAITS[1]: "denied"}
    return {}


def phone_region(traits: dict[str, Any]) -> str:
    """The region a generated phone is valid in: the profile's country, US when it has none."""
    return traits.get("country") or "US"
