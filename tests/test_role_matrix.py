"""The role matrix: every URL of the project, for anonymous, marketer, ops and admin, gets the right answer, and
every state-changing service refuses a wrong role when called directly (as a job or a command would).

The URL list comes from the resolver, so a new view cannot be forgotten: ``test_every_url_has_an_expectation``
fails until the view has a row in :data:`URLS`. To add a view, add one row keyed by its namespaced URL name:

    "app:name": E("get", MARKETER | OPS | ADMIN),      # which roles succeed; the others get 403
    "app:name": E("post", ADMIN, kwargs=lambda w: {"pk": w.thing.pk}, data={...}),

``anonymous`` defaults to "redirected to the login page"; ``kwargs`` defaults to the matrix audience's slug for
URLs with a ``slug`` (see :class:`World` for the objects available). Success means neither a 403 nor a redirect
to a login page: a form re-displayed with errors counts, because the role got in. Django's own admin and the RQ
dashboard (``django-admin/``) are for staff accounts only, which no role is; they are checked as a group.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from audience_ops.accounts.roles import Role
from audience_ops.audiences.choices import AudienceStatus
from audience_ops.audiences.models import Audience, QARun, QATestProfile, VersionReview
from audience_ops.customers.models import WriteKey
from tests.audiences.helpers import audience_dict, create_audiences, make_profile
from tests.conftest import _make_user

pytestmark = pytest.mark.django_db

ANONYMOUS, MARKETER, OPS, ADMIN = "anonymous", Role.MARKETER.value, Role.OPS.value, Role.ADMIN.value
ROLES = (ANONYMOUS, MARKETER, OPS, ADMIN)
ALL_ROLES = frozenset({MARKETER, OPS, ADMIN})

OK, LOGIN, FORBIDDEN, UNAUTHORIZED = "ok", "login", "403", "401"
STAFF_ONLY_PREFIX = "django-admin/"


@dataclass
class World:
    """What the URLs of the matrix point at: one live audience owned by the marketer, a profile, a write key,
    a QA test profile and a user to change."""

    audience: Audience
    profile: Any
    write_key: WriteKey
    fixture: QATestProfile
    target_user: Any
    destination: Any
    sync: Any
    sync_run: Any
    users: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class E:
    """The expectation for one URL: method, roles that succeed, what anonymous and the other roles get."""

    method: str
    allowed: frozenset[str] = ALL_ROLES
    anonymous: str = LOGIN
    denied: str = FORBIDDEN
    kwargs: Callable[[World], dict[str, Any]] | None = None
    data: dict[str, Any] = field(default_factory=dict)
    json: bool = False

    def expected(self, role: str) -> str:
        if role == ANONYMOUS:
            return self.anonymous
        return OK if role in self.allowed else self.denied


def _pk(attribute: str) -> Callable[[World], dict[str, Any]]:
    return lambda world: {"pk": getattr(world, attribute).pk}


def _alert_pk(world: World) -> dict[str, Any]:
    """An active alert on the matrix audience, raised through the service (the same one until it is resolved)."""
    from audience_ops.monitoring.services import Subject, alert_raise

    return {"pk": alert_raise(kind="near_retirement", subject=Subject.for_audience(world.audience), message="m").pk}


API = E(
    "post",
    frozenset(),
    anonymous=UNAUTHORIZED,
    denied=UNAUTHORIZED,
    data={"userId": "matrix-1", "event": "Product Viewed", "traits": {}, "batch": []},
    json=True,
)
PUBLIC_GET = E("get", ALL_ROLES, anonymous=OK)

URLS: dict[str, E] = {
    # core
    "home": E("get"),
    "healthz": PUBLIC_GET,
    "login": PUBLIC_GET,
    # Signing out sends everyone to the login page: there is nothing to refuse.
    "logout": E("post", frozenset(), anonymous=LOGIN, denied=LOGIN),
    # accounts (admins manage users)
    "accounts:user_list": E("get", frozenset({ADMIN})),
    "accounts:user_create": E("post", frozenset({ADMIN})),
    "accounts:user_role": E("post", frozenset({ADMIN}), kwargs=_pk("target_user"), data={"role": "ops"}),
    "accounts:user_active": E("post", frozenset({ADMIN}), kwargs=_pk("target_user"), data={"active": "false"}),
    # customers: profiles for everyone, write keys for admins
    "customers:profile_list": E("get"),
    "customers:profile_detail": E("get", kwargs=_pk("profile")),
    "customers:writekey_list": E("get", frozenset({ADMIN})),
    "customers:writekey_create": E("post", frozenset({ADMIN}), data={"name": "matrix source"}),
    "customers:writekey_revoke": E("post", frozenset({ADMIN}), kwargs=_pk("write_key")),
    # audiences: pages for everyone
    "audiences:list": E("get"),
    "audiences:detail": E("get"),
    "audiences:diff": E("get"),
    "audiences:why": E("get"),
    "audiences:members_csv": E("get"),
    "audiences:evaluate": E("post"),
    # governance: QA test profiles (marketers keep them), QA, reviews (ops decide), lifecycle actions
    "audiences:review_list": E("get"),
    "audiences:qa_profile_list": E("get"),
    "audiences:qa_profile_add": E("get", frozenset({MARKETER})),
    "audiences:qa_profile_edit": E("get", frozenset({MARKETER}), kwargs=_pk("fixture")),
    "audiences:qa_profile_delete": E("post", frozenset({MARKETER}), kwargs=_pk("fixture")),
    "audiences:qa": E("get"),
    "audiences:qa_run": E("post", frozenset({MARKETER, ADMIN})),
    "audiences:review": E("get"),
    "audiences:approve": E("post", frozenset({OPS})),
    "audiences:reject": E("post", frozenset({OPS}), data={"reason": "matrix"}),
    "audiences:submit": E("post", frozenset({MARKETER, ADMIN})),
    "audiences:pause": E("post", frozenset({OPS, ADMIN}), data={"reason": "matrix"}),
    "audiences:resume": E("post", frozenset({OPS, ADMIN})),
    "audiences:retire": E("post", frozenset({ADMIN}), data={"reason": "matrix"}),
    # hygiene: the queue for ops and admins, acting on it for admins, reports for everyone
    "audiences:hygiene:queue": E("get", frozenset({OPS, ADMIN})),
    "audiences:hygiene:retire": E("post", frozenset({ADMIN}), data={"reason": "matrix"}),
    "audiences:hygiene:extend": E("post", frozenset({ADMIN}), data={"retire_on": "2099-01-01", "reason": "matrix"}),
    "audiences:hygiene:overlap": E("get"),
    "audiences:hygiene:collisions": E("get"),
    # builder: marketers create, marketers and admins edit
    "builder:home": E("get"),  # a redirect to the playbooks for every role; the playbooks page decides
    "builder:new": E("get", frozenset({MARKETER})),
    "builder:preview": E("post", frozenset({MARKETER, ADMIN})),
    "builder:playbooks": E("get", frozenset({MARKETER})),
    "builder:playbook_companions": E("post", frozenset({MARKETER}), kwargs=lambda world: {"key": "cart-recovery"}),
    "builder:edit": E("get", frozenset({MARKETER, ADMIN})),
    # destinations: everyone sees them, admins manage them
    "destinations:destination_list": E("get"),
    "destinations:destination_detail": E("get", kwargs=_pk("destination")),
    "destinations:destination_create": E("get", frozenset({ADMIN})),
    "destinations:destination_update": E("get", frozenset({ADMIN}), kwargs=_pk("destination")),
    "destinations:destination_delete": E("post", frozenset({ADMIN}), kwargs=_pk("destination")),
    "destinations:destination_test": E("post", frozenset({ADMIN}), kwargs=_pk("destination")),
    # syncs: everyone sees them, ops and admins configure and run them
    "syncs:list": E("get"),
    "syncs:detail": E("get", kwargs=_pk("sync")),
    "syncs:run_detail": E("get", kwargs=_pk("sync_run")),
    "syncs:create": E("get", frozenset({OPS, ADMIN})),
    "syncs:update": E("get", frozenset({OPS, ADMIN}), kwargs=_pk("sync")),
    "syncs:plan": E("get", frozenset({OPS, ADMIN}), kwargs=_pk("sync")),
    "syncs:run_now": E("post", frozenset({OPS, ADMIN}), kwargs=_pk("sync")),
    "syncs:pause": E("post", frozenset({OPS, ADMIN}), kwargs=_pk("sync")),
    "syncs:resume": E("post", frozenset({OPS, ADMIN}), kwargs=_pk("sync")),
    "syncs:guardrails": E("get", frozenset({OPS, ADMIN}), kwargs=_pk("sync")),
    "syncs:run_approve": E("post", frozenset({OPS, ADMIN}), kwargs=_pk("sync_run")),
    "syncs:run_cancel": E("post", frozenset({OPS, ADMIN}), kwargs=_pk("sync_run")),
    # audit log: ops and admins
    "audit:list": E("get", frozenset({OPS, ADMIN})),
    # dashboard panels (the dashboard itself is "home"): chart and coverage fragments for everyone
    "dashboard:audience_destinations": E("get"),
    "dashboard:sync_charts": E("get", kwargs=_pk("sync")),
    # alerts: everyone sees them, ops and admins acknowledge and resolve them
    "monitoring:alert_list": E("get"),
    "monitoring:alert_acknowledge": E("post", frozenset({OPS, ADMIN}), kwargs=_alert_pk),
    "monitoring:alert_resolve": E("post", frozenset({OPS, ADMIN}), kwargs=_alert_pk),
    # tracking API: write-key authentication only, a signed-in session is not a write key
    **{f"tracking:{name}": API for name in ("identify", "track", "page", "screen", "group", "alias", "batch")},
}


# --- the resolver -------------------------------------------------------------------------------------------------


def _walk(patterns: list, prefix: str = "", namespace: str = "") -> Iterator[tuple[str, str | None, URLPattern]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        else:
            yield prefix + str(pattern.pattern), f"{namespace}{pattern.name}" if pattern.name else None, pattern


def project_urls() -> dict[str, str]:
    """Namespaced name -> route for every URL of the project outside Django's admin."""
    return {
        name or route: route
        for route, name, _pattern in _walk(get_resolver().url_patterns)
        if not route.startswith(STAFF_ONLY_PREFIX)
    }


