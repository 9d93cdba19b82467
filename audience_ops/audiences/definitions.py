"""The v1 definition format in memory: load it from JSON or a version row, dump it back, normalise it.

Files, the builder and the database all hold the same structure (``docs/audience-definitions.md``). This module
turns that structure into a :class:`Definition` the engine compiles, and turns audiences back into the exact
JSON that ``audiences export`` writes, so that export -> import -> export is byte-identical: keys come out in
one fixed order whatever order they were stored in (PostgreSQL's jsonb reorders object keys).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models import Audience, AudienceVersion

# The order keys are written in, per object type. Keys not listed keep their relative order at the end
# (validation rejects them, so this only matters for data written before validation ran).
AUDIENCE_KEY_ORDER = (
    "slug",
    "name",
    "kind",
    "objective",
    "owner",
    "purpose",
    "retire_on",
    "paired_suppression",
    "exclude",
    "offer",
    "intent",
    "rule",
    "qa",
)
EVENT_KEY_ORDER = ("event", "where", "count", "within", "last", "first")
ATTRIBUTE_KEY_ORDER = ("attribute", "op", "value")
PROPERTY_KEY_ORDER = ("property", "op", "value")
QA_KEY_ORDER = ("profile", "expect", "note")
DEFINITION_KEYS = ("rule", "exclude", "paired_suppression", "qa")


@dataclass(frozen=True)
class Definition:
    """What an audience selects: the rule tree minus ``exclude`` audiences minus the paired suppression.

    ``slug`` is the audience the definition belongs to, when it belongs to one (used in error messages and to
    catch an audience referring to itself); the engine never needs it.
    """

    rule: dict[str, Any]
    exclude: tuple[str, ...] = ()
    paired_suppression: str | None = None
    qa: tuple[dict[str, Any], ...] = ()
    slug: str | None = None
    name: str | None = field(default=None, compare=False)

    @property
    def removed_slugs(self) -> list[str]:
        """Every audience whose members are removed: the exclusions, then the paired suppression (once)."""
        slugs = list(self.exclude)
        if self.paired_suppression and self.paired_suppression not in slugs:
            slugs.append(self.paired_suppression)
        return slugs

    def referenced_slugs(self) -> set[str]:
        """Every audience this definition depends on (in_audience, exclude, paired suppression)."""
        return set(rule_audience_refs(self.rule)) | set(self.removed_slugs)

    def as_dict(self) -> dict[str, Any]:
        """The definition keys of the v1 format (no audience metadata), in export order."""
        data: dict[str, Any] = {}
        if self.paired_suppression:
            data["paired_suppression"] = self.paired_suppression
        if self.exclude:
            data["exclude"] = list(self.exclude)
        data["rule"] = normalise_rule(self.rule)
        if self.qa:
            data["qa"] = [_ordered(case, QA_KEY_ORDER) for case in self.qa]
        return data

    def fingerprint(self) -> str:
        """A canonical text of the definition: two definitions select the same way iff fingerprints match.

        Compared as JSON text, not Python values, because in Python ``1 == True`` and ``{"v": 1} == {"v": True}``
        while in the definition format they differ.
        """
        return canonical_json(
            {
                "rule": normalise_rule(self.rule),
                "exclude": sorted(self.exclude),
                "paired_suppression": self.paired_suppression,
                "qa": list(self.qa),
            }
        )


def canonical_json(value: Any) -> str:
    """JSON text with sorted keys and no spaces: equal text means equal JSON (``1`` and ``true`` differ)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def definition_from_dict(data: Mapping[str, Any]) -> Definition:
    """A :class:`Definition` from a (validated) v1 audience object or just its definition keys.

    A bare condition node (``{"all": [...]}``, ``{"event": ...}``, ...) is accepted as the rule on its own.
    """
    if "rule" not in data:
        return Definition(rule=dict(data))
    return Definition(
        rule=data["rule"],
        exclude=tuple(sorted(data.get("exclude") or ())),
        paired_suppression=data.get("paired_suppression") or None,
        qa=tuple(data.get("qa") or ()),
        slug=data.get("slug"),
        name=data.get("name"),
    )


def definition_from_version(version: AudienceVersion) -> Definition:
    """The :class:`Definition` stored in a version row."""
    return Definition(
        rule=version.rule,
        exclude=tuple(sorted(version.exclude or ())),
        paired_suppression=version.paired_suppression or None,
        qa=tuple(version.qa or ()),
        slug=version.audience.slug,
        name=version.audience.name,
    )


