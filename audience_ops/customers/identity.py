"""Identity resolution and merge: which profile a message belongs to, and what it changes.

The rules (``docs`` and the "Identity" section of the audience-definition spec):

- ``userId`` is a profile's ``external_id``; a message with a ``userId`` belongs to that profile, created
  on first sight.
- A message with only an ``anonymousId`` belongs to the profile its :class:`AnonymousId` row points at; on
  first sight an anonymous profile (``external_id`` NULL) and the row are created.
- A message with both links them. With K the ``userId``'s profile and A the ``anonymousId``'s row:
  no row: one is created pointing at K; a row pointing at an anonymous profile P: P is *merged* into K
  (events, identify calls and all of P's anonymous ids move to K, K's traits win, P is deleted); a row
  pointing at another known profile: the row is re-pointed to K (the newest link wins, stored events stay
  where they are).
- ``alias`` (``previousId`` -> ``userId``) is the same as a message carrying ``userId`` with
  ``anonymousId = previousId``: Segment's alias says "these two ids are one person", and an anonymous id is
  the only second identity Audience Ops models.
- Identify traits apply in the order messages are received: ``email`` and ``phone`` to their columns,
  everything else into ``traits``; a trait sent as null is stored as null.

:class:`IdentityGraph` applies these rules in memory to the profiles and anonymous ids one chunk of
messages touches (preloaded by ``ingestion``), so a chunk of thousands of messages costs a few queries.
:func:`profiles_merge_stored` then applies the merges of stored profiles with a few UPDATE statements.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Case, Value, When

from .messages import TrackingMessage
from .models import AnonymousId, Event, IdentifyCall, Profile


class ProfileNode:
    """A profile as the graph sees it: the model instance plus whether it is new, changed or merged away."""

    __slots__ = ("changed", "is_new", "merged_into", "profile")

    def __init__(self, profile: Profile, *, is_new: bool) -> None:
        self.profile = profile
        self.is_new = is_new
        self.changed = False
        self.merged_into: ProfileNode | None = None

    def current(self) -> ProfileNode:
        """The live profile this one ended up in (itself unless it was merged; merges are one level deep)."""
        return self.merged_into or self

    @property
    def is_anonymous(self) -> bool:
        return self.profile.external_id is None


class AnonymousIdNode:
    """An anonymous id row: stored (``pk`` set) or new, and the profile node it points at."""

    __slots__ = ("anonymous_id", "pk", "profile", "repointed")

    def __init__(self, anonymous_id: str, profile: ProfileNode, *, pk: int | None = None) -> None:
        self.anonymous_id = anonymous_id
        self.profile = profile
        self.pk = pk
        self.repointed = False


@dataclass
class IngestCounts:
    """What an ingestion did; the same whatever the chunk size."""

    profiles_created: int = 0
    profiles_merged: int = 0
    events_stored: int = 0
    identifies_stored: int = 0
    duplicates_skipped: int = 0

    def __add__(self, other: IngestCounts) -> IngestCounts:
        return IngestCounts(
            profiles_created=self.profiles_created + other.profiles_created,
            profiles_merged=self.profiles_merged + other.profiles_merged,
            events_stored=self.events_stored + other.events_stored,
            identifies_stored=self.identifies_stored + other.identifies_stored,
            duplicates_skipped=self.duplicates_skipped + other.duplicates_skipped,
        )


class IdentityGraph:
    """The profiles and anonymous ids of one chunk of messages, resolved in memory in message order.

    Load the stored rows the chunk refers to (:meth:`add_stored_profile`, :meth:`add_stored_anonymous_id`),
    then call :meth:`resolve` and :meth:`apply_traits` for each message in order. Afterwards the graph
    lists what to write: ``new_profiles``, ``stored_merges``, ``changed_stored_profiles``,
    ``new_anonymous_ids`` and ``repointed_anonymous_ids``.
    """

    def __init__(self, *, now: datetime) -> None:
        self.now = now
        self.counts = IngestCounts()
        self._by_pk: dict[int, ProfileNode] = {}
        self._by_external_id: dict[str, ProfileNode] = {}
        self._by_anonymous_id: dict[str, AnonymousIdNode] = {}
        self._new_profiles: list[ProfileNode] = []
        self._new_anonymous_ids: list[AnonymousIdNode] = []
        self.stored_merges: list[tuple[ProfileNode, ProfileNode]] = []

    # Loading -------------------------------------------------------------------------------------------

    def add_stored_profile(self, profile: Profile) -> ProfileNode:
        node = self._by_pk.get(profile.pk)
        if node is None:
            node = ProfileNode(profile, is_new=False)
            self._by_pk[profile.pk] = node
            if profile.external_id is not None:
                self._by_external_id[profile.external_id] = node
        return node

    def add_stored_anonymous_id(self, row: AnonymousId) -> None:
        """Register a stored row; its profile must be loaded first (``select_related`` does both)."""
        node = self.add_stored_profile(row.profile)
        self._by_anonymous_id[row.anonymous_id] = AnonymousIdNode(row.anonymous_id, node, pk=row.pk)

    # Resolution ----------------------------------------------------------------------------------------

    def resolve(self, message: TrackingMessage) -> ProfileNode:
        """The profile ``message`` belongs to, creating, linking and merging as the identity rules say."""
        if message.user_id is None:
            assert message.anonymous_id is not None, "validated messages carry userId or anonymousId"
            row = self._by_anonymous_id.get(message.anonymous_id)
            if row is not None:
                return row.profile.current()
            node = self._profile_create(external_id=None)
            self._anonymous_id_create(message.anonymous_id, node)
            return node

        known = self._by_external_id.get(message.user_id)
        if known is None:
            known = self._profile_create(external_id=message.user_id)
        for anonymous_id in message.linked_anonymous_ids:
            row = self._by_anonymous_id.get(anonymous_id)
            if row is None:
                self._anonymous_id_create(anonymous_id, known)
                continue
            owner = row.profile.current()
            if owner is known:
                continue
            if owner.is_anonymous:
                self._merge(source=owner, target=known)
            else:
                # Another known profile: the newest link wins; what it already stored stays there.
                row.profile = known
                row.repointed = True
        return known

    def apply_traits(self, node: ProfileNode, traits: dict[str, Any]) -> None:
        """Apply identify traits in arrival order: email and phone to their columns, the rest to ``traits``."""
        if not traits:
            return
        profile = node.profile
        for key, value in traits.items():
            if key == "email":
                profile.email = value
            elif key == "phone":
                profile.phone = value
            else:
                profile.traits[key] = value
        profile.updated_at = self.now
        node.changed = True

    def _profile_create(self, *, external_id: str | None) -> ProfileNode:
        profile = Profile(external_id=external_id, traits={}, created_at=self.now, updated_at=self.now)
        node = ProfileNode(profile, is_new=True)
        self._new_profiles.append(node)
        if external_id is not None:
            self._by_external_id[external_id] = node
        self.counts.profiles_created += 1
        return node

    def _anonymous_id_create(self, anonymous_id: str, node: ProfileNode) -> None:
        row = AnonymousIdNode(anonymous_id, node)
        self._by_anonymous_id[anonymous_id] = row
        self._new_anonymous_ids.append(row)

    def _merge(self, *, source: ProfileNode, target: ProfileNode) -> None:
        """Merge anonymous ``source`` into known ``target``: the target's traits and identifiers win."""
        kept, absorbed = target.profile, source.profile
        kept.traits = {**absorbed.traits, **kept.traits}
        if kept.email is None:
            kept.email = absorbed.email
        if kept.phone is None:
            kept.phone = absorbed.phone
        kept.updated_at = self.now
        target.changed = True
        source.merged_into = target
        if not source.is_new:
            self.stored_merges.append((source, target))
        self.counts.profiles_merged += 1

    # What to write -------------------------------------------------------------------------------------

    @property
    def new_profiles(self) -> list[Profile]:
        """Profiles created by this chunk and not merged away within it."""
        return [node.profile for node in self._new_profiles if node.merged_into is None]

    @property
    def changed_stored_profiles(self) -> list[Profile]:
        return [node.profile for node in self._by_pk.values() if node.changed and node.merged_into is None]

    @property
    def new_anonymous_ids(self) -> list[AnonymousId]:
        """New rows, pointing at their final profile (which must have been saved by now)."""
        return [
            AnonymousId(anonymous_id=row.anonymous_id, profile_id=row.profile.current().profile.pk, linked_at=self.now)
            for row in self._new_anonymous_ids
        ]

    @property
    def repointed_anonymous_ids(self) -> list[AnonymousId]:
        """Stored rows re-pointed to another known profile (after any merge moved them)."""
        return [
            AnonymousId(
                pk=row.pk,
                anonymous_id=row.anonymous_id,
                profile_id=row.profile.current().profile.pk,
                linked_at=self.now,
            )
            for row in self._by_anonymous_id.values()
            if row.pk is not None and row.repointed
        ]


