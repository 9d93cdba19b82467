"""Audience services: evaluate definitions, explain them, import/export them, version and materialise them.

Views, the builder, the ``audiences`` command and jobs all call these. The public names are stable (the
builder UI is built on them); see ``docs/audience-definitions.md`` and ``docs/engine.md``.

"Definition-like" arguments accept a :class:`~.definitions.Definition`, an :class:`~.models.AudienceVersion`,
an :class:`~.models.Audience` (its live version, else the latest) or a v1 dict (a whole audience object or
just a condition tree). Referenced audiences (``in_audience``, ``exclude``, paired suppression) always resolve
to *their* live version, else latest, at the same ``now``.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from audience_ops.accounts.roles import ensure_permission
from audience_ops.audit.services import audit_record, model_snapshot
from audience_ops.customers.models import AnonymousId, Profile

from . import selectors
from .definitions import (
    Definition,
    audience_to_dict,
    definition_from_dict,
    definition_from_version,
    normalise_rule,
    split_payload,
)
from .engine.compiler import compile_members
from .engine.dialects import dialect_for
from .engine.explain import Trace, explain_profile
from .engine.text import definition_text
from .models import Audience, AudienceSnapshot, AudienceVersion, MembershipSpan
from .validation import Problem, validate_audience_payload

DefinitionLike = Definition | AudienceVersion | Audience | Mapping[str, Any]
MEMBER_CSV_HEADER = ("external_id", "email", "phone", "anonymous_id")


# --- evaluation --------------------------------------------------------------------------------------------


def audience_members_sql(
    *,
    audience: Audience | None = None,
    definition: DefinitionLike | None = None,
    now: dt.datetime,
    version: int | AudienceVersion | None = None,
) -> tuple[str, list[Any]]:
    """One SQL statement (``%s`` placeholders) and its parameters selecting the member ids at ``now``.

    Pass ``audience`` (optionally ``version``: a number or a version row; default live, else latest) or an
    unsaved ``definition``. The statement's single column is ``profile_id``.
    """
    resolved = _resolve_definition(audience=audience, definition=definition, version=version)
    return compile_members(
        resolved,
        now=_aware(now),
        resolver=selectors.audience_definition_resolver(),
        dialect=dialect_for(connection),
    )


def audience_member_ids(
    *,
    audience: Audience | None = None,
    definition: DefinitionLike | None = None,
    now: dt.datetime,
    version: int | AudienceVersion | None = None,
    chunk_size: int = 2000,
) -> Iterator[int]:
    """The member ids at ``now``, ascending, streamed from a server-side cursor (never all in memory)."""
    sql, params = audience_members_sql(audience=audience, definition=definition, now=now, version=version)
    yield from (
        row[0] for row in _stream(f"SELECT m.profile_id FROM ({sql}) AS m ORDER BY m.profile_id", params, chunk_size)
    )


def audience_size(definition: DefinitionLike, now: dt.datetime) -> int:
    """How many profiles are members at ``now`` (exclusions and paired suppression applied)."""
    sql, params = audience_members_sql(definition=definition, now=now)
    return _scalar(f"SELECT COUNT(*) FROM ({sql}) AS m", params)


def rule_condition_sizes(definition: DefinitionLike, now: dt.datetime) -> list[int]:
    """The size of each top-level condition of an ``all``/``any`` root on its own (no exclusions).

    For a root that is a single condition (or ``not``) the list holds that condition's size; an empty ``all``
    gives an empty list. The builder shows these beside each row.
    """
    resolved = _resolve_definition(definition=definition)
    rule = resolved.rule
    conditions = rule.get("all", rule.get("any")) if ("all" in rule or "any" in rule) else [rule]
    sizes = []
    resolver = selectors.audience_definition_resolver()
    for condition in conditions:
        sql, params = compile_members(
            Definition(rule=condition, slug=resolved.slug),
            now=_aware(now),
            resolver=resolver,
            dialect=dialect_for(connection),
            include_exclusions=False,
        )
        sizes.append(_scalar(f"SELECT COUNT(*) FROM ({sql}) AS m", params))
    return sizes


def audience_sample(definition: DefinitionLike, now: dt.datetime, limit: int = 20) -> list[Profile]:
    """Up to ``limit`` members at ``now``, newest profiles first: what the builder previews."""
    sql, params = audience_members_sql(definition=definition, now=now)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT m.profile_id FROM ({sql}) AS m ORDER BY m.profile_id DESC LIMIT %s", [*params, limit])
        ids = [row[0] for row in cursor.fetchall()]
    profiles = Profile.objects.in_bulk(ids)
    return [profiles[pk] for pk in ids if pk in profiles]


def audience_member_rows(
    *, audience: Audience, now: dt.datetime, version: int | AudienceVersion | None = None, chunk_size: int = 2000
) -> Iterator[tuple[str, str, str, str]]:
    """``(external_id, email, phone, anonymous_id)`` per member, streamed, in the order of ``audiences members``.

    Values are as stored, "" when absent. ``anonymous_id`` is the smallest anonymous id of an anonymous
    profile (one without an external id), "" for known profiles. Rows are sorted by the four values as byte
    strings (empty first), then by profile id so that equal rows keep a stable order.
    """
    sql, params = audience_members_sql(audience=audience, now=now, version=version)
    collate = dialect_for(connection).byte_order_collation
    anonymous = AnonymousId._meta.db_table
    profiles = Profile._meta.db_table
    # Each column is computed once, already in byte order (the collation sits in the inner select), so the
    # sort key is the output itself: ordering by a re-collated column would make PostgreSQL evaluate the
    # anonymous-id subquery a second time and carry both copies through the sort.
    query = (
        "SELECT r.external_id, r.email, r.phone, r.anonymous_id FROM ("
        f"SELECT p.id AS id, COALESCE(p.external_id, ''){collate} AS external_id, "
        f"COALESCE(p.email, ''){collate} AS email, COALESCE(p.phone, ''){collate} AS phone, "
        "CASE WHEN p.external_id IS NULL OR p.external_id = '' THEN COALESCE("
        f"(SELECT MIN(a.anonymous_id{collate}) FROM {anonymous} AS a WHERE a.profile_id = p.id), '') "
        f"ELSE '' END{collate} AS anonymous_id "
        f"FROM {profiles} AS p INNER JOIN ({sql}) AS m ON m.profile_id = p.id"
        ") AS r ORDER BY r.external_id, r.email, r.phone, r.anonymous_id, r.id"
    )
    yield from _stream(query, params, chunk_size)


def profile_explain(
    *,
    definition: DefinitionLike | None = None,
    audience: Audience | None = None,
    profile: Profile,
    now: dt.datetime,
    version: int | AudienceVersion | None = None,
) -> Trace:
    """Why ``profile`` is in or out at ``now``: a condition-by-condition trace that agrees with the engine.

    Each node carries ``matched``, a plain-English ``label`` and the deciding ``values`` (count in window,
    first/last event time, the attribute's value or "missing"); exclusions and the paired suppression come
    after the rule, each with the trace of that audience.
    """
    resolved = _resolve_definition(audience=audience, definition=definition, version=version)
    resolver = selectors.audience_definition_resolver()
    return explain_profile(
        resolved,
        profile=profile,
        now=_aware(now),
        resolver=resolver,
        connection=connection,
        names=_names_for(resolved, resolver),
    )


def definition_to_text(definition: DefinitionLike) -> str:
    """The definition in plain English, referenced audiences by name (falls back to the slug)."""
    resolved = _resolve_definition(definition=definition)
    return definition_text(resolved, names=selectors.audience_names(slugs=resolved.referenced_slugs()))


# --- import / export / versions ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportChange:
    """What an import did to one audience."""

    slug: str
    action: str  # "created", "new version", "updated" or "unchanged"
    version: int
    updated_fields: tuple[str, ...] = ()

    def __str__(self) -> str:
        if self.action == "created":
            text = f"{self.slug}: created (version {self.version})"
        elif self.action == "new version":
            text = f"{self.slug}: new version {self.version}"
        elif self.action == "updated":
            text = (
                f"{self.slug}: updated {', '.join(self.updated_fields)} (definition unchanged, version {self.version})"
            )
        else:
            text = f"{self.slug}: unchanged"
        if self.action == "new version" and self.updated_fields:
            text += f"; updated {', '.join(self.updated_fields)}"
        return text


@dataclass
class ImportResult:
    """The outcome of :func:`audience_import`: either problems (and nothing written) or one change per audience."""

    problems: list[Problem] = field(default_factory=list)
    changes: list[ImportChange] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


METADATA_FIELDS = ("name", "kind", "objective", "owner", "purpose", "retire_on", "intent", "offer")
AUDIT_AUDIENCE_FIELDS = ("slug", *METADATA_FIELDS, "status", "live_version")


def audience_import(*, payload: Any, actor_or_username: AbstractBaseUser | str | None = None) -> ImportResult:
    """Create audiences or add versions from a v1 payload, all or nothing, in one transaction.

    Every audience in the payload is validated first (references may point at audiences later in the same
    payload); with any problem nothing is written and every problem is returned. Existing audiences get
    their descriptive fields updated in place and a new version only when the definition (rule, exclude,
    paired suppression, qa) differs from their latest version.

    ``actor_or_username``: a user object is the acting user (permissions are checked, and they author new
    versions); a username (the CLI's ``--by``) authors new versions without a permission check (the operator
    at the command line); None makes each audience's owner the author.
    """
    user_model = get_user_model()
    actor: AbstractBaseUser | None = None
    author: AbstractBaseUser | None = None
    if isinstance(actor_or_username, str):
        author = user_model.objects.filter(**{user_model.USERNAME_FIELD: actor_or_username}).first()
        if author is None:
            return ImportResult(problems=[Problem("by", f'unknown user "{actor_or_username}"')])
    elif actor_or_username is not None:
        actor = author = actor_or_username

    with transaction.atomic():
        problems = validate_audience_payload(payload)
        if problems:
            return ImportResult(problems=problems)
        entries = [item for _prefix, item in split_payload(payload)[0]]
        owners = {
            getattr(user, user_model.USERNAME_FIELD): user
            for user in user_model.objects.filter(
                **{f"{user_model.USERNAME_FIELD}__in": {item["owner"] for item in entries}}
            )
        }
        changes = [
            _audience_upsert(data=item, owner=owners[item["owner"]], author=author, actor=actor) for item in entries
        ]
    return ImportResult(changes=changes)


def audience_export(slugs: Sequence[str] | None = None) -> dict[str, Any]:
    """``{"audiences": [...]}`` in the v1 format with each audience's latest version (all audiences by slug
    when ``slugs`` is empty, else in the order given). Raises ``Audience.DoesNotExist`` for an unknown slug.

    Import of the result changes nothing, and exporting again gives the same bytes.
    """
    if slugs:
        wanted = list(dict.fromkeys(slugs))
        found = {
            audience.slug: audience for audience in Audience.objects.select_related("owner").filter(slug__in=wanted)
        }
        missing = [slug for slug in wanted if slug not in found]
        if missing:
            raise Audience.DoesNotExist(f"unknown audience: {', '.join(missing)}")
        audiences = [found[slug] for slug in wanted]
    else:
        audiences = list(Audience.objects.select_related("owner").order_by("slug"))
    return {
        "audiences": [
            audience_to_dict(audience=audience, version=selectors.audience_latest_version(audience=audience))
            for audience in audiences
        ]
    }


def audience_version_create(
    *, audience: Audience, definition: DefinitionLike, author: AbstractBaseUser
) -> tuple[AudienceVersion, bool]:
    """Add a version to ``audience`` unless ``definition`` equals its latest one; returns (version, created).

    The definition is validated with the audience's own fields first (raises ``ValidationError`` keyed by
    JSON path). Versions are immutable: an edit is always a new row, so what was approved stays reproducible.
    """
    resolved = _resolve_definition(definition=definition)
    payload = {
        **{
            key: value
            for key, value in audience_to_dict(audience=audience, version=None).items()
            if key not in ("paired_suppression", "exclude", "rule", "qa")
        },
        **resolved.as_dict(),
    }
    problems = validate_audience_payload(payload)
    if problems:
        errors: dict[str, list[str]] = {}
        for problem in problems:
            errors.setdefault(problem.path or "__all__", []).append(problem.message)
        raise ValidationError(errors)
    with transaction.atomic():
        Audience.objects.select_for_update().filter(pk=audience.pk).first()
        return _version_create(audience=audience, definition=resolved, author=author, actor=author)


def _audience_upsert(
    *, data: Mapping[str, Any], owner: AbstractBaseUser, author: AbstractBaseUser | None, actor: AbstractBaseUser | None
) -> ImportChange:
    values = {
        "name": data["name"],
        "kind": data["kind"],
        "objective": data["objective"],
        "owner": owner,
        "purpose": data["purpose"],
        "retire_on": dt.date.fromisoformat(data["retire_on"]),
        "intent": data.get("intent", ""),
        "offer": data.get("offer", "none"),
    }
    definition = definition_from_dict(data)
    # Who the audit log names: the signed-in user, else the --by user of the command line, else "system".
    actor_label = "" if actor is not None else (author.get_username() if author is not None else "")
    audience = Audience.objects.select_for_update().filter(slug=data["slug"]).first()
    if audience is None:
        ensure_permission(actor, "audiences.add_audience")
        audience = Audience(slug=data["slug"], **values)
        audience.full_clean(exclude=["live_version"])
        audience.save()
        audit_record(
            actor=actor,
            actor_label=actor_label,
            action="audience.create",
            obj=audience,
            after=model_snapshot(audience, AUDIT_AUDIENCE_FIELDS),
        )
        version, _created = _version_create(
            audience=audience, definition=definition, author=author or owner, actor=actor, actor_label=actor_label
        )
        return ImportChange(slug=audience.slug, action="created", version=version.number)

    ensure_permission(actor, "audiences.change_audience")
    updated = [name for name, value in values.items() if getattr(audience, name) != value]
    if updated:
        before = model_snapshot(audience, updated)
        for name in updated:
            setattr(audience, name, values[name])
        audience.updated_at = timezone.now()
        audience.full_clean(exclude=["live_version"])
        audience.save(update_fields=[*updated, "updated_at"])
        audit_record(
            actor=actor,
            actor_label=actor_label,
            action="audience.update",
            obj=audience,
            before=before,
            after=model_snapshot(audience, updated),
        )
    version, created = _version_create(
        audience=audience, definition=definition, author=author or owner, actor=actor, actor_label=actor_label
    )
    if created:
        return ImportChange(
            slug=audience.slug, action="new version", version=version.number, updated_fields=tuple(updated)
        )
    if updated:
        return ImportChange(slug=audience.slug, action="updated", version=version.number, updated_fields=tuple(updated))
    return ImportChange(slug=audience.slug, action="unchanged", version=version.number)


def _version_create(
    *,
    audience: Audience,
    definition: Definition,
    author: AbstractBaseUser,
    actor: AbstractBaseUser | None = None,
    actor_label: str = "",
) -> tuple[AudienceVersion, bool]:
    """Write a new version unless ``definition`` equals the latest one; the caller holds a transaction.

    A new version writes an ``audience.version_create`` audit event whose before/after are the previous and
    new definitions (so the event's changes name what changed: rule, exclude, paired suppression or qa). It
    never touches ``status`` or ``live_version``: a live version stays live until a new one is approved.
    """
    latest = audience.versions.order_by("-number").first()
    if latest is not None and definition_from_version(latest).fingerprint() == definition.fingerprint():
        return latest, False
    version = AudienceVersion(
        audience=audience,
        number=(latest.number + 1) if latest is not None else 1,
        rule=normalise_rule(definition.rule),
        exclude=sorted(definition.exclude),
        paired_suppression=definition.paired_suppression,
        qa=[dict(case) for case in definition.qa],
        author=author,
    )
    version.save()
    if latest is not None:
        audience.updated_at = timezone.now()
        audience.save(update_fields=["updated_at"])
    audit_record(
        actor=actor,
        actor_label=actor_label,
        action="audience.version_create",
        obj=audience,
        before=_version_audit(latest) if latest is not None else None,
        after=_version_audit(version),
    )
    return version, True


def _version_audit(version: AudienceVersion) -> dict[str, Any]:
    """A version as an audit snapshot: its number, author and definition keys."""
    return {
        "version": version.number,
        "author": version.author_id,
        "rule": version.rule,
        "exclude": version.exclude or [],
        "paired_suppression": version.paired_suppression,
        "qa": version.qa or [],
    }


# --- materialisation ---------------------------------------------------------------------------------------


def audience_evaluate(*, audience: Audience, now: dt.datetime) -> AudienceSnapshot:
    """Materialise membership at ``now``: close the spans of leavers, open spans for entrants, record a snapshot.

    Set-based: the members are computed once into a temporary table, then one UPDATE closes the spans of
    profiles no longer in it and one INSERT opens spans for new ones. The audience row is locked so two
    evaluations of one audience never interleave. ``now`` may not go back before the previous evaluation
    (history would stop making sense); evaluating twice at the same ``now`` changes nothing.
    """
    now = _aware(now)
    started = time.monotonic()
    with transaction.atomic():
        audience = Audience.objects.select_for_update().get(pk=audience.pk)
        last = selectors.audience_last_snapshot(audience=audience)
        if last is not None and now < last.evaluated_at:
            raise ValidationError(
                {"now": f"{now.isoformat()} is before the last evaluation ({last.evaluated_at.isoformat()})"}
            )
        version = selectors.audience_evaluated_version(audience=audience)
        sql, params = audience_members_sql(audience=audience, now=now, version=version)
        spans = MembershipSpan._meta.db_table
        table = f"audiences_eval_{audience.pk}"
        when = dialect_for(connection).datetime_param(now) if connection.vendor == "sqlite" else now
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
            cursor.execute(f"CREATE TEMPORARY TABLE {table} (profile_id bigint PRIMARY KEY)")
            try:
                cursor.execute(f"INSERT INTO {table} (profile_id) {sql}", params)
                if connection.vendor == "postgresql":
                    cursor.execute(f"ANALYZE {table}")
                cursor.execute(f"SELECT COUNT(*) FROM {table}")
                (size,) = cursor.fetchone()
                cursor.execute(
                    f"UPDATE {spans} SET exited_at = %s WHERE audience_id = %s AND exited_at IS NULL "
                    f"AND NOT EXISTS (SELECT 1 FROM {table} AS t WHERE t.profile_id = {spans}.profile_id)",
                    [when, audience.pk],
                )
                exited = cursor.rowcount
                cursor.execute(
                    f"INSERT INTO {spans} (audience_id, profile_id, version_id, entered_at, exited_at) "
                    f"SELECT %s, t.profile_id, %s, %s, NULL FROM {table} AS t WHERE NOT EXISTS ("
                    f"SELECT 1 FROM {spans} AS s WHERE s.audience_id = %s AND s.profile_id = t.profile_id "
                    "AND s.exited_at IS NULL)",
                    [audience.pk, version.pk, when, audience.pk],
                )
                entered = cursor.rowcount
            finally:
                cursor.execute(f"DROP TABLE IF EXISTS {table}")
        snapshot = AudienceSnapshot.objects.create(
            audience=audience,
            version=version,
            evaluated_at=now,
            size=size,
            entered=entered,
            exited=exited,
            duration_ms=round((time.monotonic() - started) * 1000),
        )
        # Alerts that depend on this evaluation (size, leaks, schedule) are checked once it has committed.
        from audience_ops.monitoring.services import alerts_after_evaluation

        transaction.on_commit(lambda: alerts_after_evaluation(audience))
    return snapshot


# --- helpers -----------------------------------------------------------------------------------------------


def parse_as_of(value: str) -> dt.datetime:
    """An ISO 8601 time for ``--as-of``: ``2026-11-28T12:00:00Z``, with an offset, without one (UTC), or a
    bare date (midnight UTC). Raises ``ValueError`` with a readable message."""
    text = value.strip()
    try:
        if len(text) == 10 and text[4] == "-" and text[7] == "-":
            day = dt.date.fromisoformat(text)
            return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
        moment = dt.datetime.fromisoformat(text)
    except (ValueError, IndexError) as exc:
        raise ValueError(f'"{value}" is not an ISO 8601 time such as 2026-11-28T12:00:00Z or 2026-11-28') from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def _resolve_definition(
    *,
    audience: Audience | None = None,
    definition: DefinitionLike | None = None,
    version: int | AudienceVersion | None = None,
) -> Definition:
    if audience is not None and definition is not None:
        raise TypeError("pass either audience or definition, not both")
    if audience is not None:
        if isinstance(version, AudienceVersion):
            if version.audience_id != audience.pk:
                raise ValueError(f"version {version.pk} does not belong to {audience.slug}")
            return definition_from_version(version)
        if isinstance(version, int):
            return definition_from_version(selectors.audience_version_get(audience=audience, number=version))
        return definition_from_version(selectors.audience_evaluated_version(audience=audience))
    if definition is None:
        raise TypeError("pass an audience or a definition")
    if isinstance(definition, Definition):
        return definition
    if isinstance(definition, AudienceVersion):
        return definition_from_version(definition)
    if isinstance(definition, Audience):
        return _resolve_definition(audience=definition, version=version)
    if isinstance(definition, Mapping):
        return definition_from_dict(definition)
    raise TypeError(f"not a definition: {type(definition).__name__}")


def _names_for(definition: Definition, resolver: Any) -> dict[str, str]:
    """Names of every audience reachable from ``definition`` (for labels in nested traces)."""
    seen: set[str] = set()
    pending = list(definition.referenced_slugs())
    while pending:
        slug = pending.pop()
        if slug in seen:
            continue
        seen.add(slug)
        try:
            pending.extend(resolver(slug).referenced_slugs())
        except Exception:  # an unknown reference is reported by the compiler, not here
            continue
    return selectors.audience_names(slugs=seen)


def _aware(now: dt.datetime) -> dt.datetime:
    if timezone.is_naive(now):
        raise ValueError("now must be timezone-aware (times are compared in UTC)")
    return now


def _scalar(sql: str, params: list[Any]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def _stream(sql: str, params: list[Any], chunk_size: int) -> Iterator[tuple]:
    """Rows of ``sql`` fetched in chunks through a server-side cursor on PostgreSQL.

    The read runs inside a transaction: outside one, Django declares the cursor ``WITH HOLD`` and PostgreSQL
    computes the whole result when the DECLARE commits, in one step that ``statement_timeout`` does not cover
    and that holds every row. Inside a transaction the cursor really streams, chunk by chunk.
    """
    with transaction.atomic(), connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while True:
            rows = cursor.fetchmany(chunk_size)
            if not rows:
                return
            yield from rows