def audience_to_dict(*, audience: Audience, version: AudienceVersion | None) -> dict[str, Any]:
    """The v1 audience object for ``audience`` with the definition of ``version`` (export order)."""
    data: dict[str, Any] = {
        "slug": audience.slug,
        "name": audience.name,
        "kind": audience.kind,
        "objective": audience.objective,
        "owner": audience.owner.get_username(),
        "purpose": audience.purpose,
        "retire_on": audience.retire_on.isoformat(),
    }
    definition = definition_from_version(version) if version is not None else Definition(rule={"all": []})
    definition_keys = definition.as_dict()
    if "paired_suppression" in definition_keys:
        data["paired_suppression"] = definition_keys["paired_suppression"]
    if "exclude" in definition_keys:
        data["exclude"] = definition_keys["exclude"]
    data["offer"] = audience.offer
    if audience.intent:
        data["intent"] = audience.intent
    data["rule"] = definition_keys["rule"]
    if "qa" in definition_keys:
        data["qa"] = definition_keys["qa"]
    return data


def normalise_rule(node: Any) -> Any:
    """The rule with keys in the fixed export order at every level, and numbers in one spelling.

    Whole floats written in exponent form (``1e18``) become integers: PostgreSQL's jsonb stores them as
    ``1000000000000000000`` anyway, so without this an export would not import as unchanged.
    """
    if isinstance(node, list):
        return [normalise_rule(item) for item in node]
    if isinstance(node, float) and node.is_integer() and abs(node) >= 1e16:
        return int(node)
    if not isinstance(node, Mapping):
        return node
    if "all" in node and isinstance(node["all"], list):
        return {"all": [normalise_rule(child) for child in node["all"]]}
    if "any" in node and isinstance(node["any"], list):
        return {"any": [normalise_rule(child) for child in node["any"]]}
    if "not" in node:
        return {"not": normalise_rule(node["not"])}
    if "event" in node:
        data = _ordered(node, EVENT_KEY_ORDER)
        if isinstance(data.get("where"), list):
            data["where"] = [_ordered(_numbers(item), PROPERTY_KEY_ORDER) for item in data["where"]]
        return data
    if "attribute" in node:
        return _ordered(_numbers(node), ATTRIBUTE_KEY_ORDER)
    return dict(node)


def _numbers(condition: Any) -> Any:
    if isinstance(condition, Mapping) and "value" in condition:
        return {**condition, "value": normalise_rule(condition["value"])}
    return condition


def rule_audience_refs(node: Any) -> list[str]:
    """The slugs named by ``in_audience`` anywhere in the rule, in document order."""
    found: list[str] = []

    def walk(item: Any) -> None:
        if not isinstance(item, Mapping):
            return
        if isinstance(item.get("in_audience"), str):
            found.append(item["in_audience"])
        for key in ("all", "any"):
            if isinstance(item.get(key), list):
                for child in item[key]:
                    walk(child)
        if "not" in item:
            walk(item["not"])

    walk(node)
    return found


def split_payload(data: Any) -> tuple[list[tuple[str, Any]], bool]:
    """The audience objects of a payload with their path prefixes, and whether it was the ``audiences`` form.

    ``{"audiences": [a, b]}`` gives ``[("audiences[0].", a), ("audiences[1].", b)]``; a single object gives
    ``[("", obj)]``. Shape problems are reported by validation, not here.
    """
    if isinstance(data, Sequence) and not isinstance(data, str | bytes):
        return [(f"audiences[{index}].", item) for index, item in enumerate(data)], True
    if isinstance(data, Mapping) and "audiences" in data:
        items = data["audiences"]
        if isinstance(items, Sequence) and not isinstance(items, str | bytes):
            return [(f"audiences[{index}].", item) for index, item in enumerate(items)], True
        return [], True
    return [("", data)], False


def payload_dumps(data: Any) -> str:
    """The text ``audiences export`` writes: two-space indented, UTF-8 as is, with a final newline."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _ordered(data: Any, order: Sequence[str]) -> Any:
    if not isinstance(data, Mapping):
        return data
    result = {key: data[key] for key in order if key in data}
    result.update({key: value for key, value in data.items() if key not in result})
    return result
