"""Normalisation and hashing: the rules of each platform's documentation, cross-checked against the official
``facebook-business`` SDK wherever the SDK agrees with Meta's documentation."""

from __future__ import annotations

import hashlib

import pytest
from email_validator import EmailNotValidError, validate_email
from facebook_business.adobjects.customaudience import CustomAudience
from hypothesis import given, settings
from hypothesis import strategies as st

from audience_ops.destinations import normalise
from audience_ops.destinations.adapters.base import RawIdentifiers
from audience_ops.destinations.adapters.meta import MetaCustomAudienceAdapter
from audience_ops.destinations.models import Destination


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def sdk_email_hash(value: str) -> str:
    """What the SDK sends for one email in a single-key EMAIL_SHA256 upload."""
    return CustomAudience.format_params(CustomAudience.Schema.email_hash, [value])["payload"]["data"][0]


def sdk_phone_hash(international: str) -> str:
    """What the SDK sends for one phone in a multi-key upload (the SDK only normalises phones there)."""
    params = CustomAudience.format_params(["PHONE"], [[international]], is_raw=True)
    return params["payload"]["data"][0][0]


def meta_adapter(**config) -> MetaCustomAudienceAdapter:
    destination = Destination(
        name="meta",
        kind="meta_custom_audience",
        config={"ad_account_id": "1", "identifiers": ["email", "phone"], **config},
    )
    destination.set_credentials({"access_token": "token-for-tests-only"})
    return MetaCustomAudienceAdapter(destination)


# --- email -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("mary@example.com", "mary@example.com"),
        ("  Mary@Example.COM ", "mary@example.com"),
        ("\tJOHN.Doe+Tag@GMAIL.com\n", "john.doe+tag@gmail.com"),
        (" Mary@Example.com. ", "mary@example.com"),
        ("not-an-email", None),
        ("two@@example.com", None),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_email_is_trimmed_lowercased_and_validated(raw, expected):
    assert normalise.normalise_email(raw) == expected


def test_gmail_dot_and_plus_removal_are_explicit_flags_limited_to_gmail():
    # given an address with dots and a +tag on gmail and the same shape elsewhere
    gmail = "Cloudy.San.Francisco+Shopping@GoogleMail.com"
    other = "User.Name+NYC@Example.com"

    # then by default nothing but case changes (Meta's rule)
    assert normalise.normalise_email(gmail) == "cloudy.san.francisco+shopping@googlemail.com"
    # and the flags apply Google Data Manager's rule, on gmail.com/googlemail.com only
    flags = {"remove_gmail_dots": True, "remove_plus_suffix": True}
    assert normalise.normalise_email(gmail, **flags) == "cloudysanfrancisco@googlemail.com"
    assert normalise.normalise_email(other, **flags) == "user.name+nyc@example.com"


@pytest.mark.parametrize(
    "raw",
    ["mary@example.com", "  Mary@Example.COM ", " Mary@Example.com. ", "\tJOHN.Doe+Tag@GMAIL.com\n"],
)
def test_email_hash_equals_the_sdk_and_the_documented_example(raw):
    assert normalise.hashed_email(raw) == sdk_email_hash(raw)


def test_documented_email_example_hash():
    # Meta's table: mary@example.com -> f1904cf1…52bb79
    digest = normalise.hashed_email("Mary@Example.com")
    assert digest.startswith("f1904cf1") and digest.endswith("52bb79")


# --- phone -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("(800) 555-0100", "US", "+18005550100"),
        ("212-565-0000", "US", "+12125650000"),
        ("+1 (212) 565-0000", "GB", "+12125650000"),  # international numbers ignore the default region
        ("020 7946 0000", "GB", "+442079460000"),
        ("0044 20 7946 0000", "GB", "+442079460000"),
        ("+44 7911 123456", "US", "+447911123456"),
        ("555-0100", "US", None),  # possible but not a valid number
        ("+1 555 987 6543", "US", None),  # fictional 555 number: never assigned, never matches
        ("call me", "US", None),
        ("", "US", None),
        (None, "US", None),
    ],
)
def test_phone_is_parsed_in_the_default_region_and_kept_only_when_valid(raw, region, e164):
    assert normalise.normalise_phone(raw, default_region=region) == e164


def test_phone_formats_per_platform():
    assert normalise.phone_digits("+15559876543") == "15559876543"
    assert normalise.phone_with_plus("+15559876543") == "+15559876543"
    # Meta's documented example: 15559876543 -> 1ef97083…576a4e; with a "+" it is a different hash.
    assert normalise.sha256_hex("15559876543").startswith("1ef97083")
    assert normalise.sha256_hex("15559876543").endswith("576a4e")
    assert normalise.sha256_hex("+15559876543").startswith("a6e349c7")


@pytest.mark.parametrize(
    ("raw", "region", "international"),
    [
        ("(212) 565-0000", "US", "+1 (212) 565-0000"),
        ("+1 212.565.0000", "US", "+1 212.565.0000"),
        ("020 7946 0000", "GB", "+44 20 7946 0000"),
        # The SDK keeps the 00 prefix (00442079460000) where the docs say to drop leading zeros, so it is fed
        # the "+" form: we follow the docs.
        ("0044 20 7946 0000", "GB", "+44 20 7946 0000"),
    ],
)
def test_meta_phone_hash_equals_the_sdk_for_the_international_form(raw, region, international):
    assert normalise.hashed_phone(raw, default_region=region, with_plus=False) == sdk_phone_hash(international)


