"""Retirement and hygiene: the retirement queue, near-duplicates, the overlap matrix and channel collisions.

Audiences are contracts that pile up: campaigns end, owners leave, two marketers build the same thing. This
module finds the audiences that should be reviewed or retired and the people who get contradictory messages,
so an admin can act before the ad accounts fill with stale or conflicting lists.

Every membership comparison reads the *open* membership spans (the members at each audience's last
evaluation) and is computed in SQL with a self-join and ``GROUP BY``: members are never loaded into Python,
so the reports cost the same whether an audience has ten members or a million.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import Count, Max
from django.urls import reverse
from django.utils import timezone

from audience_ops.accounts.roles import ensure_permission
from audience_ops.audit.models import AuditEvent
from audience_ops.audit.services import audit_record, model_snapshot

from . import selectors
from .choices import AudienceKind, AudienceOffer, AudienceStatus
from .definitions import Definition, canonical_json, definition_from_dict, definition_from_version, normalise_rule
from .models import Audience, AudienceVersion, MembershipSpan, VersionReview

RETIRE_PERMISSION = "audiences.retire_audience"
EXTEND_ACTION = "audience.extend_retirement"
FLAG_ACTION = "audience.retirement_flagged"
NAME_SIMILARITY = 0.9
DEFAULT_UNSYNCED_DAYS = 30
DEFAULT_NEAR_DUPLICATE_JACCARD = 0.9
COLLISION_SAMPLE_SIZE = 5

# Reason codes of the retirement queue, in the order they are listed.
PAST_RETIRE_ON = "past_retire_on"
NOT_SYNCED = "not_synced"
OWNER_INACTIVE = "owner_inactive"
NEAR_DUPLICATE = "near_duplicate"
REASON_LABELS = {
    PAST_RETIRE_ON: "Past its retirement date",
    NOT_SYNCED: "Live but not synced",
    OWNER_INACTIVE: "Owner inactive",
    NEAR_DUPLICATE: "Near-duplicate",
}


def unsynced_days() -> int:
    """Days a live audience may go without a successful sync before it is queued (``HYGIENE_UNSYNCED_DAYS``)."""
    return int(getattr(settings, "HYGIENE_UNSYNCED_DAYS", DEFAULT_UNSYNCED_DAYS))


def near_duplicate_threshold() -> float:
    """Membership Jaccard index from which two live audiences count as near-duplicates (``NEAR_DUPLICATE_JACCARD``)."""
    return float(getattr(settings, "NEAR_DUPLICATE_JACCARD", DEFAULT_NEAR_DUPLICATE_JACCARD))


# --- Normalised definitions -----------------------------------------------------------------------------------


def canonical_condition(node: Any) -> Any:
    """The condition tree with every spelling of the same selection made identical.

    AND/OR are commutative, so ``all``/``any`` children (and an event's ``where`` filters, which must all
    hold, and the lists of ``in``/``not_in``) are sorted and de-duplicated; a group of one child is that
    child, a group nested in a group of the same kind is flattened, ``not not X`` is ``X``, and an event
    condition without ``count``/``last``/``first`` gets its default ``count: {"gte": 1}``. Only rewrites that
    cannot change who is selected are made, so equal results mean equal members at any ``now``.
    """
    node = normalise_rule(node)
    if not isinstance(node, Mapping):
        return node
    for key in ("all", "any"):
        if key in node and isinstance(node[key], list):
            children: list[Any] = []
            for child in (canonical_condition(item) for item in node[key]):
                if isinstance(child, Mapping) and set(child) == {key} and isinstance(child[key], list) and child[key]:
                    children.extend(child[key])
                else:
                    children.append(child)
            unique = _sorted_unique(children)
            if len(unique) == 1:
                return unique[0]
            return {key: unique}
    if "not" in node:
        inner = canonical_condition(node["not"])
        if isinstance(inner, Mapping) and set(inner) == {"not"}:
            return inner["not"]
        return {"not": inner}
    if "event" in node:
        data = dict(node)
        if isinstance(data.get("where"), list):
            data["where"] = _sorted_unique([_canonical_values(item) for item in data["where"]])
            if not data["where"]:
                del data["where"]
        if not any(key in data for key in ("count", "last", "first")):
            data["count"] = {"gte": 1}
        return data
    if "attribute" in node:
        return _canonical_values(node)
    return dict(node)


def definition_fingerprint(definition: Definition | Mapping[str, Any]) -> str:
    """Canonical JSON of what a definition selects: normalised rule, sorted exclusions, paired suppression.

    The paired suppression is always removed from the members, so listing it in ``exclude`` as well changes
    nothing and is dropped. QA cases do not select anyone and are left out (unlike
    :meth:`Definition.fingerprint`, which identifies a version).
    """
    if not isinstance(definition, Definition):
        definition = definition_from_dict(definition)
    suppression = definition.paired_suppression or None
    return canonical_json(
        {
            "rule": canonical_condition(definition.rule),
            "exclude": sorted(set(definition.exclude) - {suppression}),
            "paired_suppression": suppression,
        }
    )


def _canonical_values(condition: Any) -> Any:
    if (
        isinstance(condition, Mapping)
        and condition.get("op") in ("in", "not_in")
        and isinstance(condition.get("value"), list)
    ):
        return {**condition, "value": _sorted_unique(condition["value"])}
    return dict(condition) if isinstance(condition, Mapping) else condition


def _sorted_unique(items: Iterable[Any]) -> list[Any]:
    by_text = {canonical_json(item): item for item in items}
    return [by_text[text] for text in sorted(by_text)]


# --- Membership overlaps, in SQL -------------------------------------------------------------------------------


def _placeholders(values: Sequence[Any]) -> str:
    return ", ".join(["%s"] * len(values))


def open_span_sizes(*, audience_ids: Sequence[int]) -> dict[int, int]:
    """audience id -> members at its last evaluation (open spans); audiences without members are absent."""
    if not audience_ids:
        return {}
    rows = (
        MembershipSpan.objects.filter(audience_id__in=list(audience_ids), exited_at__isnull=True)
        .order_by()
        .values("audience_id")
        .annotate(size=Count("id"))
        .values_list("audience_id", "size")
    )
    return dict(rows)


def open_span_overlaps(*, audience_ids: Sequence[int], both_directions: bool = False) -> dict[tuple[int, int], int]:
    """(a, b) -> profiles that are currently members of both a and b, for every pair sharing at least one.

    One self-join of the open spans on ``profile_id`` grouped by the two audiences, so the database does the
    counting (the ``(profile, audience)`` index serves the join). With ``both_directions`` each pair appears
    as (a, b) and (b, a); otherwise once with a < b.
    """
    ids = sorted(set(audience_ids))
    if len(ids) < 2:
        return {}
    table = connection.ops.quote_name(MembershipSpan._meta.db_table)
    sql = (
        f"SELECT a.audience_id, b.audience_id, COUNT(*) FROM {table} a "
        f"JOIN {table} b ON b.profile_id = a.profile_id AND b.audience_id > a.audience_id "
        f"WHERE a.exited_at IS NULL AND b.exited_at IS NULL "
        f"AND a.audience_id IN ({_placeholders(ids)}) AND b.audience_id IN ({_placeholders(ids)}) "
        f"GROUP BY a.audience_id, b.audience_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*ids, *ids])
        rows = cursor.fetchall()
    overlaps = {(int(a), int(b)): int(count) for a, b, count in rows}
    if both_directions:
        overlaps.update({(b, a): count for (a, b), count in list(overlaps.items())})
    return overlaps


def open_span_shared_profiles(*, audience_id: int, other_id: int, limit: int = COLLISION_SAMPLE_SIZE) -> list[int]:
    """Up to ``limit`` profile ids (smallest first) currently in both audiences."""
    table = connection.ops.quote_name(MembershipSpan._meta.db_table)
    sql = (
        f"SELECT a.profile_id FROM {table} a JOIN {table} b ON b.profile_id = a.profile_id "
        f"WHERE a.audience_id = %s AND b.audience_id = %s AND a.exited_at IS NULL AND b.exited_at IS NULL "
        f"ORDER BY a.profile_id LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [audience_id, other_id, limit])
        return [int(row[0]) for row in cursor.fetchall()]


def jaccard(*, size_a: int, size_b: int, overlap: int) -> float:
    """Shared members over members of either (intersection over union).

    0 when both are empty: two empty audiences are not "the same people".
    """
    union = size_a + size_b - overlap
    return overlap / union if union else 0.0


# --- Near-duplicates -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NearDuplicate:
    """Two live audiences that select the same definition or nearly the same people."""

    first: Audience
    second: Audience
    same_definition: bool
    size_first: int
    size_second: int
    overlap: int
    jaccard: float

    @property
    def why(self) -> str:
        parts = []
        if self.same_definition:
            parts.append("same definition")
        if self.overlap:
            parts.append(f"{self.jaccard:.0%} membership overlap")
        return ", ".join(parts)


def _live_audiences() -> list[Audience]:
    return list(Audience.objects.filter(status=AudienceStatus.LIVE).select_related("owner").order_by("slug"))


def _fingerprints(audiences: Iterable[Audience]) -> dict[int, str]:
    """audience id -> normalised definition of the version destinations receive (the latest without one)."""
    result: dict[int, str] = {}
    audiences = list(audiences)
    # Only audiences without a live version fall back to their latest version, so only theirs are read.
    missing = [audience for audience in audiences if audience.live_version_id is None]
    latest: dict[int, AudienceVersion] = {}
    if missing:
        for version in (
            AudienceVersion.objects.filter(audience__in=missing)
            .select_related("audience")
            .order_by("audience_id", "number")
        ):
            latest[version.audience_id] = version
    by_pk = {version.pk: version for version in latest.values()}
    live_ids = [audience.live_version_id for audience in audiences if audience.live_version_id is not None]
    by_pk.update({v.pk: v for v in AudienceVersion.objects.filter(pk__in=live_ids).select_related("audience")})
    for audience in audiences:
        version = by_pk.get(audience.live_version_id) if audience.live_version_id else latest.get(audience.pk)
        if version is not None:
            result[audience.pk] = definition_fingerprint(definition_from_version(version))
    return result


def near_duplicate_pairs(*, threshold: float | None = None) -> list[NearDuplicate]:
    """Pairs of live audiences with equal normalised definitions or membership Jaccard >= ``threshold``.

    Highest overlap first. ``threshold`` defaults to the ``NEAR_DUPLICATE_JACCARD`` setting.
    """
    threshold = near_duplicate_threshold() if threshold is None else threshold
    audiences = _live_audiences()
    by_id = {audience.pk: audience for audience in audiences}
    ids = list(by_id)
    sizes = open_span_sizes(audience_ids=ids)
    overlaps = open_span_overlaps(audience_ids=ids)
    fingerprints = _fingerprints(audiences)
    same_definition: set[tuple[int, int]] = set()
    groups: dict[str, list[int]] = defaultdict(list)
    for audience_id, fingerprint in fingerprints.items():
        groups[fingerprint].append(audience_id)
    for members in groups.values():
        members.sort()
        same_definition.update((a, b) for i, a in enumerate(members) for b in members[i + 1 :])
    pairs = []
    for a, b in sorted(same_definition | set(overlaps)):
        overlap = overlaps.get((a, b), 0)
        index = jaccard(size_a=sizes.get(a, 0), size_b=sizes.get(b, 0), overlap=overlap)
        if (a, b) in same_definition or index >= threshold:
            pairs.append(
                NearDuplicate(
                    first=by_id[a],
                    second=by_id[b],
                    same_definition=(a, b) in same_definition,
                    size_first=sizes.get(a, 0),
                    size_second=sizes.get(b, 0),
                    overlap=overlap,
                    jaccard=index,
                )
            )
    pairs.sort(key=lambda pair: (-pair.jaccard, not pair.same_definition, pair.first.slug, pair.second.slug))
    return pairs


def near_duplicate_warnings(
    *, name: str, definition: Definition | Mapping[str, Any] | None, exclude_slug: str | None = None
) -> list[str]:
    """Warnings (never a block) when ``name`` or ``definition`` nearly repeats an existing live audience.

    Called by the builder before saving and shown on the audience page. A name counts as nearly identical
    when ``difflib.SequenceMatcher`` gives a ratio >= 0.9 case-insensitively; a definition when its
    normalised form equals the live audience's. ``exclude_slug`` is the audience being edited, which must
    not be reported as its own duplicate.
    """
    wanted = definition_fingerprint(definition) if definition is not None else None
    lowered = (name or "").strip().casefold()
    audiences = [audience for audience in _live_audiences() if audience.slug != exclude_slug]
    fingerprints = _fingerprints(audiences) if wanted is not None else {}
    warnings = []
    for audience in audiences:
        other = audience.name.strip().casefold()
        if lowered and difflib.SequenceMatcher(None, lowered, other).ratio() >= NAME_SIMILARITY:
            warnings.append(
                f'The name is nearly identical to the live audience "{audience.name}" ({audience.slug}): '
                "check that you are not building it twice."
            )
        if wanted is not None and fingerprints.get(audience.pk) == wanted:
            warnings.append(
                f'The definition selects exactly what the live audience "{audience.name}" ({audience.slug}) '
                "selects: consider reusing it instead."
            )
    return warnings


def audience_near_duplicate_warnings(*, audience: Audience) -> list[str]:
    """:func:`near_duplicate_warnings` for an existing audience, using the version it is evaluated with."""
    try:
        version = selectors.audience_evaluated_version(audience=audience)
    except AudienceVersion.DoesNotExist:
        version = None
    definition = definition_from_version(version) if version is not None else None
    return near_duplicate_warnings(name=audience.name, definition=definition, exclude_slug=audience.slug)


# --- Retirement queue ------------------------------------------------------------------------------------------


@dataclass
class RetirementCandidate:
    """An audience in the retirement queue and every reason it is there."""

    audience: Audience
    reasons: list[tuple[str, str]] = field(default_factory=list)

    @property
    def codes(self) -> list[str]:
        return [code for code, _text in self.reasons]

    @property
    def texts(self) -> list[str]:
        return [text for _code, text in self.reasons]


def last_synced_at(*, audience_ids: Sequence[int]) -> dict[int, dt.datetime]:
    """audience id -> when a (non dry-run) sync of it last succeeded, for audiences that ever synced.

    The syncs app may not be installed: then no audience has ever been synced.
    """
    try:
        sync_run = apps.get_model("syncs", "SyncRun")
    except LookupError:
        return {}
    rows = (
        sync_run.objects.filter(
            sync__audience_id__in=list(audience_ids),
            state="succeeded",
            dry_run=False,
            finished_at__isnull=False,
        )
        .order_by()
        .values("sync__audience_id")
        .annotate(last=Max("finished_at"))
        .values_list("sync__audience_id", "last")
    )
    return dict(rows)


def _went_live_at(*, audience_ids: Sequence[int]) -> dict[int, dt.datetime]:
    """audience id -> when its current live version was launched, where a review recorded it."""
    rows = (
        VersionReview.objects.filter(version__audience_id__in=list(audience_ids), launched_at__isnull=False)
        .order_by()
        .values("version__audience_id")
        .annotate(last=Max("launched_at"))
        .values_list("version__audience_id", "last")
    )
    return dict(rows)


def retirement_queue(
    *, now: dt.datetime | None = None, pairs: Sequence[NearDuplicate] | None = None
) -> list[RetirementCandidate]:
    """Audiences (not retired) that should be reviewed or retired, each with its reasons; oldest retire_on first.

    - past ``retire_on``;
    - live, and neither synced successfully nor launched in the last ``HYGIENE_UNSYNCED_DAYS`` days (an
      audience launched yesterday has not yet had the chance to be unsynced for 30 days);
    - owner's account deactivated;
    - live near-duplicate of another live audience (``pairs``: the result of :func:`near_duplicate_pairs`
      when the caller already has it).
    """
    now = now or timezone.now()
    today = timezone.localdate(now)
    days = unsynced_days()
    cutoff = now - dt.timedelta(days=days)
    candidates: dict[int, RetirementCandidate] = {}

    def add(audience: Audience, code: str, text: str) -> None:
        candidates.setdefault(audience.pk, RetirementCandidate(audience=audience)).reasons.append((code, text))

    open_audiences = Audience.objects.exclude(status=AudienceStatus.RETIRED).select_related("owner")
    for audience in open_audiences.filter(retire_on__lt=today).order_by("retire_on", "slug"):
        overdue = (today - audience.retire_on).days
        add(audience, PAST_RETIRE_ON, f"retire on {audience.retire_on:%Y-%m-%d} passed {overdue} day(s) ago")

    live = list(open_audiences.filter(status=AudienceStatus.LIVE).order_by("slug"))
    live_ids = [audience.pk for audience in live]
    synced = last_synced_at(audience_ids=live_ids)
    launched = _went_live_at(audience_ids=live_ids)
    for audience in live:
        last_sync = synced.get(audience.pk)
        since = max(filter(None, [last_sync, launched.get(audience.pk), audience.created_at]))
        if since < cutoff:
            if last_sync is None:
                text = f"live and never synced to any destination (live for more than {days} days)"
            else:
                text = f"live but not synced anywhere since {last_sync:%Y-%m-%d} (more than {days} days)"
            add(audience, NOT_SYNCED, text)

    for audience in open_audiences.filter(owner__is_active=False).order_by("slug"):
        add(audience, OWNER_INACTIVE, f"owner {audience.owner.get_username()} is deactivated")

    for pair in near_duplicate_pairs() if pairs is None else pairs:
        add(pair.first, NEAR_DUPLICATE, f"near-duplicate of {pair.second.slug} ({pair.why})")
        add(pair.second, NEAR_DUPLICATE, f"near-duplicate of {pair.first.slug} ({pair.why})")

    order = list(REASON_LABELS)
    for candidate in candidates.values():
        candidate.reasons.sort(key=lambda reason: order.index(reason[0]))
    return sorted(candidates.values(), key=lambda c: (c.audience.retire_on, c.audience.slug))


@transaction.atomic
def audience_extend_retirement(
    *, actor: AbstractBaseUser | None, audience: Audience, retire_on: dt.date, reason: str
) -> Audience:
    """Move ``retire_on`` to a later date, with the reason the audience is still needed (audited).

    Extending is the alternative to retiring from the queue: the new date must be in the future so the
    audience leaves the "past retire_on" list for a real period, and the reason is what the next reviewer
    reads in the audit log.
    """
    ensure_permission(actor, RETIRE_PERMISSION)
    reason = (reason or "").strip()
    errors: dict[str, str] = {}
    if not reason:
        errors["reason"] = "Say why the audience is still needed."
    if retire_on <= timezone.localdate():
        errors["retire_on"] = "The new retirement date must be in the future."
    locked = Audience.objects.select_for_update().get(pk=audience.pk)
    if locked.status == AudienceStatus.RETIRED:
        errors["__all__"] = f"{locked.slug} is retired; its retirement date can no longer change."
    if errors:
        raise ValidationError(errors)
    before = model_snapshot(locked, ["retire_on"])
    locked.retire_on = retire_on
    locked.updated_at = timezone.now()
    locked.save(update_fields=["retire_on", "updated_at"])
    audit_record(
        actor=actor,
        action=EXTEND_ACTION,
        obj=locked,
        before=before,
        after=model_snapshot(locked, ["retire_on"]),
        reason=reason,
    )
    audience.retire_on = locked.retire_on
    audience.updated_at = locked.updated_at
    return locked


# --- Daily flagging and owner notification --------------------------------------------------------------------


@dataclass
class NotificationResult:
    """What one run of the daily flagging did."""

    flagged: list[str] = field(default_factory=list)
    already_flagged: list[str] = field(default_factory=list)
    emailed: list[str] = field(default_factory=list)
    not_emailed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[str]]:
        return {
            "flagged": self.flagged,
            "already_flagged": self.already_flagged,
            "emailed": self.emailed,
            "not_emailed": self.not_emailed,
        }


def _flagged_today(*, audience_ids: Sequence[int], today: dt.date) -> set[int]:
    rows = AuditEvent.objects.filter(
        action=FLAG_ACTION,
        object_content_type__app_label="audiences",
        object_content_type__model="audience",
        object_id__in=[str(pk) for pk in audience_ids],
        after__flagged_on=today.isoformat(),
    ).values_list("object_id", flat=True)
    return {int(pk) for pk in rows}


def retirement_notify_owners(*, now: dt.datetime | None = None) -> NotificationResult:
    """Flag today's retirement candidates and email each owner one list of their audiences; idempotent per day.

    An audience is flagged at most once per day: the flag is an audit event (``audience.retirement_flagged``
    with the day and the reasons), so a second run the same day finds nothing new and sends nothing. Each
    owner's flags and email are one transaction: if the email cannot be sent the flags roll back and the next
    run tries again. Owners who are deactivated or have no email address are flagged but not emailed (the
    queue shows their audiences to admins).
    """
    now = now or timezone.now()
    today = timezone.localdate(now)
    result = NotificationResult()
    queue = retirement_queue(now=now)
    done = _flagged_today(audience_ids=[c.audience.pk for c in queue], today=today)
    by_owner: dict[int, list[RetirementCandidate]] = defaultdict(list)
    for candidate in queue:
        if candidate.audience.pk in done:
            result.already_flagged.append(candidate.audience.slug)
        else:
            by_owner[candidate.audience.owner_id].append(candidate)
    for candidates in by_owner.values():
        owner = candidates[0].audience.owner
        with transaction.atomic():
            for candidate in candidates:
                audit_record(
                    actor=None,
                    action=FLAG_ACTION,
                    obj=candidate.audience,
                    after={"flagged_on": today.isoformat(), "reasons": candidate.codes},
                    reason="; ".join(candidate.texts),
                )
            slugs = [candidate.audience.slug for candidate in candidates]
            if owner.is_active and owner.email:
                send_mail(
                    subject=f"Audience Ops: {len(candidates)} of your audiences need a decision",
                    message=_owner_email_body(owner=owner, candidates=candidates),
                    from_email=settings.DEFAULT_FROM_EMAIL,
                    recipient_list=[owner.email],
                )
                result.emailed.append(owner.get_username())
            else:
                result.not_emailed.append(owner.get_username())
            result.flagged.extend(slugs)
    return result


def _owner_email_body(*, owner: AbstractBaseUser, candidates: Sequence[RetirementCandidate]) -> str:
    lines = [
        f"Hello {owner.get_username()},",
        "",
        "These audiences you own are in the retirement queue. Extend their retirement date with a reason,",
        "or ask an admin to retire them:",
        "",
    ]
    for candidate in candidates:
        audience = candidate.audience
        lines.append(f"- {audience.name} ({audience.slug}), {reverse('audiences:detail', args=[audience.slug])}")
        lines.extend(f"    {text}" for text in candidate.texts)
    lines += ["", f"The queue: {reverse('audiences:hygiene:queue')}", ""]
    return "\n".join(lines)


# --- Overlap matrix and collisions -----------------------------------------------------------------------------


@dataclass(frozen=True)
class OverlapCell:
    column: Audience
    count: int
    percent: float | None  # of the row audience's members; None when the row is empty


@dataclass(frozen=True)
class OverlapRow:
    audience: Audience
    size: int
    cells: list[OverlapCell]


def overlap_matrix() -> list[OverlapRow]:
    """Live targeting audiences against each other: shared members and their share of the row audience.

    The diagonal is the audience itself (its size, 100%). Read along a row: "of the people in this audience,
    how many are also in that one".
    """
    audiences = list(
        Audience.objects.filter(status=AudienceStatus.LIVE, kind=AudienceKind.TARGETING).order_by("name", "slug")
    )
    ids = [audience.pk for audience in audiences]
    sizes = open_span_sizes(audience_ids=ids)
    overlaps = open_span_overlaps(audience_ids=ids, both_directions=True)
    rows = []
    for row in audiences:
        size = sizes.get(row.pk, 0)
        cells = []
        for column in audiences:
            count = size if column.pk == row.pk else overlaps.get((row.pk, column.pk), 0)
            cells.append(OverlapCell(column=column, count=count, percent=(100.0 * count / size) if size else None))
        rows.append(OverlapRow(audience=row, size=size, cells=cells))
    return rows


@dataclass(frozen=True)
class OfferCollision:
    """People in a discount audience and a full-price audience at the same time."""

    discount: Audience
    full_price: Audience
    count: int
    sample_profile_ids: list[int]


def offer_collisions(*, sample_size: int = COLLISION_SAMPLE_SIZE) -> list[OfferCollision]:
    """Every (discount, full_price) pair of live audiences sharing members, largest first, with samples."""
    audiences = list(
        Audience.objects.filter(
            status=AudienceStatus.LIVE, offer__in=[AudienceOffer.DISCOUNT, AudienceOffer.FULL_PRICE]
        ).order_by("slug")
    )
    by_id = {audience.pk: audience for audience in audiences}
    overlaps = open_span_overlaps(audience_ids=list(by_id), both_directions=True)
    collisions = []
    for (a, b), count in overlaps.items():
        if by_id[a].offer == AudienceOffer.DISCOUNT and by_id[b].offer == AudienceOffer.FULL_PRICE:
            collisions.append(
                OfferCollision(
                    discount=by_id[a],
                    full_price=by_id[b],
                    count=count,
                    sample_profile_ids=open_span_shared_profiles(audience_id=a, other_id=b, limit=sample_size),
                )
            )
    collisions.sort(key=lambda c: (-c.count, c.discount.slug, c.full_price.slug))
    return collisions


@dataclass(frozen=True)
class SuppressionCheck:
    """Targeting audience ∩ its own paired suppression, which must be empty by construction."""

    audience: Audience
    suppression_slug: str
    suppression: Audience | None
    count: int
    sample_profile_ids: list[int]

    @property
    def ok(self) -> bool:
        return self.count == 0


def paired_suppression_checks(*, sample_size: int = COLLISION_SAMPLE_SIZE) -> list[SuppressionCheck]:
    """One check per live targeting audience that names a paired suppression (in its evaluated version).

    The engine removes the suppression's members when it evaluates the targeting audience, so the count is
    zero unless the two were evaluated at different times and someone moved in between, or something is
    wrong: either way it is worth a look.
    """
    audiences = list(
        Audience.objects.filter(status=AudienceStatus.LIVE, kind=AudienceKind.TARGETING).order_by("name", "slug")
    )
    versions = {}
    live_ids = [audience.live_version_id for audience in audiences if audience.live_version_id]
    versions.update({v.audience_id: v for v in AudienceVersion.objects.filter(pk__in=live_ids)})
    for audience in audiences:
        if audience.pk not in versions:
            latest = audience.versions.order_by("-number").first()
            if latest is not None:
                versions[audience.pk] = latest
    slugs = {v.paired_suppression for v in versions.values() if v.paired_suppression}
    suppressions = {a.slug: a for a in Audience.objects.filter(slug__in=slugs)}
    checks = []
    for audience in audiences:
        version = versions.get(audience.pk)
        if version is None or not version.paired_suppression:
            continue
        suppression = suppressions.get(version.paired_suppression)
        count, sample = 0, []
        if suppression is not None:
            count = _pair_count(audience.pk, suppression.pk)
            sample = open_span_shared_profiles(audience_id=audience.pk, other_id=suppression.pk, limit=sample_size)
        checks.append(
            SuppressionCheck(
                audience=audience,
                suppression_slug=version.paired_suppression,
                suppression=suppression,
                count=count,
                sample_profile_ids=sample,
            )
        )
    return checks


def _pair_count(audience_id: int, other_id: int) -> int:
    table = connection.ops.quote_name(MembershipSpan._meta.db_table)
    sql = (
        f"SELECT COUNT(*) FROM {table} a JOIN {table} b ON b.profile_id = a.profile_id "
        f"WHERE a.audience_id = %s AND b.audience_id = %s AND a.exited_at IS NULL AND b.exited_at IS NULL"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [audience_id, other_id])
        return int(cursor.fetchone()[0])