def test_every_url_has_an_expectation():
    missing = sorted(set(project_urls()) - set(URLS))
    assert missing == [], f"add a row to URLS in tests/test_role_matrix.py for: {missing}"


def test_every_expectation_names_an_existing_url():
    stale = sorted(set(URLS) - set(project_urls()))
    assert stale == [], f"these rows of URLS name no URL any more: {stale}"


# --- requests -----------------------------------------------------------------------------------------------------


class _FakeAdapter:
    """Stands in for a platform so "test connection" never leaves the machine."""

    def test_connection(self) -> str:
        return "connected (matrix)"


@pytest.fixture
def world(marketer, ops_user, admin_user, monkeypatch) -> World:
    from audience_ops.destinations import services as destination_services
    from audience_ops.destinations.models import Destination
    from audience_ops.destinations.registry import kinds
    from audience_ops.syncs.models import Sync, SyncRun

    monkeypatch.setattr(destination_services, "adapter_for", lambda destination: _FakeAdapter())
    (audience,) = create_audiences(
        audience_dict("matrix-audience", {"event": "Product Viewed"}, retire_on="2026-01-31", owner="maria")
    )
    Audience.objects.filter(pk=audience.pk).update(
        status=AudienceStatus.LIVE, live_version=audience.versions.order_by("-number").first()
    )
    audience.refresh_from_db()
    # A pending review, so that approve and reject have something to decide on.
    run = QARun.objects.create(version=audience.live_version, as_of=timezone.now(), passed=True, results=[])
    VersionReview.objects.create(version=audience.live_version, qa_run=run, submitted_by=marketer)
    profile = make_profile(external_id="matrix-1", email="matrix@example.com")
    write_key = WriteKey.objects.create(name="matrix", prefix="mk_matrix", key_hash="0" * 64)
    fixture = QATestProfile.objects.create(profile=profile, name="matrix shopper")
    target_user = _make_user("target", Role.MARKETER)
    destination = Destination.objects.create(name="matrix destination", kind=kinds()[0][0], config={})
    sync = Sync.objects.create(audience=audience, destination=destination, mode="mirror", enabled=False)
    sync_run = SyncRun.objects.create(sync=sync, state="succeeded", as_of=timezone.now(), finished_at=timezone.now())
    return World(
        destination=destination,
        sync=sync,
        sync_run=sync_run,
        audience=audience,
        profile=profile,
        write_key=write_key,
        fixture=fixture,
        target_user=target_user,
        users={MARKETER: marketer, OPS: ops_user, ADMIN: admin_user},
    )


