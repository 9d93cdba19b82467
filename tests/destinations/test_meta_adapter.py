"""The Meta adapter against the sandbox over real HTTP: create, add, remove, schemas, limits, error mapping."""

from __future__ import annotations

import hashlib
import json

import pytest

from audience_ops.destinations.adapters.base import PermanentError, PreparedRow, RawIdentifiers, TransientError
from audience_ops.destinations.adapters.meta import MetaCustomAudienceAdapter
from audience_ops.destinations.models import Destination
from audience_ops.destinations.registry import adapter_for


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def make_adapter(meta_sandbox, *, timeout=None, **config) -> MetaCustomAudienceAdapter:
    """An adapter for an unsaved destination on the sandbox (no database needed)."""
    full = meta_sandbox.destination_config(**config)
    destination = Destination(
        name="Meta sandbox",
        kind="meta_custom_audience",
        config={key: value for key, value in full.items() if key != "access_token"},
    )
    destination.set_credentials({"access_token": full["access_token"]})
    return MetaCustomAudienceAdapter(destination, timeout=timeout)


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


def test_creates_a_customer_file_audience_once(meta_sandbox):
    adapter = make_adapter(meta_sandbox)

    audience_id = adapter.ensure_audience(remote_id=None, name="Cart abandoners", description="last 3 days")

    assert adapter.ensure_audience(remote_id=audience_id, name="ignored", description="") == audience_id
    [audience] = meta_sandbox.audiences()
    assert audience["id"] == audience_id and audience["name"] == "Cart abandoners"
    assert audience["account_id"] == "1234567890"
    assert [entry["op"] for entry in meta_sandbox.request_log()] == ["create_audience"]


def test_add_then_remove_leaves_exactly_the_remaining_members(meta_sandbox):
    # given an audience and 30 prepared profiles (email + phone)
    adapter = make_adapter(meta_sandbox)
    audience_id = adapter.ensure_audience(remote_id=None, name="A", description="")
    rows = [adapter.prepare(raw) for raw in people(30)]

    # when all are added and the first 10 removed
    added = adapter.add(remote_id=audience_id, rows=rows, batch_id="run-1:add:1")
    removed = adapter.remove(remote_id=audience_id, rows=rows[:10], batch_id="run-1:remove:1")

    # then the platform's counts are reported and it holds exactly the other 20, hashed
    assert (added.received, added.invalid, added.row_errors) == (30, 0, ())
    assert (removed.received, removed.invalid) == (10, 0)
    expected = {(row.values["email"], row.values["phone"]) for row in rows[10:]}
    assert {(member["EMAIL"], member["PHONE"]) for member in meta_sandbox.members(audience_id)} == expected
    assert sha("person11@example.com") in meta_sandbox.member_values(audience_id, "EMAIL")
    assert [entry["op"] for entry in meta_sandbox.data_calls()] == ["add", "remove"]


def test_single_key_schema_when_only_email_is_mapped(meta_sandbox):
    adapter = make_adapter(meta_sandbox, identifiers=["email"])
    audience_id = adapter.ensure_audience(remote_id=None, name="A", description="")

    adapter.add(remote_id=audience_id, rows=[adapter.prepare(raw) for raw in people(3)], batch_id="b1")

    assert meta_sandbox.data_calls()[0]["schema"] == "EMAIL_SHA256"
    assert meta_sandbox.members(audience_id) == sorted(
        ({"EMAIL": sha(f"person{n}@example.com")} for n in (1, 2, 3)), key=lambda member: member["EMAIL"]
    )


def test_multi_key_schema_with_extern_id_unhashed(meta_sandbox):
    adapter = make_adapter(meta_sandbox, identifiers=["phone", "external_id", "email"])
    audience_id = adapter.ensure_audience(remote_id=None, name="A", description="")
    raw = RawIdentifiers(profile_id=7, external_id="Cust-7", email=None, phone="+44 20 7946 0000")

    adapter.add(remote_id=audience_id, rows=[adapter.prepare(raw)], batch_id="b1")

    assert meta_sandbox.data_calls()[0]["schema"] == ["EXTERN_ID", "EMAIL", "PHONE"]
    assert meta_sandbox.members(audience_id) == [{"EXTERN_ID": "Cust-7", "PHONE": sha("442079460000")}]


