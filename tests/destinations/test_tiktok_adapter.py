"""The TikTok adapter: TikTok's normalisation, and the segment API against the sandbox over real HTTP."""

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
from audience_ops.destinations.adapters.tiktok import TikTokAudienceAdapter
from audience_ops.destinations.models import Destination


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def make_adapter(tiktok_sandbox, *, timeout=None, **config) -> TikTokAudienceAdapter:
    """An adapter for an unsaved destination on the sandbox (no database needed)."""
    full = tiktok_sandbox.destination_config(**config)
    destination = Destination(
        name="TikTok sandbox",
        kind="tiktok_audience",
        config={key: value for key, value in full.items() if key != "access_token"},
    )
    destination.set_credentials({"access_token": full["access_token"]})
    return TikTokAudienceAdapter(destination, timeout=timeout)


def offline_adapter(**config) -> TikTokAudienceAdapter:
    base = {"advertiser_id": "7000000000001", "access_token": "token-0123456789abcdef"}
    base.update(config)
    destination = Destination(name="t", kind="tiktok_audience", config={k: v for k, v in base.items()})
    destination.set_credentials({"access_token": base["access_token"]})
    return TikTokAudienceAdapter(destination)


def people(count: int, start: int = 1) -> list[RawIdentifiers]:
    return [
        RawIdentifiers(
            profile_id=number,
            external_id=f"cus_{number}",
            email=f" Person{number}@Example.com ",
            phone=f"(212) 555-{number % 10000:04d}",
        )
        for number in range(start, start + count)
    ]


# --- normalisation ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "strip", "expected"),
    [
        (" Mary@Example.COM ", False, "mary@example.com"),
        ("John.Doe+promo@Example.com", False, "john.doe+promo@example.com"),
        ("John.Doe+promo@Example.com", True, "johndoe@example.com"),  # the opt-in rule applies to every domain
        ("cloudy.sf+shopping@gmail.com", False, "cloudy.sf+shopping@gmail.com"),  # no gmail special case by default
        ("cloudy.sf+shopping@gmail.com", True, "cloudysf@gmail.com"),
    ],
)
def test_email_is_trimmed_lowercased_and_optionally_stripped_of_dots_and_tags(email, strip, expected):
    adapter = offline_adapter(identifiers=["email"], email_strip_dots_and_tags=strip)

    row = adapter.prepare(RawIdentifiers(profile_id=1, external_id=None, email=email, phone=None))

    assert row.values == {"email": sha(expected)}


@pytest.mark.parametrize(
    ("phone", "region", "expected"),
    [
        ("+1 (657) 777-0000", "US", "+16577770000"),  # TikTok's own example, E.164 with "+"
        ("(800) 555-0100", "US", "+18005550100"),
        ("020 7946 0000", "GB", "+442079460000"),  # national number, country from the region
        ("011 44 20 7946 0000", "US", "+442079460000"),  # the US international prefix, not a US number
    ],
)
def test_phone_is_hashed_as_e164_with_plus(phone, region, expected):
    adapter = offline_adapter(identifiers=["phone"], phone_region=region)

    row = adapter.prepare(RawIdentifiers(profile_id=1, external_id=None, email=None, phone=phone))

    assert row.values == {"phone": sha(expected)}
    assert row.values["phone"] != sha(expected.lstrip("+"))  # not Meta's digits-only form


def test_unusable_identifiers_make_a_profile_unmatchable_and_hashes_pass_through():
    adapter = offline_adapter()
    prehashed = sha("already@hashed.com").upper()

    assert (
        adapter.prepare(RawIdentifiers(profile_id=1, external_id="x", email="not-an-email", phone="555-0100")) is None
    )
    row = adapter.prepare(RawIdentifiers(profile_id=2, external_id=None, email=prehashed, phone="nonsense"))
    assert row.values == {"email": prehashed.lower()}


