"""Segment's and RudderStack's Python libraries, unmodified, sending to the tracking API of a live server."""

from __future__ import annotations

import pytest
import rudderstack.analytics as rudder_analytics
import rudderstack.analytics.request as rudder_request
import segment.analytics as segment_analytics
import segment.analytics.request as segment_request
from rudderstack.analytics.request import APIError as RudderAPIError
from segment.analytics.request import APIError as SegmentAPIError

from audience_ops.customers.models import AnonymousId, Event, IdentifyCall, Profile
from audience_ops.customers.writekeys import writekey_create

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def close_library_sessions():
    """Both libraries keep a module-level keep-alive session; close it so no server thread outlives the test."""
    yield
    segment_request._session.close()
    rudder_request._session.close()


@pytest.fixture
def write_key() -> str:
    _key, raw_key = writekey_create(actor=None, name="client libraries")
    return raw_key


def test_segment_library_identify_track_and_anonymous_merge(live_server, write_key):
    # given Segment's client in synchronous mode (it always posts /v1/batch with Basic auth and a null anonymousId)
    client = segment_analytics.Client(write_key, host=live_server.url, sync_mode=True, max_retries=0)
    # when a visitor browses anonymously, then signs in, then buys
    client.page(anonymous_id="visitor-1", name="Home", properties={"path": "/"})
    client.track(anonymous_id="visitor-1", event="Product Added", properties={"sku": "COF-1"})
    client.identify(user_id="u-100", anonymous_id="visitor-1", traits={"email": "ann@example.com", "plan": "gold"})
    client.track(user_id="u-100", event="Order Completed", properties={"total": 42.5})
    client.flush()
    # then one known profile holds the whole history
    known = Profile.objects.get()
    assert (known.external_id, known.email, known.traits) == ("u-100", "ann@example.com", {"plan": "gold"})
    assert sorted(known.events.values_list("name", flat=True)) == ["Order Completed", "Page Viewed", "Product Added"]
    assert list(known.anonymous_ids.values_list("anonymous_id", flat=True)) == ["visitor-1"]
    assert IdentifyCall.objects.get().profile == known


def test_segment_library_gzip_and_message_id_dedupe(live_server, write_key):
    client = segment_analytics.Client(write_key, host=live_server.url, sync_mode=True, gzip=True, max_retries=0)
    client.track(user_id="u-1", event="Signed Up", message_id="fixed-id")
    client.track(user_id="u-1", event="Signed Up", message_id="fixed-id")
    assert list(Event.objects.values_list("profile__external_id", "name", "message_id")) == [
        ("u-1", "Signed Up", "fixed-id")
    ]


def test_segment_library_sees_a_refused_key(live_server, write_key):
    client = segment_analytics.Client("wk_not-a-key", host=live_server.url, sync_mode=True, max_retries=0)
    with pytest.raises(SegmentAPIError) as excinfo:
        client.track(user_id="u-1", event="Signed Up")
    assert excinfo.value.status == 401
    assert excinfo.value.message == "writeKey: unknown or revoked write key"
    assert Profile.objects.count() == 0


def test_rudderstack_library_gzipped_batches(live_server, write_key):
    # given RudderStack's client (gzip on by default) in synchronous mode
    client = rudder_analytics.Client(write_key, host=live_server.url, sync_mode=True, max_retries=0)
    # when
    client.track(anonymous_id="anon-7", event="Product Viewed", properties={"sku": "SKN-2"})
    client.identify(user_id="u-7", anonymous_id="anon-7", traits={"phone": "+44 20 7946 0123", "tier": "vip"})
    client.screen(user_id="u-7", name="Checkout")
    client.flush()
    # then
    known = Profile.objects.get()
    assert (known.external_id, known.phone, known.traits) == ("u-7", "+44 20 7946 0123", {"tier": "vip"})
    assert sorted(known.events.values_list("name", flat=True)) == ["Product Viewed", "Screen Viewed"]
    assert AnonymousId.objects.get().profile == known


def test_rudderstack_library_sees_validation_errors(live_server, write_key):
    client = rudder_analytics.Client(write_key, host=live_server.url, sync_mode=True, max_retries=0)
    with pytest.raises(RudderAPIError) as excinfo:
        client.track(user_id="u-1", event="Big", properties={"blob": "x" * 40_000})
    assert excinfo.value.status == 400
    assert excinfo.value.message.startswith("batch[0]: message is ")
    assert Event.objects.count() == 0
