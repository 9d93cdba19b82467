"""The live preview: size at now, each top-level condition's size, a sample and the plain-English text.

It is computed from whatever the form holds, valid or not: a rule the validator rejects shows its problems
instead of numbers, because a half-built rule has no meaningful size.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from audience_ops.customers.models import Profile

from .. import selectors as audience_selectors
from ..definitions import rule_audience_refs
from ..engine.compiler import CompileError
from ..engine.text import node_text
from ..services import audience_sample, audience_size, definition_to_text, rule_condition_sizes
from ..validation import validate_rule
from .rows import SummaryItem, rule_problems, top_level_addresses
from .tree import Row, row_to_rule

SAMPLE_SIZE = 10


@dataclass
class ConditionSize:
    address: str
    text: str
    size: int


@dataclass
class Preview:
    """What the live preview shows: problems instead of numbers, or the size, sizes, sample and text."""

    now: dt.datetime
    problems: list[SummaryItem] = field(default_factory=list)
    error: str = ""
    size: int | None = None
    text: str = ""
    conditions: list[ConditionSize] = field(default_factory=list)
    sample: list[Profile] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)

    @property
    def sizes_by_address(self) -> dict[str, int]:
        return {item.address: item.size for item in self.conditions}


def build_preview(
    *, root: Row, exclude: list[str], paired_suppression: str, slug: str | None, now: dt.datetime
) -> Preview:
    """Size, per-condition sizes, a sample and the plain-English text of the definition the form holds now.

    A tree the validator rejects shows its problems instead: a partial rule has no meaningful size.
    """
    tree = row_to_rule(root)
    preview = Preview(now=now, addresses=top_level_addresses(root))
    _by_field, summary = rule_problems(tree, validate_rule(tree.rule))
    if summary:
        preview.problems = summary
        return preview
    definition: dict[str, Any] = {
        "rule": tree.rule,
        "exclude": exclude,
        "paired_suppression": paired_suppression or None,
    }
    if slug:
        definition["slug"] = slug
    try:
        preview.size = audience_size(definition, now)
        sizes = rule_condition_sizes(definition, now)
        preview.sample = audience_sample(definition, now, limit=SAMPLE_SIZE)
        preview.text = definition_to_text(definition)
    except CompileError as exc:
        preview.error = str(exc)
        return preview
    conditions = (
        tree.rule.get("all", tree.rule.get("any")) if ("all" in tree.rule or "any" in tree.rule) else [tree.rule]
    )
    names = audience_selectors.audience_names(slugs=_rule_slugs(conditions))
    preview.conditions = [
        ConditionSize(address=address, text=_sentence(node_text(node, names=names, top=True)), size=size)
        for address, node, size in zip(preview.addresses, conditions, sizes, strict=False)
    ]
    return preview


def _rule_slugs(nodes: list[Any]) -> set[str]:
    return {slug for node in nodes for slug in rule_audience_refs(node)}


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]
