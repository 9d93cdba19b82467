"""The Google Customer Match adapter: Data Manager normalisation, consent, and the API against the sandbox."""

from __future__ import annotations

import hashlib

import pytest

from audience_ops.destinations.adapters.base import (
    ConfigError,
    PermanentError,
    PreparedRow,
    RawIdentifiers,
    TransientError,
)
from audience_ops.destinations.adapters.google import GoogleCustomerMatchAdapter, consent_value
from audience_ops.destinations.models import Destination

CONSENTED = {"consent_ad_user_data": True, "consent_ad_personalization": "granted"}


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def make_adapter(google_sandbox, *, timeout=None, **config) -> GoogleCustomerMatchAdapter:
    """An adapter for an unsaved destination on the sandbox (no database needed)."""
    full = google_sandbox.destination_config(**config)
    destination = Destination(
        name="Google sandbox",
        kind="google_customer_match",
        config={key: value for key, value in full.items() if key != "access_token"},
    )
    destination.set_credentials({"access_token": full["access_token"]})
    return GoogleCustomerMatchAdapter(destination, timeout=timeout)


def offline_adapter(**config) -> GoogleCustomerMatchAdapter:
    base = {"operating_account_id": "123-456-7890", "user_list_id": "42", "access_token": "token-0123456789"}
    base.update(config)
    destination = Destination(name="g", kind="google_customer_match", config=base)
    destination.set_credentials({"access_token": base["access_token"]})
    return GoogleCustomerMatchAdapter(destination)


def people(count: int, start: int = 1, traits: dict | None = None) -> list[RawIdentifiers]:
    return [
        RawIdentifiers(
            profile_id=number,
            external_id=f"cus_{number}",
            email=f" Person.{number}+news@GMail.com ",
            phone=f"(212) 555-{number % 10000:04d}",
            traits=CONSENTED if traits is None else traits,
        )
        for number in range(start, start + count)
    ]


def prepared(adapter, raws) -> list[PreparedRow]:
    return [adapter.prepare(raw) for raw in raws]


# --- normalisation and consent ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "expected"),
    [
        ("dana@example.com", "dana@example.com"),  # the Data Manager guide's test vector (hash 07e2f139...)
        ("cloudy.sanfrancisco+shopping@gmail.com", "cloudysanfrancisco@gmail.com"),
        (" Jane.Doe+Ads@GoogleMail.com ", "janedoe@googlemail.com"),
        ("user.name+NYC@Example.com", "user.name+nyc@example.com"),  # other domains keep dots and +tags
        ("first.last@gmail.co.uk", "first.last@gmail.co.uk"),  # only gmail.com and googlemail.com
    ],
)
def test_email_rule_removes_dots_and_tags_only_on_gmail_domains(email, expected):
    adapter = offline_adapter(identifiers=["email"])

    row = adapter.prepare(RawIdentifiers(profile_id=1, external_id=None, email=email, phone=None, traits=CONSENTED))

    assert row.values == {"email": sha(expected)}


def test_documented_hashes():
    adapter = offline_adapter()

    row = adapter.prepare(
        RawIdentifiers(
            profile_id=1, external_id=None, email="dana@example.com", phone="(800) 555-0100", traits=CONSENTED
        )
    )

    assert row.values["email"] == "07e2f1394b0ea80e2adca010ea8318df697001a005ba7452720edda4b0ce57b3"
    assert row.values["phone"] == "fb4f73a6ec5fdb7077d564cdd22c3554b43ce49168550c3b12c547b78c517b30"  # "+18005550100"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, "CONSENT_GRANTED"),
        ("GRANTED", "CONSENT_GRANTED"),
        ("yes", "CONSENT_GRANTED"),
        (1, "CONSENT_GRANTED"),
        ("CONSENT_GRANTED", "CONSENT_GRANTED"),
        (False, "CONSENT_DENIED"),
        ("denied", "CONSENT_DENIED"),
        ("no", "CONSENT_DENIED"),
        (None, "CONSENT_STATUS_UNSPECIFIED"),
        ("maybe", "CONSENT_STATUS_UNSPECIFIED"),
        ({"nested": True}, "CONSENT_STATUS_UNSPECIFIED"),
    ],
)
def test_consent_trait_values(value, expected):
    assert consent_value(value) == expected


