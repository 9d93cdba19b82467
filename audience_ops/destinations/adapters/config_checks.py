"""Config checks several adapters share: each returns the cleaned value and records what is wrong under its
config path, so one ``ConfigError`` names every bad key at once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import phonenumbers
from django.conf import settings


def unknown_keys(config: Mapping[str, Any], known: Sequence[str], errors: dict[str, str]) -> None:
    """Refuse keys the adapter does not know (a typo would otherwise be silently ignored)."""
    for key in config:
        if key not in known:
            errors[f"config.{key}"] = f"unknown key (known: {', '.join(known)})"


def http_url(config: Mapping[str, Any], key: str, default: str, errors: dict[str, str]) -> str:
    """An http(s) URL without a trailing slash; ``default`` when the key is missing or blank."""
    value = config.get(key) or default
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        errors[f"config.{key}"] = f"{value!r} is not an http(s) URL"
        return default
    return value.rstrip("/")


def required_text(config: Mapping[str, Any], key: str, hint: str, errors: dict[str, str]) -> str:
    """A non-blank string (numbers are accepted and turned into text: ids are often typed as numbers)."""
    value = config.get(key)
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
        errors[f"config.{key}"] = f"required ({hint})"
        return ""
    return str(value).strip()


def digits_id(config: Mapping[str, Any], key: str, hint: str, errors: dict[str, str]) -> str:
    """A required numeric id; dashes are dropped (Google shows customer ids as 123-456-7890)."""
    value = required_text(config, key, hint, errors)
    if value:
        cleaned = value.replace("-", "")
        if not cleaned.isdigit():
            errors[f"config.{key}"] = f'"{value}" is not a numeric id ({hint})'
        return cleaned
    return value


def identifier_list(
    config: Mapping[str, Any], allowed: Sequence[str], default: Sequence[str], errors: dict[str, str]
) -> list[str]:
    """The mapped identifier types, in ``allowed`` order; each bad entry is named by its index."""
    identifiers = config.get("identifiers", list(default))
    if not isinstance(identifiers, list) or not identifiers:
        errors["config.identifiers"] = f"a non-empty list drawn from {', '.join(allowed)}"
        return []
    for index, identifier in enumerate(identifiers):
        if identifier not in allowed:
            shown = f'"{identifier}"' if isinstance(identifier, str) else repr(identifier)
            errors[f"config.identifiers[{index}]"] = f"{shown} is not one of {', '.join(allowed)}"
        elif identifiers.index(identifier) != index:
            errors[f"config.identifiers[{index}]"] = f'"{identifier}" is listed twice'
    return [identifier for identifier in allowed if identifier in identifiers]


def phone_region(config: Mapping[str, Any], errors: dict[str, str]) -> str:
    """The region national phone numbers are read in (``DEFAULT_PHONE_REGION`` when missing)."""
    value = config.get("phone_region") or getattr(settings, "DEFAULT_PHONE_REGION", "US")
    if not isinstance(value, str) or value.upper() not in phonenumbers.SUPPORTED_REGIONS:
        errors["config.phone_region"] = f"{value!r} is not a region code such as US or GB"
        return "US"
    return value.upper()


def boolean(config: Mapping[str, Any], key: str, default: bool, errors: dict[str, str]) -> bool:
    """A JSON boolean (``"false"`` as text would be truthy, so only real booleans are accepted)."""
    value = config.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        errors[f"config.{key}"] = f"{value!r} is not true or false"
        return default
    return value
