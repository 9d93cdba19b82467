"""Which adapter class serves which destination kind.

Adding a destination kind means writing an adapter and listing it in ``_ADAPTERS``; models, forms, the
command line and the sync engine find it here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .adapters.base import Adapter
from .adapters.google import GoogleCustomerMatchAdapter
from .adapters.meta import MetaCustomAudienceAdapter
from .adapters.segment import SegmentAnalyticsAdapter
from .adapters.tiktok import TikTokAudienceAdapter
from .adapters.warehouse import PostgresWarehouseAdapter
from .adapters.webhook import WebhookAdapter

if TYPE_CHECKING:
    from .models import Destination

_ADAPTERS: dict[str, type[Adapter]] = {
    MetaCustomAudienceAdapter.kind: MetaCustomAudienceAdapter,
    TikTokAudienceAdapter.kind: TikTokAudienceAdapter,
    GoogleCustomerMatchAdapter.kind: GoogleCustomerMatchAdapter,
    PostgresWarehouseAdapter.kind: PostgresWarehouseAdapter,
    SegmentAnalyticsAdapter.kind: SegmentAnalyticsAdapter,
    WebhookAdapter.kind: WebhookAdapter,
}


def kinds() -> list[tuple[str, str]]:
    """(kind, label) for every destination kind, for choices."""
    return [(kind, cls.label) for kind, cls in _ADAPTERS.items()]


def adapter_class(kind: str) -> type[Adapter]:
    """The adapter class for ``kind``; ``KeyError`` naming the known kinds when there is none."""
    try:
        return _ADAPTERS[kind]
    except KeyError:
        known = ", ".join(sorted(_ADAPTERS))
        raise KeyError(f'"{kind}" is not a destination kind (known: {known})') from None


def adapter_for(destination: Destination) -> Adapter:
    """A fresh adapter for ``destination`` (its config validated, credentials decrypted)."""
    return adapter_class(destination.kind)(destination)
