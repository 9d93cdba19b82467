"""Read-side queries over audiences: lookups, the version evaluation uses, lists and membership history."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Count, OuterRef, QuerySet, Subquery

from .definitions import Definition, definition_from_version
from .engine.compiler import CompileError, Resolver
from .models import Audience, AudienceSnapshot, AudienceVersion, MembershipSpan


def audience_get(*, slug: str) -> Audience:
    """The audience with ``slug``; raises ``Audience.DoesNotExist``."""
    return Audience.objects.select_related("owner", "live_version").get(slug=slug)


def audience_latest_version(*, audience: Audience) -> AudienceVersion | None:
    """The newest version (what import and the builder last wrote)."""
    return audience.versions.select_related("audience").order_by("-number").first()


def audience_evaluated_version(*, audience: Audience) -> AudienceVersion:
    """The version evaluations use: the live version when there is one, otherwise the latest.

    Raises ``AudienceVersion.DoesNotExist`` for an audience without versions.
    """
    if audience.live_version_id is not None:
        return AudienceVersion.objects.select_related("audience").get(pk=audience.live_version_id)
    version = audience_latest_version(audience=audience)
    if version is None:
        raise AudienceVersion.DoesNotExist(f"audience {audience.slug} has no version")
    return version


def audience_version_get(*, audience: Audience, number: int) -> AudienceVersion:
    """Version ``number`` of ``audience``; raises ``AudienceVersion.DoesNotExist``."""
    return AudienceVersion.objects.select_related("audience").get(audience=audience, number=number)


def audience_definition_resolver() -> Resolver:
    """A resolver for the compiler: slug -> definition of the live version, else the latest (cached per call)."""
    cache: dict[str, Definition] = {}

    def resolve(slug: str) -> Definition:
        if slug not in cache:
            audience = Audience.objects.filter(slug=slug).first()
            if audience is None:
                raise CompileError(f'unknown audience "{slug}"')
            try:
                version = audience_evaluated_version(audience=audience)
            except AudienceVersion.DoesNotExist as exc:
                raise CompileError(f'audience "{slug}" has no version') from exc
            cache[slug] = definition_from_version(version)
        return cache[slug]

    return resolve


def audience_names(*, slugs: Iterable[str]) -> dict[str, str]:
    """slug -> name for the given slugs (unknown slugs are left out)."""
    return dict(Audience.objects.filter(slug__in=list(slugs)).values_list("slug", "name"))


def audience_list() -> QuerySet[Audience]:
    """All audiences with ``version_count`` and ``last_size`` (None before the first evaluation)."""
    last_snapshot = AudienceSnapshot.objects.filter(audience=OuterRef("pk")).order_by("-evaluated_at", "-id")
    return (
        Audience.objects.select_related("owner", "live_version")
        .annotate(version_count=Count("versions", distinct=True))
        .annotate(last_size=Subquery(last_snapshot.values("size")[:1]))
        .order_by("slug")
    )


def audience_last_snapshot(*, audience: Audience) -> AudienceSnapshot | None:
    return audience.snapshots.order_by("-evaluated_at", "-id").first()


def audience_current_member_ids(*, audience: Audience) -> QuerySet[MembershipSpan]:
    """Profile ids of the current members as of the last evaluation (open membership spans)."""
    return MembershipSpan.objects.filter(audience=audience, exited_at__isnull=True).values_list("profile_id", flat=True)


def audience_membership_history(*, audience: Audience) -> QuerySet[MembershipSpan]:
    """Every entry and exit, newest first: the journey state warehouse and analytics destinations receive."""
    return MembershipSpan.objects.filter(audience=audience).select_related("profile").order_by("-entered_at", "-id")