def outcome(response: Any) -> str:
    location = response.get("Location", "") if response.status_code in (301, 302, 303) else ""
    if location.startswith(reverse("login")) or location.startswith(reverse("admin:login")):
        return LOGIN
    if response.status_code in (401, 403):
        return str(response.status_code)
    if response.status_code < 400:
        return OK
    return f"HTTP {response.status_code}"


def _url(name: str, expectation: E, world: World) -> str:
    route = project_urls()[name]
    if expectation.kwargs is not None:
        kwargs = expectation.kwargs(world)
    elif "<slug:slug>" in route:
        kwargs = {"slug": world.audience.slug}
    else:
        kwargs = {}
    return reverse(name, kwargs=kwargs or None)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", sorted(URLS))
def test_role_gets_the_right_answer(name, role, world, redis_server):
    expectation = URLS[name]
    client = Client()
    if role != ANONYMOUS:
        client.force_login(world.users[role])
    url = _url(name, expectation, world)
    if expectation.method == "post" and expectation.json:
        response = client.post(url, expectation.data, content_type="application/json")
    elif expectation.method == "post":
        response = client.post(url, expectation.data)
    else:
        response = client.get(url)
    assert outcome(response) == expectation.expected(role), f"{expectation.method.upper()} {url} as {role}"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("path", ["/django-admin/", "/django-admin/audiences/audience/", "/django-admin/rq/"])