def test_config_names_each_bad_key_and_refuses_external_id():
    with pytest.raises(ConfigError) as caught:
        TikTokAudienceAdapter.clean_config(
            {
                "advertiser_id": "adv-1",
                "identifiers": ["email", "external_id"],
                "email_strip_dots_and_tags": "yes",
                "colour": "red",
            }
        )

    errors = caught.value.errors
    assert set(errors) == {
        "config.advertiser_id",
        "config.access_token",
        "config.identifiers[1]",
        "config.email_strip_dots_and_tags",
        "config.colour",
    }
    assert "external_id" in errors["config.identifiers[1]"]


def test_config_defaults():
    cleaned = TikTokAudienceAdapter.clean_config({"advertiser_id": 7000000000001, "access_token": " tok "})

    assert cleaned == {
        "base_url": "https://business-api.tiktok.com/open_api/v1.3",
        "advertiser_id": "7000000000001",
        "access_token": "tok",
        "identifiers": ["email", "phone"],
        "phone_region": "US",
        "email_strip_dots_and_tags": False,
    }


# --- against the sandbox -----------------------------------------------------------------------------------


def test_creates_an_audience_once_and_adds_then_removes_exactly(tiktok_sandbox):
    adapter = make_adapter(tiktok_sandbox)
    audience_id = adapter.ensure_audience(remote_id=None, name="Cart abandoners", description="last 3 days")
    assert adapter.ensure_audience(remote_id=audience_id, name="ignored", description="") == audience_id
    rows = [adapter.prepare(raw) for raw in people(30)]

    added = adapter.add(remote_id=audience_id, rows=rows, batch_id="run-1:add:1")
    removed = adapter.remove(remote_id=audience_id, rows=rows[:10], batch_id="run-1:remove:1")

    assert (added.received, added.invalid, added.row_errors) == (30, 0, ())
    assert removed.received == 10
    expected = {(row.values["email"], row.values["phone"]) for row in rows[10:]}
    members = tiktok_sandbox.members(audience_id)
    assert {(member["EMAIL_SHA256"], member["PHONE_SHA256"]) for member in members} == expected
    [audience] = tiktok_sandbox.audiences()
    assert (audience["name"], audience["advertiser_id"], audience["size"]) == ("Cart abandoners", "7000000000001", 20)
    calls = tiktok_sandbox.data_calls()
    assert [(call["action"], call["rows"]) for call in calls] == [("add", 30), ("delete", 10)]
    assert calls[0]["id_schema"] == ["EMAIL_SHA256", "PHONE_SHA256"]


def test_rows_are_aligned_with_id_schema_and_a_missing_id_is_an_empty_object(tiktok_sandbox):
    adapter = make_adapter(tiktok_sandbox)
    audience_id = adapter.ensure_audience(remote_id=None, name="A", description="")
    email_only = adapter.prepare(RawIdentifiers(profile_id=1, external_id=None, email="a@example.com", phone=None))
    phone_only = adapter.prepare(RawIdentifiers(profile_id=2, external_id=None, email=None, phone="+12125550123"))

    assert adapter.batch_data([email_only, phone_only], audience_id) == [
        [{"id": sha("a@example.com"), "audience_ids": [audience_id]}, {}],
        [{}, {"id": sha("+12125550123"), "audience_ids": [audience_id]}],
    ]
    adapter.add(remote_id=audience_id, rows=[email_only, phone_only], batch_id="b1")
    assert tiktok_sandbox.members(audience_id) == sorted(
        [{"EMAIL_SHA256": sha("a@example.com")}, {"PHONE_SHA256": sha("+12125550123")}],
        key=lambda member: "\t".join(f"{k}={v}" for k, v in sorted(member.items())),
    )


