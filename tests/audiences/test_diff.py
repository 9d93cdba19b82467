"""Version diffs: a unified diff of the export-style JSON of two versions plus their plain-English text."""

from __future__ import annotations

import json
from typing import Any

import pytest

from audience_ops.audiences.diff import DiffLine, version_diff, version_json
from audience_ops.audiences.models import Audience, AudienceVersion
from audience_ops.audiences.services import audience_import


def payload(rule: dict[str, Any], **extra: Any) -> dict[str, Any]:
    data = {
        "slug": "coffee-replenish",
        "name": "Second coffee purchase due",
        "kind": "targeting",
        "objective": "analytics",
        "owner": "maria",
        "purpose": "Replenishment reminder for coffee buyers",
        "retire_on": "2027-03-31",
        "rule": rule,
    }
    data.update(extra)
    return data


COFFEE = {
    "event": "Order Completed",
    "where": [{"property": "category", "op": "eq", "value": "coffee"}],
    "last": {"days_ago": [25, 45]},
}


def versions(marketer, *payloads: dict[str, Any]) -> list[AudienceVersion]:
    for item in payloads:
        assert audience_import(payload=item).problems == []
    return list(Audience.objects.get(slug="coffee-replenish").versions.order_by("number"))


def test_a_changed_window_is_one_removed_and_one_added_line(marketer):
    # given
    widened = {**COFFEE, "last": {"days_ago": [20, 45]}}
    old, new = versions(marketer, payload(COFFEE), payload(widened))

    # when
    diff = version_diff(old=old, new=new)

    # then
    changed = [line for line in diff.lines if line.kind in ("add", "remove")]
    assert changed == [DiffLine(kind="remove", text="        25,"), DiffLine(kind="add", text="        20,")]
    assert (diff.added, diff.removed, diff.identical) == (1, 1, False)
    assert diff.lines[0].kind == "hunk"
    assert diff.old_text == ('Last did Order Completed (where category is "coffee") between 25 and 45 days ago')
    assert diff.new_text == ('Last did Order Completed (where category is "coffee") between 20 and 45 days ago')


def test_the_diff_text_is_a_unified_diff(marketer):
    old, new = versions(marketer, payload(COFFEE), payload({"event": "Order Completed"}))

    text = version_diff(old=old, new=new).as_text()

    assert text == (
        "@@ -1,18 +1,5 @@\n"
        " {\n"
        '   "rule": {\n'
        '-    "event": "Order Completed",\n'
        '-    "where": [\n'
        "-      {\n"
        '-        "property": "category",\n'
        '-        "op": "eq",\n'
        '-        "value": "coffee"\n'
        "-      }\n"
        "-    ],\n"
        '-    "last": {\n'
        '-      "days_ago": [\n'
        "-        25,\n"
        "-        45\n"
        "-      ]\n"
        "-    }\n"
        '+    "event": "Order Completed"\n'
        "   }\n"
        " }\n"
    )


def test_adding_a_paired_suppression_and_exclusions_shows_in_the_diff(marketer):
    # given
    assert (
        audience_import(
            payload={
                "audiences": [
                    payload(
                        {"event": "Order Completed", "within": {"hours": 24}},
                        slug="bought",
                        name="Bought",
                        kind="suppression",
                    ),
                    payload({"attribute": "vip", "op": "eq", "value": True}, slug="vips", name="Vips"),
                ]
            }
        ).problems
        == []
    )
    old, new = versions(
        marketer, payload(COFFEE), payload(COFFEE, objective="ads", paired_suppression="bought", exclude=["vips"])
    )

    # when
    diff = version_diff(old=old, new=new)

    # then
    assert [line.text for line in diff.lines if line.kind == "add"] == [
        '  "paired_suppression": "bought",',
        '  "exclude": [',
        '    "vips"',
        "  ],",
    ]
    assert diff.removed == 0
    assert diff.new_text.endswith("; minus members of Vips; minus members of Bought")


def test_a_version_compared_with_itself_has_no_lines(marketer):
    (only,) = versions(marketer, payload(COFFEE))

    diff = version_diff(old=only, new=only)

    assert diff.lines == []
    assert diff.identical is True
    assert diff.as_text() == ""


def test_the_json_is_the_export_form_of_the_definition_keys(marketer):
    (only,) = versions(marketer, payload(COFFEE))

    assert json.loads(version_json(only)) == {"rule": COFFEE}
    assert version_json(only).startswith('{\n  "rule": {\n    "event": "Order Completed",\n    "where": [')


def test_versions_of_different_audiences_cannot_be_compared(marketer):
    (coffee,) = versions(marketer, payload(COFFEE))
    assert audience_import(payload=payload(COFFEE, slug="other")).problems == []
    other = AudienceVersion.objects.get(audience__slug="other")

    with pytest.raises(ValueError, match="belong to different audiences"):
        version_diff(old=coffee, new=other)