def test_django_admin_and_the_job_dashboard_are_for_staff_only(path, role, world):
    client = Client()
    if role != ANONYMOUS:
        client.force_login(world.users[role])
    assert outcome(client.get(path)) == LOGIN


# --- services called directly -------------------------------------------------------------------------------------


def _future(days: int = 30) -> dt.date:
    return timezone.localdate() + dt.timedelta(days=days)


def _services() -> dict[str, tuple[frozenset[str], Callable[[Any, World], Any]]]:
    """service -> (roles allowed, call(actor, world)). Imported lazily so a missing module fails one test only."""
    from audience_ops.accounts.services import user_create, user_set_active, user_set_role
    from audience_ops.audiences import lifecycle, qa
    from audience_ops.audiences.hygiene import audience_extend_retirement
    from audience_ops.audiences.services import audience_import
    from audience_ops.audiences.ui_services import audience_evaluation_request
    from audience_ops.customers.writekeys import writekey_create, writekey_revoke
    from audience_ops.destinations import services as destinations
    from audience_ops.monitoring import services as monitoring
    from audience_ops.syncs import services as syncs

    def new_version(actor: Any, world: World) -> Any:
        data = audience_dict("matrix-audience", {"event": "Order Completed"}, owner="maria", retire_on="2027-01-31")
        return audience_import(payload=data, actor_or_username=actor)

    def new_audience(actor: Any, world: World) -> Any:
        data = audience_dict("matrix-new", {"event": "Order Completed"}, owner="maria")
        return audience_import(payload=data, actor_or_username=actor)

    return {
        "alert_acknowledge": (
            frozenset({OPS, ADMIN}),
            lambda actor, w: monitoring.alert_acknowledge(
                actor=actor, alert=monitoring.Alert.objects.get(**_alert_pk(w))
            ),
        ),
        "alert_resolve": (
            frozenset({OPS, ADMIN}),
            lambda actor, w: monitoring.alert_resolve(actor=actor, alert=monitoring.Alert.objects.get(**_alert_pk(w))),
        ),
        "sync_create": (
            frozenset({OPS, ADMIN}),
            lambda actor, w: syncs.sync_create(
                actor=actor, audience=w.audience, destination=w.destination, enabled=False
            ),
        ),
        "sync_set_enabled": (
            frozenset({OPS, ADMIN}),
            lambda actor, w: syncs.sync_set_enabled(actor=actor, sync=w.sync, enabled=False),
        ),
        "sync_request_run": (
            frozenset({OPS, ADMIN}),
            lambda actor, w: syncs.sync_request_run(actor=actor, sync=w.sync, enqueue=False),
        ),
        "destination_create": (
            frozenset({ADMIN}),
            lambda actor, w: destinations.destination_create(
                actor=actor, name="new", kind=w.destination.kind, config={}
            ),
        ),
        "destination_delete": (
            frozenset({ADMIN}),
            lambda actor, w: destinations.destination_delete(actor=actor, destination=w.destination),
        ),
        "destination_test_connection": (
            frozenset({ADMIN}),
            lambda actor, w: destinations.destination_test_connection(actor=actor, destination=w.destination),
        ),
        "user_create": (
            frozenset({ADMIN}),
            lambda actor, w: user_create(actor=actor, username="newbie", role=Role.MARKETER, email="", password=None),
        ),
        "user_set_role": (frozenset({ADMIN}), lambda a, w: user_set_role(actor=a, user=w.target_user, role=Role.OPS)),
        "user_set_active": (
            frozenset({ADMIN}),
            lambda actor, w: user_set_active(actor=actor, user=w.target_user, active=False),
        ),
        "writekey_create": (frozenset({ADMIN}), lambda actor, w: writekey_create(actor=actor, name="cli source")),
        "writekey_revoke": (frozenset({ADMIN}), lambda actor, w: writekey_revoke(actor=actor, write_key=w.write_key)),
        "audience_import (new audience)": (frozenset({MARKETER}), new_audience),
        "audience_import (new version)": (frozenset({MARKETER, ADMIN}), new_version),
        "audience_evaluation_request": (
            ALL_ROLES,
            lambda actor, w: audience_evaluation_request(actor=actor, audience=w.audience),
        ),
        "qa_test_profile_create": (
            frozenset({MARKETER}),
            lambda actor, w: qa.qa_test_profile_create(
                actor=actor, profile=make_profile(external_id="qa-new"), name="another"
            ),
        ),
        "qa_test_profile_update": (
            frozenset({MARKETER}),
            lambda actor, w: qa.qa_test_profile_update(actor=actor, fixture=w.fixture, name="renamed", description=""),
        ),
        "qa_test_profile_delete": (
            frozenset({MARKETER}),
            lambda actor, w: qa.qa_test_profile_delete(actor=actor, fixture=w.fixture),
        ),
        "qa_cases_save": (
            frozenset({MARKETER, ADMIN}),
            lambda actor, w: qa.qa_cases_save(
                actor=actor, audience=w.audience, cases=[{"profile": "matrix-1", "expect": "in", "note": ""}]
            ),
        ),
        "qa_run": (
            frozenset({MARKETER, ADMIN}),
            lambda actor, w: qa.qa_run(actor=actor, audience=w.audience, now=timezone.now()),
        ),
        "audience_submit": (
            frozenset({MARKETER, ADMIN}),
            lambda actor, w: lifecycle.audience_submit(actor=actor, audience=w.audience),
        ),
        "audience_approve": (
            frozenset({OPS}),
            lambda actor, w: lifecycle.audience_approve(actor=actor, audience=w.audience),
        ),
        "audience_reject": (
            frozenset({OPS}),
            lambda actor, w: lifecycle.audience_reject(actor=actor, audience=w.audience, reason="no"),
        ),
        "audience_pause": (
            frozenset({OPS, ADMIN}),
            lambda actor, w: lifecycle.audience_pause(actor=actor, audience=w.audience),
        ),
        "audience_resume": (
            frozenset({OPS, ADMIN}),
            lambda actor, w: lifecycle.audience_resume(actor=actor, audience=w.audience),
        ),
        "audience_retire": (
            frozenset({ADMIN}),
            lambda actor, w: lifecycle.audience_retire(actor=actor, audience=w.audience),
        ),
        "audience_extend_retirement": (
            frozenset({ADMIN}),
            lambda actor, w: audience_extend_retirement(
                actor=actor, audience=w.audience, retire_on=_future(), reason="matrix"
            ),
        ),
    }


