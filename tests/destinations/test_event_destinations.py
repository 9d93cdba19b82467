"""The analytics (Segment Spec) and signed webhook destinations on the real engine, against their sandbox
receivers over HTTP: payload shapes, limits, signatures, throttling and the webhook's 410."""

from __future__ import annotations

import base64
import json

import pytest
from standardwebhooks.webhooks import Webhook

from audience_ops.customers.messages import batch_parse
from audience_ops.customers.models import AnonymousId, Profile
from audience_ops.destinations.adapters.base import ConfigError, RunContext, TransientError
from audience_ops.destinations.adapters.segment import SegmentAnalyticsAdapter
from audience_ops.destinations.adapters.webhook import WebhookAdapter, sign
from audience_ops.destinations.models import Destination
from audience_ops.monitoring.models import Alert
from audience_ops.syncs.choices import RunState
from audience_ops.syncs.runner import execute_run
from audience_ops.syncs.services import sync_create, sync_request_run
from tests.syncs.helpers import member_audience

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast(settings):
    settings.SYNC_RETRY_BASE_SECONDS = 0.001
    settings.SYNC_RETRY_MAX_SECONDS = 0.01
    settings.SYNC_GUARDRAIL_MIN_ROWS = 10**9


def people(count: int, *, start: int = 0, seg: str = "in") -> list[Profile]:
    return Profile.objects.bulk_create(
        Profile(external_id=f"cus_{i:06d}", email=f"Person{i}@Example.com", traits={"seg": seg})
        for i in range(start, start + count)
    )


def run_now(sync):
    return execute_run(sync_request_run(actor=None, sync=sync, enqueue=False).pk)


# --- analytics -----------------------------------------------------------------------------------------------


def test_entering_and_leaving_send_track_events_with_the_audience_and_the_run(
    marketer, segment_destination, segment_receiver
):
    members = people(3)
    anonymous = Profile.objects.create(traits={"seg": "in"})
    AnonymousId.objects.create(anonymous_id="anon-older", profile=anonymous)
    audience = member_audience(intent="winback", offer="discount")
    sync = sync_create(actor=None, audience=audience, destination=segment_destination)

    first = run_now(sync)
    Profile.objects.filter(pk=members[0].pk).update(traits={"seg": "out"})
    second = run_now(sync)

    assert first.state == second.state == RunState.SUCCEEDED, (first.error, second.error)
    events = segment_receiver.events()
    entered = [e for e in events if e["event"] == "Audience Entered"]
    exited = [e for e in events if e["event"] == "Audience Exited"]
    assert {e.get("userId") for e in entered} == {"cus_000000", "cus_000001", "cus_000002", None}
    assert [e["anonymousId"] for e in entered if "anonymousId" in e] == ["anon-older"]
    assert [e["userId"] for e in exited] == ["cus_000000"]
    event = next(e for e in entered if e.get("userId") == "cus_000001")
    assert event["type"] == "track"
    assert event["context"]["traits"] == {"email": "person1@example.com"}
    properties = event["properties"]
    assert properties["audience_slug"] == audience.slug
    assert properties["audience_name"] == audience.name
    assert properties["audience_kind"] == audience.kind
    assert properties["intent"] == "winback" and properties["offer"] == "discount"
    assert properties["run_id"] == first.pk and exited[0]["properties"]["run_id"] == second.pk
    assert "version" in properties
    # The project's own tracking API accepts what the destination sends.
    for body in segment_receiver.batches():
        assert len(batch_parse(body)) == len(body["batch"])


def test_batches_stay_within_the_specs_size_limits(segment_destination):
    adapter = SegmentAnalyticsAdapter(segment_destination)
    adapter.begin_run(context())
    sent: list[bytes] = []
    adapter._post_raw = sent.append  # type: ignore[method-assign]
    from audience_ops.destinations.adapters.base import PreparedRow

    big = "x" * 900
    rows = [PreparedRow(profile_id=i, values={"userId": f"user-{i}-{big}"}) for i in range(500)]
    huge = PreparedRow(profile_id=9999, values={"userId": "y" * 40_000})

    result = adapter.add(remote_id="a", rows=[*rows[:499], huge], batch_id="b1")

    assert len(sent) > 1
    assert all(len(body) <= 500 * 1024 for body in sent)
    assert sum(len(json.loads(body)["batch"]) for body in sent) == 499 == result.received
    assert [error.profile_id for error in result.row_errors] == [9999]
    assert "32 KB" in result.row_errors[0].message


