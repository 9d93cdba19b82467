"""The profile browser: who may open it, how search matches identifiers, and what a profile page shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings

from audience_ops.customers.models import AnonymousId, Event, EventType, Profile
from audience_ops.customers.selectors import (
    phone_lookup_forms,
    profile_event_counts,
    profile_event_names,
    profile_search,
    profile_timeline,
)

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def make_profile(**fields) -> Profile:
    return Profile.objects.create(**fields)


def make_events(profile: Profile, names: list[str], *, start: datetime = T0, prefix: str = "") -> list[Event]:
    """One event per name, a minute apart in list order (the last one is the newest)."""
    return [
        Event.objects.create(
            profile=profile,
            name=name,
            type=EventType.TRACK,
            occurred_at=start + timedelta(minutes=index),
            properties={"n": index},
            message_id=f"{prefix}{profile.pk}-{index}",
        )
        for index, name in enumerate(names)
    ]


@pytest.fixture
def norole_client(client, db):
    user = get_user_model().objects.create_user(username="nobody", password="x-long-enough-password")
    client.force_login(user)
    return client


@pytest.fixture
def profile(db) -> Profile:
    return make_profile(external_id="user-1", email="dana@example.com", phone="(555) 123-4567")


# --- who may open the pages -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/profiles/", "/profiles/?q=dana@example.com", "/profiles/{pk}/"])
def test_anonymous_visitor_is_sent_to_login(client, profile, path):
    # when
    response = client.get(path.format(pk=profile.pk))
    # then
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=/profiles/")


@pytest.mark.parametrize("role_client", ["marketer_client", "ops_client", "admin_client_role"])
@pytest.mark.parametrize("path", ["/profiles/", "/profiles/?q=dana@example.com", "/profiles/{pk}/"])
def test_every_role_may_browse_profiles(request, profile, role_client, path):
    client = request.getfixturevalue(role_client)
    response = client.get(path.format(pk=profile.pk))
    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/profiles/", "/profiles/{pk}/"])
def test_a_user_without_role_gets_the_403_page(norole_client, profile, path):
    response = norole_client.get(path.format(pk=profile.pk))
    assert response.status_code == 403
    assert "Your role cannot open this page" in response.content.decode()
    assert "dana@example.com" not in response.content.decode()


def test_unknown_profile_shows_the_404_page(marketer_client):
    response = marketer_client.get("/profiles/999999/")
    assert response.status_code == 404
    assert "There is no page at <code>/profiles/999999/</code>" in response.content.decode()


def test_navigation_hides_admin_pages_from_a_marketer(marketer_client):
    html = marketer_client.get("/profiles/").content.decode()
    assert 'href="/profiles/"' in html
    assert 'href="/accounts/users/"' not in html
    assert 'href="/profiles/write-keys/"' not in html


def test_navigation_shows_admin_pages_to_an_admin(admin_client_role):
    html = admin_client_role.get("/profiles/").content.decode()
    assert 'href="/accounts/users/"' in html
    assert 'href="/profiles/write-keys/"' in html


def test_home_offers_a_marketer_the_profile_search_only(marketer_client):
    html = marketer_client.get("/").content.decode()
    assert 'action="/profiles/"' in html
    assert "You are a <strong>marketer</strong>" in html
    assert 'href="/accounts/users/"' not in html
    assert 'href="/profiles/write-keys/"' not in html


def test_home_offers_an_admin_users_and_write_keys(admin_client_role):
    html = admin_client_role.get("/").content.decode()
    assert 'action="/profiles/"' in html
    assert "Users and roles</a> <span" in html
    assert "Write keys</a> <span" in html


# --- search -----------------------------------------------------------------------------------------------


def test_email_search_ignores_case_and_surrounding_spaces(profile):
    # given another profile that must not match
    make_profile(external_id="user-2", email="someone@example.com")
    # when
    found = list(profile_search(query="  DANA@Example.COM \t"))
    # then
    assert found == [profile]


def test_search_by_external_id_is_exact(profile):
    assert list(profile_search(query="user-1")) == [profile]
    assert list(profile_search(query="USER-1")) == []


def test_search_by_anonymous_id_finds_the_profile_it_was_merged_into(profile):
    AnonymousId.objects.create(anonymous_id="anon-abc", profile=profile)
    AnonymousId.objects.create(anonymous_id="anon-def", profile=profile)
    assert list(profile_search(query="anon-abc")) == [profile]


def test_search_with_empty_query_returns_nothing(profile):
    assert list(profile_search(query="   ")) == []


@pytest.mark.parametrize(
    "typed",
    ["(555) 123-4567", "555-123-4567", "555.123.4567", "555 123 4567", "5551234567", "+15551234567", "+1 555 123 4567"],
)
def test_phone_search_matches_the_same_number_written_differently(profile, typed):
    # given a profile whose phone was stored as "(555) 123-4567", and a different number
    make_profile(external_id="user-2", phone="(555) 123-4568")
    # then every usual spelling of the number finds it, and only it
    assert list(profile_search(query=typed)) == [profile]


@pytest.mark.parametrize(
    "stored", ["+15551234567", "555-123-4567", "1 (555) 123-4567", "555 1234567", "+1/555/123.4567"]
)
def test_phone_search_matches_stored_numbers_in_any_format(stored):
    # given (the last two are not among the indexed spellings: the digits-only fallback finds them)
    target = make_profile(external_id="target", phone=stored)
    make_profile(external_id="other", phone="+15551234568")
    # when
    found = list(profile_search(query="(555) 123-4567"))
    # then
    assert found == [target]


def test_international_query_finds_a_national_number_with_trunk_prefix():
    british = make_profile(external_id="gb", phone="020 7946 0123")
    assert list(profile_search(query="+44 20 7946 0123")) == [british]


def test_foreign_number_does_not_match_a_domestic_number_with_the_same_digits():
    # given a US number whose ten digits equal the UK number's national significant number
    make_profile(external_id="us", phone="207 946 0123")
    # when / then
    assert list(profile_search(query="+44 20 7946 0123")) == []


@override_settings(DEFAULT_PHONE_REGION="GB")
def test_national_numbers_are_read_in_the_default_region():
    british = make_profile(external_id="gb", phone="+44 20 7946 0123")
    assert list(profile_search(query="020 7946 0123")) == [british]


def test_phone_lookup_forms_are_empty_for_text_that_is_not_a_phone_number():
    assert phone_lookup_forms("dana@example.com") == (set(), set())
    assert phone_lookup_forms("user-42") == (set(), set())


def test_phone_lookup_forms_of_a_domestic_number():
    spellings, digits = phone_lookup_forms("+1 555 123 4567")
    assert {"+15551234567", "(555) 123-4567", "555-123-4567", "5551234567", "+1 555-123-4567"} <= spellings
    assert digits == {"15551234567", "0015551234567", "5551234567"}


def test_profile_list_search_shows_matches_with_event_counts(marketer_client, profile):
    # given
    make_events(profile, ["Order Completed", "Product Viewed", "Product Viewed"])
    make_profile(external_id="user-2", email="someone@example.com")
    # when
    response = marketer_client.get("/profiles/", {"q": " Dana@Example.com "})
    # then
    html = response.content.decode()
    assert response.status_code == 200
    assert [p for p, _count in response.context["rows"]] == [profile]
    assert response.context["rows"][0][1] == 3
    assert "1 profile matching <q>Dana@Example.com</q>" in html
    assert f'href="/profiles/{profile.pk}/"' in html
    assert "someone@example.com" not in html


def test_profile_list_without_query_shows_newest_profiles_paginated(marketer_client):
    # given 51 profiles created a minute apart
    profiles = [
        make_profile(external_id=f"user-{index:02d}", created_at=T0 + timedelta(minutes=index)) for index in range(51)
    ]
    # when
    first = marketer_client.get("/profiles/")
    second = marketer_client.get("/profiles/", {"page": 2})
    # then
    assert [p for p, _count in first.context["rows"]] == profiles[::-1][:50]
    assert [p for p, _count in second.context["rows"]] == [profiles[0]]
    assert "Newest profiles" in first.content.decode()
    assert "Page 1 of 2" in first.content.decode()


def test_profile_list_says_when_nothing_matches(marketer_client, profile):
    response = marketer_client.get("/profiles/", {"q": "nobody@example.com"})
    assert list(response.context["rows"]) == []
    assert "No profile has the email, phone, external id or anonymous id" in response.content.decode()


def test_profile_event_counts_include_profiles_without_events(profile):
    other = make_profile(external_id="user-2")
    make_events(profile, ["A", "B"])
    assert profile_event_counts(profile_ids=[profile.pk, other.pk]) == {profile.pk: 2, other.pk: 0}


# --- profile page -----------------------------------------------------------------------------------------


def test_profile_page_shows_identifiers_traits_and_anonymous_ids(marketer_client, profile):
    # given
    profile.traits = {"plan": "gold", "vip": True, "orders": 3, "unsubscribed": None, "tags": ["a", "b"]}
    profile.save()
    AnonymousId.objects.create(anonymous_id="anon-xyz", profile=profile, linked_at=T0)
    # when
    response = marketer_client.get(f"/profiles/{profile.pk}/")
    # then
    html = response.content.decode()
    assert response.context["traits"] == [
        ("orders", "3", False),
        ("plan", "gold", False),
        ("tags", '["a", "b"]', False),
        ("unsubscribed", "null", True),
        ("vip", "true", False),
    ]
    assert "user-1" in html
    assert "dana@example.com" in html
    assert "(555) 123-4567" in html
    assert '<dt class="col-4">Anonymous</dt><dd class="col-8">no</dd>' in html
    assert "anon-xyz" in html
    assert "2025-03-01 12:00:00" in html
    assert "&quot;a&quot;, &quot;b&quot;" in html


def test_anonymous_profile_is_labelled_anonymous(marketer_client):
    anonymous = make_profile()
    AnonymousId.objects.create(anonymous_id="anon-only", profile=anonymous)
    html = marketer_client.get(f"/profiles/{anonymous.pk}/").content.decode()
    assert '<dt class="col-4">Anonymous</dt><dd class="col-8">yes</dd>' in html
    assert f"anonymous #{anonymous.pk}" in html


def test_timeline_is_newest_first_in_pages_of_fifty(marketer_client, profile):
    # given 51 events, the last created is the newest
    events = make_events(profile, [f"Event {index:02d}" for index in range(51)])
    # when
    first = marketer_client.get(f"/profiles/{profile.pk}/")
    second = marketer_client.get(f"/profiles/{profile.pk}/", {"page": 2})
    # then
    assert [event for event, _props in first.context["timeline"]] == events[::-1][:50]
    assert [event for event, _props in second.context["timeline"]] == [events[0]]
    assert "<html" in second.content.decode()
    assert "2025-03-01 12:50:00" in first.content.decode()


def test_timeline_renders_properties_compactly(marketer_client, profile):
    Event.objects.create(
        profile=profile,
        name="Order Completed",
        occurred_at=T0,
        properties={"revenue": 42.5, "coupon": None, "items": [{"sku": "C-1"}], "gift": False, "currency": "USD"},
        message_id="m-1",
    )
    response = marketer_client.get(f"/profiles/{profile.pk}/")
    assert response.context["timeline"][0][1] == (
        'coupon: null, currency: "USD", gift: false, items: [{"sku": "C-1"}], revenue: 42.5'
    )


def test_timeline_filters_by_event_name(marketer_client, profile):
    # given
    make_events(profile, ["Order Completed", "Product Viewed", "Order Completed"])
    # when
    response = marketer_client.get(f"/profiles/{profile.pk}/", {"event": "Order Completed"})
    # then
    assert [event.name for event, _props in response.context["timeline"]] == ["Order Completed", "Order Completed"]
    assert response.context["filter_form"].fields["event"].choices == [
        ("", "All events"),
        ("Order Completed", "Order Completed"),
        ("Product Viewed", "Product Viewed"),
    ]
    assert '<option value="Order Completed" selected>' in response.content.decode()


def test_timeline_ignores_an_event_name_the_profile_does_not_have(marketer_client, profile):
    make_events(profile, ["Order Completed", "Product Viewed"])
    response = marketer_client.get(f"/profiles/{profile.pk}/", {"event": "<script>"})
    assert len(response.context["timeline"]) == 2
    assert "<script>" not in response.content.decode().split("<main", 1)[1]


def test_htmx_timeline_request_returns_only_the_timeline(marketer_client, profile):
    # given
    make_events(profile, [f"Event {index:02d}" for index in range(51)])
    # when
    response = marketer_client.get(
        f"/profiles/{profile.pk}/", {"page": 2}, headers={"HX-Request": "true", "HX-Target": "timeline"}
    )
    # then
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="timeline"')
    assert "<html" not in html
    assert [event.name for event, _props in response.context["timeline"]] == ["Event 00"]
    assert '<td class="text-nowrap">Event 00</td>' in html
    assert '<td class="text-nowrap">Event 50</td>' not in html
    assert "HX-Request" in response["Vary"]


def test_htmx_history_restore_gets_the_whole_page(marketer_client, profile):
    response = marketer_client.get(
        f"/profiles/{profile.pk}/",
        headers={"HX-Request": "true", "HX-Target": "timeline", "HX-History-Restore-Request": "true"},
    )
    assert "<html" in response.content.decode()


def test_timeline_pagination_links_work_without_javascript(marketer_client, profile):
    make_events(profile, ["Product Viewed"] * 51)
    html = marketer_client.get(f"/profiles/{profile.pk}/", {"event": "Product Viewed"}).content.decode()
    assert 'href="?event=Product+Viewed&amp;page=2"' in html
    assert 'hx-get="?event=Product+Viewed&amp;page=2"' in html


def test_profile_page_keeps_other_profiles_events_out(marketer_client, profile):
    other = make_profile(external_id="user-2")
    make_events(other, ["Secret Event"], prefix="o")
    make_events(profile, ["Mine"])
    response = marketer_client.get(f"/profiles/{profile.pk}/")
    assert [event.name for event, _props in response.context["timeline"]] == ["Mine"]
    assert "Secret Event" not in response.content.decode()


def test_timeline_selectors(profile):
    events = make_events(profile, ["B", "A", "B"])
    assert list(profile_timeline(profile=profile)) == events[::-1]
    assert list(profile_timeline(profile=profile, event_name="B")) == [events[2], events[0]]
    assert profile_event_names(profile=profile) == ["A", "B"]