SERVICE_NAMES = [
    "sync_create",
    "sync_set_enabled",
    "sync_request_run",
    "destination_create",
    "destination_delete",
    "destination_test_connection",
    "user_create",
    "user_set_role",
    "user_set_active",
    "writekey_create",
    "writekey_revoke",
    "audience_import (new audience)",
    "audience_import (new version)",
    "audience_evaluation_request",
    "qa_test_profile_create",
    "qa_test_profile_update",
    "qa_test_profile_delete",
    "qa_cases_save",
    "qa_run",
    "audience_submit",
    "audience_approve",
    "audience_reject",
    "audience_pause",
    "audience_resume",
    "audience_retire",
    "audience_extend_retirement",
    "alert_acknowledge",
    "alert_resolve",
]


def test_service_list_matches_the_table():
    assert sorted(SERVICE_NAMES) == sorted(_services())


@pytest.mark.parametrize("role", [MARKETER, OPS, ADMIN])
@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_service_refuses_a_wrong_role(service, role, world, redis_server):
    allowed, call = _services()[service]
    actor = world.users[role]
    if role in allowed:
        # The role gets past the permission check; the state of the matrix audience may still refuse the change.
        with contextlib.suppress(ValidationError):
            call(actor, world)
    else:
        with pytest.raises(PermissionDenied):
            call(actor, world)