def test_removal_by_extern_id_alone(meta_sandbox):
    both = make_adapter(meta_sandbox, identifiers=["external_id", "email"])
    by_id = make_adapter(meta_sandbox, identifiers=["external_id"])
    audience_id = both.ensure_audience(remote_id=None, name="A", description="")
    both.add(remote_id=audience_id, rows=[both.prepare(raw) for raw in people(3)], batch_id="b1")

    by_id.remove(remote_id=audience_id, rows=[by_id.prepare(people(1, start=2)[0])], batch_id="b2")

    assert meta_sandbox.member_values(audience_id, "EXTERN_ID") == {"cus_1", "cus_3"}


def test_sends_a_session_derived_from_the_batch_id(meta_sandbox):
    adapter = make_adapter(meta_sandbox)
    audience_id = adapter.ensure_audience(remote_id=None, name="A", description="")
    rows = [adapter.prepare(raw) for raw in people(2)]

    first = adapter.add(remote_id=audience_id, rows=rows, batch_id="run-9:add:1")
    resent = adapter.add(remote_id=audience_id, rows=rows, batch_id="run-9:add:1")
    other = adapter.add(remote_id=audience_id, rows=rows, batch_id="run-9:add:2")

    assert first.response["session_id"] == resent.response["session_id"] != other.response["session_id"]
    # a resent batch starts its session again: the count is not doubled
    assert resent.received == 2
    assert MetaCustomAudienceAdapter.session_for("run-9:add:1", 2) == {
        "session_id": first.response["session_id"],
        "batch_seq": 1,
        "last_batch_flag": True,
        "estimated_num_total": 2,
    }
    assert len(meta_sandbox.members(audience_id)) == 2


def test_refuses_more_rows_than_one_request_takes(meta_sandbox):
    adapter = make_adapter(meta_sandbox)
    assert adapter.capabilities.batch_size == 10_000
    rows = [adapter.prepare(raw) for raw in people(10_001)]

    with pytest.raises(ValueError, match="at most 10000"):
        adapter.add(remote_id="1", rows=rows, batch_id="b")

    assert meta_sandbox.request_log() == []


def test_a_full_batch_of_ten_thousand_rows_is_one_call(meta_sandbox):
    adapter = make_adapter(meta_sandbox)
    audience_id = adapter.ensure_audience(remote_id=None, name="A", description="")
    rows = [adapter.prepare(raw) for raw in people(10_000)]

    result = adapter.add(remote_id=audience_id, rows=rows, batch_id="b")

    assert result.received == 10_000
    assert len(meta_sandbox.data_calls()) == 1
    assert len(meta_sandbox.members(audience_id)) == 10_000


def test_invalid_entries_are_counted_and_mapped_back_to_profiles(meta_sandbox):
    adapter = make_adapter(meta_sandbox, identifiers=["email"])
    audience_id = adapter.ensure_audience(remote_id=None, name="A", description="")
    good = adapter.prepare(people(1)[0])
    # a row whose value is not a valid hash (e.g. corrupted upstream) is rejected by the platform
    bad = PreparedRow(profile_id=99, values={"email": "NOT-A-HASH"})

    result = adapter.add(remote_id=audience_id, rows=[good, bad], batch_id="b")

    assert (result.received, result.invalid) == (2, 1)
    assert [error.profile_id for error in result.row_errors] == [99]
    assert "invalid" in result.row_errors[0].message
    assert meta_sandbox.members(audience_id) == [{"EMAIL": good.values["email"]}]