def test_a_profile_without_both_consents_is_skipped_not_unmatchable():
    adapter = offline_adapter()
    base = {"profile_id": 1, "external_id": None, "email": "a@example.com", "phone": None}

    granted = adapter.prepare(RawIdentifiers(**base, traits=CONSENTED))
    denied = adapter.prepare(
        RawIdentifiers(**base, traits={"consent_ad_user_data": True, "consent_ad_personalization": False})
    )
    missing = adapter.prepare(RawIdentifiers(**base, traits=None))
    unmatchable = adapter.prepare(
        RawIdentifiers(profile_id=2, external_id="x", email="bad", phone=None, traits=CONSENTED)
    )

    assert granted.skip_reason is None
    assert denied.skip_reason == "no consent (ad_personalization denied)"
    assert missing.skip_reason == "no consent (ad_user_data not given, ad_personalization not given)"
    assert missing.values == {"email": sha("a@example.com")}
    assert unmatchable is None
    assert adapter.capabilities.needs_traits is True


def test_consent_trait_names_are_configurable():
    adapter = offline_adapter(consent_traits={"ad_user_data": "gdpr_ads", "ad_personalization": "gdpr_personal"})

    row = adapter.prepare(
        RawIdentifiers(
            profile_id=1,
            external_id=None,
            email="a@example.com",
            phone=None,
            traits={"gdpr_ads": "granted", "gdpr_personal": "granted", **{key: False for key in CONSENTED}},
        )
    )

    assert row.skip_reason is None


def test_config_names_each_bad_key_and_fills_defaults():
    with pytest.raises(ConfigError) as caught:
        GoogleCustomerMatchAdapter.clean_config(
            {
                "operating_account_id": "abc",
                "identifiers": ["external_id"],
                "consent_traits": {"ad_user_data": "", "ad_storage": "x"},
            }
        )
    assert set(caught.value.errors) == {
        "config.operating_account_id",
        "config.user_list_id",
        "config.access_token",
        "config.identifiers[0]",
        "config.consent_traits.ad_user_data",
        "config.consent_traits.ad_storage",
    }

    cleaned = GoogleCustomerMatchAdapter.clean_config(
        {"operating_account_id": "123-456-7890", "user_list_id": 42, "access_token": "tok"}
    )
    assert cleaned == {
        "base_url": "https://datamanager.googleapis.com/v1",
        "operating_account_id": "1234567890",
        "user_list_id": "42",
        "access_token": "tok",
        "identifiers": ["email", "phone"],
        "phone_region": "US",
        "consent_traits": {"ad_user_data": "consent_ad_user_data", "ad_personalization": "consent_ad_personalization"},
    }


# --- against the sandbox -----------------------------------------------------------------------------------


def test_ingest_then_remove_polls_the_status_and_leaves_exactly_the_rest(google_sandbox):
    adapter = make_adapter(google_sandbox)
    list_id = adapter.ensure_audience(remote_id=None, name="Cart abandoners", description="")
    rows = prepared(adapter, people(30))

    added = adapter.add(remote_id=list_id, rows=rows, batch_id="run-1:add:1")
    removed = adapter.remove(remote_id=list_id, rows=rows[:10], batch_id="run-1:remove:1")

    assert list_id == "5550001"
    assert (added.received, added.invalid, added.row_errors) == (30, 0, ())
    assert added.response["requestStatus"] == "SUCCESS"
    assert (removed.received, removed.invalid) == (10, 0)
    expected = {(row.values["email"], row.values["phone"]) for row in rows[10:]}
    members = google_sandbox.members(list_id)
    assert {(member["emailAddress"], member["phoneNumber"]) for member in members} == expected
    assert sha("person.11@gmail.com") not in google_sandbox.member_values(list_id, "emailAddress")
    assert sha("person11@gmail.com") in google_sandbox.member_values(list_id, "emailAddress")
    # each request was polled until final: PROCESSING first, then the final state
    statuses = [entry["request_status"] for entry in google_sandbox.request_log(ops=["status"])]
    assert statuses == ["PROCESSING", "SUCCESS", "PROCESSING", "SUCCESS"]
    [ingest, remove] = google_sandbox.data_calls()
    assert (ingest["records"], ingest["not_consented"], remove["records"]) == (30, 0, 10)