def test_429_with_retry_after_is_transient_and_carries_the_delay(segment_destination, segment_receiver):
    adapter = SegmentAnalyticsAdapter(segment_destination)
    segment_receiver.throttle(1, retry_after=7)

    with pytest.raises(TransientError) as caught:
        adapter.test_connection()

    assert caught.value.retry_after == 7.0


# --- webhook -------------------------------------------------------------------------------------------------


def test_deliveries_are_signed_per_standard_webhooks(marketer, webhook_destination, webhook_receiver):
    people(5)
    audience = member_audience()
    sync = sync_create(actor=None, audience=audience, destination=webhook_destination)

    run = run_now(sync)

    assert run.state == RunState.SUCCEEDED, run.error
    deliveries = webhook_receiver.deliveries()
    assert len(deliveries) == 1
    delivery = deliveries[0]
    headers = {key.lower(): value for key, value in delivery["headers"].items()}
    payload = Webhook(webhook_receiver.secret).verify(delivery["body"], headers)
    assert payload["type"] == "audience.membership_changed"
    assert payload["data"]["audience"]["slug"] == audience.slug
    assert payload["data"]["run_id"] == run.pk
    changes = payload["data"]["changes"]
    assert {c["profile_key"] for c in changes} == {f"cus_{i:06d}" for i in range(5)}
    assert {c["change"] for c in changes} == {"entered"}
    assert all(len(c["email_sha256"]) == 64 for c in changes)
    assert "@" not in delivery["body"]  # no raw email leaves in a webhook


def test_signature_matches_the_spec_test_vector():
    secret = "whsec_" + base64.b64encode(b"0" * 32).decode()

    assert sign(secret, "msg_1", 1674087231, b'{"a":1}') == "v1,Z9McP1awWWyv2Wn5htXxHPZ7VRPRqHi/Jkn4SxTS3JQ="


def test_a_410_disables_the_destination_and_raises_an_alert(marketer, webhook_destination, webhook_receiver):
    people(3)
    sync = sync_create(actor=None, audience=member_audience(), destination=webhook_destination)
    webhook_receiver.gone()

    run = run_now(sync)

    assert run.state == RunState.FAILED
    assert "410" in run.error
    assert Destination.objects.get(pk=webhook_destination.pk).enabled is False
    alert = Alert.objects.get(destination=webhook_destination)
    assert "410" in alert.message
    assert len(webhook_receiver.request_log()) == 1  # no retry of a 410


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        ("not-a-secret", "whsec_"),
        ("whsec_!!!", "base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "24 to 64"),
    ],
)
def test_a_bad_secret_is_refused_with_the_reason(secret, problem):
    with pytest.raises(ConfigError) as caught:
        WebhookAdapter.clean_config({"url": "https://example.com/hook", "secret": secret})

    assert problem in caught.value.errors["config.secret"]


def context() -> RunContext:
    return RunContext(
        run_id=1,
        sync_id=1,
        as_of="2026-11-28T12:00:00+00:00",
        audience_slug="a",
        audience_name="A",
        audience_kind="analytics",
        intent="",
        offer="",
        version=1,
        destination_id=1,
        destination_name="d",
        mode="mirror",
    )


# --- the admin form -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["postgres_warehouse", "segment_analytics", "webhook"])
def test_the_admin_form_offers_each_new_kind_with_its_secret_masked(admin_client_role, kind):
    from django.urls import reverse

    response = admin_client_role.get(reverse("destinations:destination_create") + f"?kind={kind}")

    assert response.status_code == 200
    assert 'type="password"' in response.content.decode()


def test_an_admin_adds_a_webhook_destination_and_its_secret_is_stored_encrypted(admin_client_role, webhook_receiver):
    from django.urls import reverse

    config = webhook_receiver.destination_config()
    response = admin_client_role.post(
        reverse("destinations:destination_create"),
        {"kind": "webhook", "name": "Hooks", "enabled": "on", "url": config["url"], "secret": config["secret"]},
    )

    destination = Destination.objects.get(name="Hooks")
    assert response.status_code == 302
    assert destination.config == {"url": config["url"]}
    assert destination.get_credentials() == {"secret": config["secret"]}
    assert config["secret"] not in admin_client_role.get(response.url).content.decode()