def test_match_stats_are_arithmetic_over_the_simulated_user_base(meta_sandbox):
    adapter = make_adapter(meta_sandbox)
    audience_id = adapter.ensure_audience(remote_id=None, name="A", description="")
    rows = [adapter.prepare(raw) for raw in people(2000)]
    adapter.add(remote_id=audience_id, rows=rows, batch_id="b")

    stats = adapter.match_stats(remote_id=audience_id)

    # a member matches when its email (70%) or phone (80%) is known: about 1 - 0.3 * 0.2 = 94%
    expected = sum(
        1
        for row in rows
        if int(row.values["email"][:8], 16) < 0.7 * 2**32 or int(row.values["phone"][:8], 16) < 0.8 * 2**32
    )
    assert stats.matched == expected
    assert 0.90 < expected / 2000 < 0.98
    assert stats.detail["approximate_count_upper_bound"] == expected


@pytest.mark.parametrize("code", [4, 17, 613, 80003, 80004])
def test_rate_limit_codes_are_transient(meta_sandbox, code):
    adapter = make_adapter(meta_sandbox)
    audience_id = adapter.ensure_audience(remote_id=None, name="A", description="")
    meta_sandbox.throttle(1, code)

    with pytest.raises(TransientError) as caught:
        adapter.add(remote_id=audience_id, rows=[adapter.prepare(people(1)[0])], batch_id="b")

    assert caught.value.code == str(code)
    assert "limit" in caught.value.message.lower() or "too many calls" in caught.value.message
    assert meta_sandbox.members(audience_id) == []
    # the next call goes through
    adapter.add(remote_id=audience_id, rows=[adapter.prepare(people(1)[0])], batch_id="b")
    assert len(meta_sandbox.members(audience_id)) == 1


def test_rate_limit_wait_comes_from_the_usage_header_or_retry_after(meta_sandbox):
    adapter = make_adapter(meta_sandbox)
    meta_sandbox.throttle(1, 80003, regain_minutes=2)
    with pytest.raises(TransientError) as from_usage:
        adapter.test_connection()
    meta_sandbox.throttle(1, 80003, retry_after=1.5)
    with pytest.raises(TransientError) as from_header:
        adapter.test_connection()

    assert from_usage.value.retry_after == 120
    assert from_header.value.retry_after == 1.5


def test_server_errors_are_transient(meta_sandbox):
    adapter = make_adapter(meta_sandbox)
    meta_sandbox.fail(2)

    for _ in range(2):
        with pytest.raises(TransientError):
            adapter.test_connection()
    assert "Connected" in adapter.test_connection()


def test_invalid_token_is_permanent_with_the_platform_message(meta_sandbox):
    adapter = make_adapter(meta_sandbox)
    meta_sandbox.reject_token()

    with pytest.raises(PermanentError) as caught:
        adapter.ensure_audience(remote_id=None, name="A", description="")

    assert caught.value.code == "190"
    assert "Invalid OAuth access token" in caught.value.message
    assert meta_sandbox.audiences() == []


def test_bad_requests_are_permanent(meta_sandbox):
    adapter = make_adapter(meta_sandbox)

    with pytest.raises(PermanentError) as caught:
        adapter.add(remote_id="424242", rows=[adapter.prepare(people(1)[0])], batch_id="b")

    assert caught.value.code == "100"
    assert "does not exist" in caught.value.message


def test_a_call_that_hangs_past_its_read_timeout_is_transient(meta_sandbox):
    adapter = make_adapter(meta_sandbox, timeout=(1.0, 0.3))
    meta_sandbox.hang(1, 1.5)

    with pytest.raises(TransientError) as caught:
        adapter.test_connection()

    assert caught.value.code == "timeout"
    assert "token" not in caught.value.message
    assert "Connected" in adapter.test_connection()


def test_an_unreachable_platform_is_transient_and_the_token_stays_out_of_the_message(meta_sandbox):
    adapter = make_adapter(meta_sandbox, base_url="http://127.0.0.1:9", timeout=(0.5, 0.5))

    with pytest.raises(TransientError) as caught:
        adapter.test_connection()

    assert caught.value.code == "connection"
    assert "sandbox-token" not in str(caught.value)