def test_phone_only_destination_sends_a_one_column_schema(tiktok_sandbox):
    adapter = make_adapter(tiktok_sandbox, identifiers=["phone"])
    audience_id = adapter.ensure_audience(remote_id=None, name="A", description="")

    adapter.add(remote_id=audience_id, rows=[adapter.prepare(raw) for raw in people(3)], batch_id="b1")

    [call] = tiktok_sandbox.data_calls()
    assert call["id_schema"] == ["PHONE_SHA256"]
    assert tiktok_sandbox.member_values(audience_id, "EMAIL_SHA256") == set()


def test_match_stats_report_the_simulated_phone_heavy_match(tiktok_sandbox):
    adapter = make_adapter(tiktok_sandbox)
    audience_id = adapter.ensure_audience(remote_id=None, name="A", description="")
    phones_only = make_adapter(tiktok_sandbox, identifiers=["phone"])
    emails_only = make_adapter(tiktok_sandbox, identifiers=["email"])
    by_phone = phones_only.ensure_audience(remote_id=None, name="phones", description="")
    by_email = emails_only.ensure_audience(remote_id=None, name="emails", description="")
    crowd = people(400)

    adapter.add(remote_id=audience_id, rows=[adapter.prepare(raw) for raw in crowd], batch_id="b1")
    phones_only.add(remote_id=by_phone, rows=[phones_only.prepare(raw) for raw in crowd], batch_id="b2")
    emails_only.add(remote_id=by_email, rows=[emails_only.prepare(raw) for raw in crowd], batch_id="b3")

    stats = adapter.match_stats(remote_id=audience_id)
    assert stats.matched == {a["id"]: a["matched"] for a in tiktok_sandbox.audiences()}[audience_id]
    assert stats.detail["cover_num"] == stats.matched
    phone_rate = phones_only.match_stats(remote_id=by_phone).matched / 400
    email_rate = emails_only.match_stats(remote_id=by_email).matched / 400
    assert 0.75 < phone_rate < 0.95 and 0.45 < email_rate < 0.65  # TikTok knows more phones than emails


def test_connection_test_reads_the_advertiser(tiktok_sandbox):
    assert "Sandbox advertiser 7000000000001" in make_adapter(tiktok_sandbox).test_connection()

    tiktok_sandbox.reject_token()
    with pytest.raises(PermanentError) as caught:
        make_adapter(tiktok_sandbox).test_connection()
    assert caught.value.code == "40105" and "access token" in caught.value.message


def test_every_call_carries_the_access_token_header_and_never_logs_it(tiktok_sandbox):
    adapter = make_adapter(tiktok_sandbox)
    adapter.ensure_audience(remote_id=None, name="A", description="")

    log = tiktok_sandbox.request_log()
    assert log and all(entry["status"] == 200 and "error_code" not in entry for entry in log)
    assert "sandbox-tiktok-token" not in str(log)


# --- errors ----------------------------------------------------------------------------------------------


def test_envelope_code_is_a_failure_even_on_http_200(tiktok_sandbox):
    adapter = make_adapter(tiktok_sandbox)
    audience_id = adapter.ensure_audience(remote_id=None, name="A", description="")
    tiktok_sandbox.error(1, 40001, "No permission to operate advertiser", ops=["mapping"])

    with pytest.raises(PermanentError) as caught:
        adapter.add(remote_id=audience_id, rows=[adapter.prepare(people(1)[0])], batch_id="b1")

    assert caught.value.code == "40001"
    assert "No permission to operate advertiser" in caught.value.message
    assert tiktok_sandbox.request_log(ops=["mapping"])[0]["status"] == 200
    assert tiktok_sandbox.members(audience_id) == []


def test_rate_limit_code_is_transient_with_retry_after(tiktok_sandbox):
    adapter = make_adapter(tiktok_sandbox)
    audience_id = adapter.ensure_audience(remote_id=None, name="A", description="")
    tiktok_sandbox.throttle(1, retry_after=7, ops=["mapping"])
    rows = [adapter.prepare(raw) for raw in people(5)]

    with pytest.raises(TransientError) as caught:
        adapter.add(remote_id=audience_id, rows=rows, batch_id="b1")

    assert caught.value.code == "40100" and caught.value.retry_after == 7.0
    assert "QPS limit" in caught.value.message
    # the retry the engine makes goes through and the audience holds the rows once
    assert adapter.add(remote_id=audience_id, rows=rows, batch_id="b1").received == 5
    assert len(tiktok_sandbox.members(audience_id)) == 5