def profiles_merge_stored(*, merges: Iterable[tuple[int, int]], now: datetime, batch_size: int = 200) -> None:
    """Move everything of stored anonymous profiles into their targets, then delete them.

    ``merges`` are ``(source_pk, target_pk)`` pairs whose traits were already merged in memory. Events,
    identify calls and anonymous ids (``linked_at = now``) move with one UPDATE per table per batch; the
    sources are deleted through the ORM so other apps' ``on_delete`` rules apply to what points at them.
    """
    pairs = list(merges)
    for start in range(0, len(pairs), batch_size):
        batch = dict(pairs[start : start + batch_size])
        sources = list(batch)
        for model in (Event, IdentifyCall, AnonymousId):
            extra = {"linked_at": now} if model is AnonymousId else {}
            model.objects.filter(profile_id__in=sources).update(profile_id=_mapped("profile_id", batch), **extra)
        Profile.objects.filter(pk__in=sources).delete()


def _mapped(field: str, mapping: dict[int, int]) -> Case | Value:
    """An expression mapping ``field``'s value through ``mapping`` (a plain value when there is one target)."""
    targets = set(mapping.values())
    if len(targets) == 1:
        return Value(targets.pop())
    by_target: dict[int, list[int]] = defaultdict(list)
    for source, target in mapping.items():
        by_target[target].append(source)
    return Case(*(When(**{f"{field}__in": sources}, then=Value(target)) for target, sources in by_target.items()))