def test_a_member_without_consent_is_not_sent_and_is_counted(google_sandbox):
    adapter = make_adapter(google_sandbox)
    list_id = adapter.ensure_audience(remote_id=None, name="A", description="")
    rows = prepared(adapter, people(3)) + prepared(adapter, people(2, start=4, traits={}))

    result = adapter.add(remote_id=list_id, rows=rows, batch_id="b1")

    assert result.received == 3
    assert sorted(error.profile_id for error in result.row_errors) == [4, 5]
    assert all("no consent" in error.message for error in result.row_errors)
    assert len(google_sandbox.members(list_id)) == 3
    [call] = google_sandbox.data_calls()
    assert (call["records"], call["not_consented"]) == (3, 0)  # the two were never on the wire


def test_a_batch_of_only_unconsented_members_makes_no_call(google_sandbox):
    adapter = make_adapter(google_sandbox)

    result = adapter.add(remote_id="5550001", rows=prepared(adapter, people(2, traits={})), batch_id="b1")

    assert (result.received, len(result.row_errors)) == (0, 2)
    assert google_sandbox.request_log() == []


def test_partial_success_counts_only_what_google_accepted(google_sandbox):
    adapter = make_adapter(google_sandbox)
    rows = prepared(adapter, people(4))
    rows[1] = PreparedRow(profile_id=2, values={"email": "zz-not-hex"})

    result = adapter.add(remote_id="5550001", rows=rows, batch_id="b1")

    assert result.response["requestStatus"] == "PARTIAL_SUCCESS"
    assert (result.received, result.invalid) == (4, 1)
    assert result.response["errorInfo"]["errorCounts"] == [{"reason": "INVALID_HEX_ENCODING", "recordCount": "1"}]
    assert len(google_sandbox.members("5550001")) == 3


def test_failed_request_status_is_permanent_or_transient_by_reason(google_sandbox):
    adapter = make_adapter(google_sandbox)
    rows = prepared(adapter, people(2))

    google_sandbox.outcome(1, "INVALID_USER_LIST_TYPE")
    with pytest.raises(PermanentError) as caught:
        adapter.add(remote_id="5550001", rows=rows, batch_id="b1")
    assert "INVALID_USER_LIST_TYPE (2)" in caught.value.message

    google_sandbox.outcome(1, "INTERNAL_ERROR")
    with pytest.raises(TransientError):
        adapter.add(remote_id="5550001", rows=rows, batch_id="b1")
    assert google_sandbox.members("5550001") == []


def test_polling_is_bounded(google_sandbox, settings):
    settings.GOOGLE_STATUS_POLL_TIMEOUT = 0.2
    settings.GOOGLE_STATUS_POLL_INTERVAL = 0.05
    google_sandbox.processing(10_000)
    adapter = make_adapter(google_sandbox)

    with pytest.raises(TransientError) as caught:
        adapter.add(remote_id="5550001", rows=prepared(adapter, people(2)), batch_id="b1")

    assert caught.value.code == "PROCESSING" and "still processing" in caught.value.message
    assert 2 <= len(google_sandbox.request_log(ops=["status"])) < 10


def test_resource_exhausted_is_transient_and_honours_retry_after(google_sandbox):
    adapter = make_adapter(google_sandbox)
    rows = prepared(adapter, people(3))

    google_sandbox.throttle(1, retry_after=12, ops=["ingest"])
    with pytest.raises(TransientError) as caught:
        adapter.add(remote_id="5550001", rows=rows, batch_id="b1")
    assert (caught.value.code, caught.value.retry_after) == ("RESOURCE_EXHAUSTED", 12.0)
    assert "RATE_LIMIT_EXCEEDED" in caught.value.message

    google_sandbox.throttle(1, retry_delay=30, ops=["status"])  # RetryInfo detail instead of the header
    with pytest.raises(TransientError) as caught:
        adapter.add(remote_id="5550001", rows=rows, batch_id="b1")
    assert caught.value.retry_after == 30.0

    # the engine's next attempt goes through; adding the same members again is harmless
    assert adapter.add(remote_id="5550001", rows=rows, batch_id="b1").received == 3
    assert len(google_sandbox.members("5550001")) == 3