def test_extra_rate_limit_codes_come_from_settings(tiktok_sandbox, settings):
    settings.TIKTOK_RATE_LIMIT_CODES = [51021]
    adapter = make_adapter(tiktok_sandbox)
    tiktok_sandbox.error(1, 51021, "Request too frequent")

    with pytest.raises(TransientError):
        adapter.ensure_audience(remote_id=None, name="A", description="")


def test_server_errors_and_timeouts_are_transient(tiktok_sandbox):
    adapter = make_adapter(tiktok_sandbox, timeout=(1.0, 0.3))
    tiktok_sandbox.fail(1, status=503)
    with pytest.raises(TransientError) as caught:
        adapter.ensure_audience(remote_id=None, name="A", description="")
    assert caught.value.code == "50000"

    tiktok_sandbox.hang(1, 1.0)
    with pytest.raises(TransientError) as caught:
        adapter.ensure_audience(remote_id=None, name="A", description="")
    assert caught.value.code == "timeout"


def test_bad_rows_are_rejected_by_the_platform_as_permanent(tiktok_sandbox):
    adapter = make_adapter(tiktok_sandbox)
    audience_id = adapter.ensure_audience(remote_id=None, name="A", description="")
    bad = PreparedRow(profile_id=1, values={"email": "not-a-hash", "phone": sha("+12125550123")})

    with pytest.raises(PermanentError) as caught:
        adapter.add(remote_id=audience_id, rows=[bad], batch_id="b1")

    assert caught.value.code == "40002" and "batch_data[0]" in caught.value.message


def test_unknown_audience_is_a_permission_error(tiktok_sandbox):
    adapter = make_adapter(tiktok_sandbox)

    with pytest.raises(PermanentError) as caught:
        adapter.add(remote_id="999", rows=[adapter.prepare(people(1)[0])], batch_id="b1")

    assert caught.value.code == "40001"


def test_batch_size_is_a_setting_and_oversized_batches_are_refused(tiktok_sandbox, settings):
    adapter = make_adapter(tiktok_sandbox)
    assert adapter.capabilities.batch_size == 1000
    audience_id = adapter.ensure_audience(remote_id=None, name="A", description="")
    rows = [adapter.prepare(raw) for raw in people(1001)]

    with pytest.raises(ValueError, match="at most 1000"):
        adapter.add(remote_id=audience_id, rows=rows, batch_id="b1")
    assert adapter.add(remote_id=audience_id, rows=rows[:1000], batch_id="b1").received == 1000

    # when TikTok turns out to accept fewer rows, the setting lowers the batch and the sandbox agrees
    settings.TIKTOK_BATCH_SIZE = 200
    tiktok_sandbox.max_rows(200)
    assert adapter.capabilities.batch_size == 200
    with pytest.raises(ValueError):
        adapter.add(remote_id=audience_id, rows=rows[:201], batch_id="b2")


def test_skipped_rows_are_never_sent(tiktok_sandbox):
    adapter = make_adapter(tiktok_sandbox)
    audience_id = adapter.ensure_audience(remote_id=None, name="A", description="")
    rows = [adapter.prepare(raw) for raw in people(3)]
    skipped = PreparedRow(profile_id=rows[0].profile_id, values=rows[0].values, skip_reason="held back")

    result = adapter.add(remote_id=audience_id, rows=[skipped, *rows[1:]], batch_id="b1")

    assert result.received == 2
    assert [(error.profile_id, error.message) for error in result.row_errors] == [(1, "Not sent: held back")]
    assert rows[0].values["email"] not in tiktok_sandbox.member_values(audience_id, "EMAIL_SHA256")