def test_every_call_has_explicit_timeouts(meta_sandbox, settings, monkeypatch):
    settings.DESTINATION_HTTP_TIMEOUT = (2, 7)
    adapter = make_adapter(meta_sandbox)
    seen = []
    original = adapter.session.request

    def spy(method, url, **kwargs):
        seen.append(kwargs.get("timeout"))
        return original(method, url, **kwargs)

    monkeypatch.setattr(adapter.session, "request", spy)
    audience_id = adapter.ensure_audience(remote_id=None, name="A", description="")
    row = adapter.prepare(people(1)[0])
    adapter.add(remote_id=audience_id, rows=[row], batch_id="b")
    adapter.remove(remote_id=audience_id, rows=[row], batch_id="c")
    adapter.match_stats(remote_id=audience_id)
    adapter.test_connection()

    assert seen == [(2.0, 7.0)] * 5


def test_the_token_is_sent_in_the_body_of_writes_not_the_url(meta_sandbox):
    adapter = make_adapter(meta_sandbox)
    sent = []
    original = adapter.session.request

    def spy(method, url, **kwargs):
        sent.append((method, url, kwargs))
        return original(method, url, **kwargs)

    adapter.session.request = spy
    audience_id = adapter.ensure_audience(remote_id=None, name="A", description="")
    adapter.add(remote_id=audience_id, rows=[adapter.prepare(people(1)[0])], batch_id="b")

    for _method, url, kwargs in sent:
        assert "sandbox-token" not in url
        assert kwargs["data"]["access_token"] == "sandbox-token-0123456789abcdef"
    payload = json.loads(sent[1][2]["data"]["payload"])
    assert payload["schema"] == ["EMAIL", "PHONE"]


def test_registry_builds_the_adapter_from_a_saved_destination(meta_destination):
    adapter = adapter_for(meta_destination)

    assert isinstance(adapter, MetaCustomAudienceAdapter)
    assert adapter.capabilities.identifier_types == ("email", "phone")
    assert adapter.capabilities.supports_removal and adapter.capabilities.hashes_identifiers
    assert "Connected to ad account" in adapter.test_connection()


def test_tricky_inputs_reach_the_platform_as_the_documented_hashes(meta_sandbox):
    # given tricky stored identifiers: spaces and capitals, national and international phones, an invalid
    # phone, an already hashed email
    adapter = make_adapter(meta_sandbox, identifiers=["email", "phone"], phone_region="GB")
    audience_id = adapter.ensure_audience(remote_id=None, name="A", description="")
    raws = [
        RawIdentifiers(profile_id=1, external_id=None, email="  Mary@Example.COM ", phone="020 7946 0000"),
        RawIdentifiers(profile_id=2, external_id=None, email="bob@example.com", phone="+1 (212) 565-0000"),
        RawIdentifiers(profile_id=3, external_id=None, email=sha("ann@example.com").upper(), phone="12345"),
        RawIdentifiers(profile_id=4, external_id=None, email="nobody", phone="0044 20 7946 0001"),
    ]

    # when they are sent
    adapter.add(remote_id=audience_id, rows=[adapter.prepare(raw) for raw in raws], batch_id="b")

    # then the platform holds Meta's normalised hashes: email lowercased and trimmed, phone as digits with
    # the country code and no "+", the hash passed through, the invalid values left out
    expected = [
        {"EMAIL": sha("mary@example.com"), "PHONE": sha("442079460000")},
        {"EMAIL": sha("bob@example.com"), "PHONE": sha("12125650000")},
        {"EMAIL": sha("ann@example.com")},
        {"PHONE": sha("442079460001")},
    ]
    assert sorted(meta_sandbox.members(audience_id), key=json.dumps) == sorted(expected, key=json.dumps)