def test_server_errors_and_timeouts_are_transient(google_sandbox):
    adapter = make_adapter(google_sandbox, timeout=(1.0, 0.3))
    rows = prepared(adapter, people(1))

    google_sandbox.fail(1, status=503)
    with pytest.raises(TransientError) as caught:
        adapter.add(remote_id="5550001", rows=rows, batch_id="b1")
    assert caught.value.code == "UNAVAILABLE"

    google_sandbox.hang(1, 1.0)
    with pytest.raises(TransientError) as caught:
        adapter.add(remote_id="5550001", rows=rows, batch_id="b1")
    assert caught.value.code == "timeout"


def test_client_errors_are_permanent_with_googles_message(google_sandbox):
    adapter = make_adapter(google_sandbox)
    rows = prepared(adapter, people(1))

    google_sandbox.reject_token()
    with pytest.raises(PermanentError) as caught:
        adapter.add(remote_id="5550001", rows=rows, batch_id="b1")
    assert caught.value.code == "UNAUTHENTICATED"
    assert "sandbox-google-token" not in str(caught.value)
    google_sandbox.accept_token()

    adapter.add(remote_id="5550001", rows=rows, batch_id="b1")
    other_account = make_adapter(google_sandbox, operating_account_id="999")
    with pytest.raises(PermanentError) as caught:
        other_account.add(remote_id="5550001", rows=rows, batch_id="b2")
    assert caught.value.code == "PERMISSION_DENIED"


def test_at_most_ten_thousand_members_per_request(google_sandbox):
    adapter = make_adapter(google_sandbox)
    assert adapter.capabilities.batch_size == 10_000
    rows = [PreparedRow(profile_id=number, values={"email": sha(f"p{number}@example.com")}) for number in range(10_001)]

    with pytest.raises(ValueError, match="at most 10000"):
        adapter.add(remote_id="5550001", rows=rows, batch_id="b1")
    assert adapter.add(remote_id="5550001", rows=rows[:10_000], batch_id="b1").received == 10_000
    assert len(google_sandbox.members("5550001")) == 10_000


def test_request_carries_destination_encoding_terms_and_consent(google_sandbox):
    adapter = make_adapter(google_sandbox)
    row = adapter.prepare(people(1)[0])

    body = adapter._body([adapter.member(row, with_consent=True)], ingest=True, remote_id="5550001")

    assert body["destinations"] == [
        {
            "operatingAccount": {"accountType": "GOOGLE_ADS", "accountId": "1234567890"},
            "productDestinationId": "5550001",
        }
    ]
    assert body["encoding"] == "HEX"
    assert body["termsOfService"] == {"customerMatchTermsOfServiceStatus": "ACCEPTED"}
    assert body["audienceMembers"][0] == {
        "userData": {"userIdentifiers": [{"emailAddress": row.values["email"]}, {"phoneNumber": row.values["phone"]}]},
        "consent": {"adUserData": "CONSENT_GRANTED", "adPersonalization": "CONSENT_GRANTED"},
    }


def test_match_stats_report_the_upload_match_rate_range_but_no_count(google_sandbox):
    adapter = make_adapter(google_sandbox)
    adapter.add(remote_id="5550001", rows=prepared(adapter, people(200)), batch_id="b1")

    stats = adapter.match_stats(remote_id="5550001")

    assert stats.matched is None
    assert stats.detail["upload_match_rate_range"].startswith("MATCH_RATE_RANGE_")


def test_connection_test_validates_without_changing_anything(google_sandbox):
    message = make_adapter(google_sandbox).test_connection()

    assert "user list 5550001" in message
    [call] = google_sandbox.data_calls()
    assert call["validate_only"] is True
    assert google_sandbox.members("5550001") == []
    google_sandbox.reject_token()
    with pytest.raises(PermanentError):
        make_adapter(google_sandbox).test_connection()
