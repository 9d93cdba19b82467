"""What each destination kind receives, in words, for the destination page.

The rules themselves live in :mod:`.normalise` and the adapters; this is the summary an admin or an ops
user reads before blaming a platform for a low match rate (docs/destinations.md has the full tables).
"""

from __future__ import annotations

IDENTIFIER_RULES: dict[str, dict[str, str]] = {
    "meta_custom_audience": {
        "email": "trimmed, lowercased, validated; SHA-256 hex",
        "phone": "valid numbers only, E.164 digits without +; SHA-256 hex",
        "external_id": "EXTERN_ID, sent as stored (not hashed)",
    },
    "tiktok_audience": {
        "email": "trimmed, lowercased, validated (dots and +tags removed when the option is on); SHA-256 hex",
        "phone": "valid numbers only, E.164 with +; SHA-256 hex",
    },
    "google_customer_match": {
        "email": "trimmed, lowercased, validated; gmail/googlemail dots and +suffix removed; SHA-256 hex",
        "phone": "valid numbers only, E.164 with +; SHA-256 hex",
    },
    "postgres_warehouse": {
        "email": "normalised; SHA-256 hex unless hash_identifiers is off",
        "phone": "normalised to E.164 with +; SHA-256 hex unless hash_identifiers is off",
        "external_id": "SHA-256 hex unless hash_identifiers is off",
    },
    "segment_analytics": {
        "external_id": "userId of the Audience Entered / Audience Exited events (anonymousId otherwise)",
        "email": "in the event's traits, as stored",
    },
    "webhook": {
        "external_id": "in the signed JSON payload of membership changes",
        "email": "in the payload, as stored",
        "phone": "in the payload, as stored",
    },
}


def identifier_rules(kind: str, identifier_types: tuple[str, ...]) -> list[tuple[str, str]]:
    """(identifier, how it is sent) for the identifiers this destination receives, in their order."""
    rules = IDENTIFIER_RULES.get(kind, {})
    return [(name, rules.get(name, "sent as stored")) for name in identifier_types]