def test_national_number_gets_its_country_code_unlike_the_sdk():
    # The SDK strips symbols only, so a national number would be hashed without its country code.
    ours = normalise.hashed_phone("(212) 565-0000", default_region="US", with_plus=False)
    assert ours == sha("12125650000")
    assert sdk_phone_hash("(212) 565-0000") == sha("2125650000") != ours


# --- hashes and external ids -------------------------------------------------------------------------


def test_values_already_hashed_are_not_hashed_again_only_lowercased():
    digest = sha("mary@example.com")
    assert normalise.is_sha256_hex(digest.upper())
    assert normalise.hashed_email(f"  {digest.upper()} ") == digest
    assert normalise.hashed_phone(digest, default_region="US", with_plus=False) == digest
    assert normalise.hash_once(digest.upper()) == digest
    assert normalise.hash_once("mary@example.com") == digest
    # 63 or 65 hex characters, or non-hex, are not hashes
    assert not normalise.is_sha256_hex(digest[:-1])
    assert not normalise.is_sha256_hex(digest + "0")
    assert not normalise.is_sha256_hex("g" * 64)


def test_external_id_is_trimmed_and_otherwise_kept_exactly():
    assert normalise.normalise_external_id("  Cust-42 ") == "Cust-42"
    assert normalise.normalise_external_id("   ") is None
    assert normalise.normalise_external_id(None) is None


# --- the Meta payload --------------------------------------------------------------------------------

TRICKY = [
    RawIdentifiers(profile_id=1, external_id="Cust-42", email="  Mary@Example.COM ", phone="(212) 565-0000"),
    RawIdentifiers(profile_id=2, external_id=None, email="JOHN.Doe+Tag@GMAIL.com", phone="+44 20 7946 0000"),
    RawIdentifiers(profile_id=3, external_id="cus_3", email="not-an-email", phone="555-0100"),
    RawIdentifiers(profile_id=4, external_id=None, email=sha("ann@example.com").upper(), phone=None),
    RawIdentifiers(profile_id=5, external_id=None, email="bad", phone="nope"),
]


def test_meta_multi_key_payload_matches_the_sdk_where_it_agrees_with_the_docs():
    # given a destination mapping email and phone
    adapter = meta_adapter(identifiers=["email", "phone"], phone_region="US")

    # when the tricky inputs are prepared
    rows = [adapter.prepare(raw) for raw in TRICKY]

    # then profile 3 (invalid email and phone) and 5 are unmatchable, and only the usable values are sent
    assert rows[2] is None and rows[4] is None
    sendable = [row for row in rows if row is not None]
    payload = adapter.payload(sendable)
    assert payload["schema"] == ["EMAIL", "PHONE"]
    sdk = CustomAudience.format_params(
        ["EMAIL", "PHONE"],
        [[" Mary@Example.COM ", "+1 (212) 565-0000"], ["JOHN.Doe+Tag@GMAIL.com", "+44 20 7946 0000"]],
        is_raw=True,
    )["payload"]["data"]
    assert payload["data"][:2] == sdk
    # an already hashed email passes through lowercased; an unknown phone is sent as ""
    assert payload["data"][2] == [sha("ann@example.com"), ""]


def test_meta_single_key_payload_is_a_flat_list_like_the_sdk():
    adapter = meta_adapter(identifiers=["email"])
    rows = [row for row in (adapter.prepare(raw) for raw in TRICKY) if row is not None]

    payload = adapter.payload(rows)

    assert payload["schema"] == "EMAIL_SHA256"
    assert payload["data"] == [
        sdk_email_hash(" Mary@Example.COM "),
        sdk_email_hash("JOHN.Doe+Tag@GMAIL.com"),
        sha("ann@example.com"),
    ]


def test_meta_extern_id_is_sent_unhashed_and_as_stored():
    adapter = meta_adapter(identifiers=["external_id", "email"])
    row = adapter.prepare(TRICKY[0])

    payload = adapter.payload([row])

    assert payload["schema"] == ["EXTERN_ID", "EMAIL"]
    # The SDK lowercases EXTERN_ID (cust-42); Meta's docs say to send the exact same format every time.
    assert payload["data"] == [["Cust-42", sdk_email_hash("mary@example.com")]]


# --- the fast path of email validation agrees with email-validator ------------------------------------

_LOCAL_CHARS = "abcz09.+-_'!#~\"(),:;<>[]\\ é"
_DOMAIN_CHARS = "abz09.-_é"


@settings(max_examples=400, deadline=None)
@given(
    local=st.text(alphabet=_LOCAL_CHARS, min_size=0, max_size=70),
    domain=st.one_of(
        st.text(alphabet=_DOMAIN_CHARS, min_size=0, max_size=20),
        st.sampled_from(["example.com", "gmail.com", "foo.test", "localhost", "a" * 64 + ".com", "x.co"]),
    ),
)
def test_email_fast_path_accepts_exactly_what_email_validator_accepts(local, domain):
    candidate = f"{local}@{domain}".lower()
    try:
        expected = validate_email(candidate, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        expected = None

    assert normalise._validated(candidate) == expected


@pytest.mark.parametrize(
    "candidate",
    [
        "a" * 64 + "@example.com",
        "a" * 65 + "@example.com",
        "a@" + "b" * 63 + ".com",
        "a@" + "b" * 64 + ".com",
        "x" * 60 + "@" + ".".join(["d" * 60] * 3) + ".com",
        ".a@example.com",
        "a.@example.com",
        "a..b@example.com",
        "a@example..com",
        "a@-example.com",
        "a@example",
        "a@foo.test",
        "a@foo.local",
    ],
)
def test_email_fast_path_edge_lengths_and_dots(candidate):
    try:
        expected = validate_email(candidate, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        expected = None

    assert normalise._validated(candidate) == expected