# --- commands that change state, with --by ------------------------------------------------------------------------


# Command, user given with --by, allowed. A refused command names the missing permission and changes nothing.
COMMANDS: list[tuple[tuple[str, ...], str, bool]] = [
    (("audiences", "submit", "{audience}"), "omar", False),
    (("audiences", "approve", "{audience}"), "maria", False),
    (("audiences", "approve", "{audience}"), "ada", False),
    (("audiences", "reject", "{audience}", "--reason", "no"), "maria", False),
    (("audiences", "pause", "{audience}"), "maria", False),
    (("audiences", "pause", "{audience}"), "omar", True),
    (("audiences", "pause", "{audience}"), "ada", True),
    (("audiences", "resume", "{audience}"), "maria", False),
    (("audiences", "retire", "{audience}"), "maria", False),
    (("audiences", "retire", "{audience}"), "omar", False),
    (("audiences", "retire", "{audience}"), "ada", True),
    (("syncs", "run", "{audience}", "{destination}"), "maria", False),
    (("syncs", "add", "{audience}", "{destination}", "--paused"), "maria", False),
]


@pytest.mark.parametrize(
    ("command", "username", "allowed"), COMMANDS, ids=lambda v: "-".join(v) if isinstance(v, tuple) else str(v)
)
def test_commands_act_as_the_named_user(command, username, allowed, world):
    from audience_ops.audit.models import AuditEvent

    args = [part.format(audience=world.audience.slug, destination=world.destination.name) for part in command]
    before = AuditEvent.objects.count()
    if allowed:
        call_command(*args, "--by", username, stdout=io.StringIO())
        assert AuditEvent.objects.count() > before
    else:
        # The refusal is what matters here; a command should turn it into an error message (CommandError).
        with pytest.raises((CommandError, PermissionDenied), match="may not"):
            call_command(*args, "--by", username, stdout=io.StringIO())
        assert AuditEvent.objects.count() == before
