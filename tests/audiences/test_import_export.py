"""``audiences import`` and ``audiences export``: all or nothing, versions, and exact round trips."""

from __future__ import annotations

import copy
import io
import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from audience_ops.audiences.models import Audience, AudienceVersion
from audience_ops.audiences.services import audience_export, audience_import, audience_version_create

from .helpers import SPEC_EXAMPLE, audience_dict

pytestmark = pytest.mark.django_db


def run(*args, stdin: str | None = None) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    extra = {"stdin": io.StringIO(stdin)} if stdin is not None else {}
    call_command("audiences", *args, stdout=out, stderr=err, **extra)
    return out.getvalue(), err.getvalue()


def write(tmp_path, data, name="audiences.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def test_import_creates_audiences_and_prints_each_slug(users, tmp_path):
    # when the spec's example file is imported
    out, err = run("import", write(tmp_path, SPEC_EXAMPLE))
    # then each audience is created with version 1, in file order
    assert out == (
        "purchased-24h: created (version 1)\n"
        "cart-abandoners-3d: created (version 1)\n"
        "coffee-replenish: created (version 1)\n"
    )
    assert err == ""
    cart = Audience.objects.get(slug="cart-abandoners-3d")
    assert (cart.kind, cart.objective, cart.offer, cart.intent, cart.status) == (
        "targeting",
        "ads",
        "full_price",
        "cart",
        "draft",
    )
    assert cart.owner.username == "maria"
    version = cart.versions.get()
    assert (version.number, version.paired_suppression, version.exclude, version.author.username) == (
        1,
        "purchased-24h",
        [],
        "maria",
    )
    assert Audience.objects.get(slug="purchased-24h").versions.get().author.username == "ops"


def test_reimporting_the_same_file_changes_nothing(users, tmp_path):
    path = write(tmp_path, SPEC_EXAMPLE)
    run("import", path)
    out, _err = run("import", path)
    assert out == "purchased-24h: unchanged\ncart-abandoners-3d: unchanged\ncoffee-replenish: unchanged\n"
    assert AudienceVersion.objects.count() == 3


def test_a_changed_definition_becomes_a_new_version_authored_by_by(users, tmp_path):
    run("import", write(tmp_path, SPEC_EXAMPLE))
    changed = copy.deepcopy(SPEC_EXAMPLE)
    changed["audiences"][1]["rule"]["all"][0]["within"] = {"days": 5}
    changed["audiences"][2]["name"] = "Coffee reorder due"
    out, _err = run("import", write(tmp_path, changed, "changed.json"), "--by", "ops")
    assert out == (
        "purchased-24h: unchanged\n"
        "cart-abandoners-3d: new version 2\n"
        "coffee-replenish: updated name (definition unchanged, version 1)\n"
    )
    cart = Audience.objects.get(slug="cart-abandoners-3d")
    latest = cart.versions.get(number=2)
    assert latest.author.username == "ops"
    assert latest.rule["all"][0]["within"] == {"days": 5}
    assert cart.versions.get(number=1).rule["all"][0]["within"] == {"days": 3}
    assert Audience.objects.get(slug="coffee-replenish").name == "Coffee reorder due"


def test_key_order_and_number_types_matter_only_as_json(users):
    # given an audience whose value is the number 1
    audience_import(payload=audience_dict("typed", {"attribute": "plan", "op": "eq", "value": 1}))
    # when the same rule is imported with keys reordered, it is unchanged
    reordered = audience_dict("typed", {"value": 1, "op": "eq", "attribute": "plan"})
    assert [str(c) for c in audience_import(payload=reordered).changes] == ["typed: unchanged"]
    # but true is not 1, and "1" is not 1: each is a new version
    as_true = audience_dict("typed", {"attribute": "plan", "op": "eq", "value": True})
    assert [str(c) for c in audience_import(payload=as_true).changes] == ["typed: new version 2"]
    as_text = audience_dict("typed", {"attribute": "plan", "op": "eq", "value": "1"})
    assert [str(c) for c in audience_import(payload=as_text).changes] == ["typed: new version 3"]


def test_large_whole_numbers_round_trip_on_every_database(users, tmp_path):
    # given a rule with 1e18, which PostgreSQL's jsonb stores as the integer 1000000000000000000
    path = tmp_path / "big.json"
    path.write_text(
        json.dumps(audience_dict("big", {"attribute": "score", "op": "lt", "value": 1e18})), encoding="utf-8"
    )
    run("import", str(path))
    # then importing the same file again, or its export, changes nothing
    assert run("import", str(path))[0] == "big: unchanged\n"
    exported, _ = run("export", "big")
    assert json.loads(exported)["audiences"][0]["rule"]["value"] == 10**18
    assert run("import", "-", stdin=json.dumps(json.loads(exported)))[0] == "big: unchanged\n"
    assert AudienceVersion.objects.count() == 1


def test_import_is_all_or_nothing(users, tmp_path):
    # given a file whose third audience is invalid
    broken = copy.deepcopy(SPEC_EXAMPLE)
    broken["audiences"][2]["rule"]["last"] = {"days_ago": [45, 25]}
    broken["audiences"][0]["owner"] = "nobody"
    # when it is imported
    with pytest.raises(CommandError, match="2 problems found; nothing was imported"):
        run("import", write(tmp_path, broken))
    # then nothing was written
    assert Audience.objects.count() == 0
    assert AudienceVersion.objects.count() == 0


def test_import_prints_every_problem_with_its_path_to_stderr(users, tmp_path):
    broken = copy.deepcopy(SPEC_EXAMPLE)
    broken["audiences"][2]["rule"]["last"] = {"days_ago": [45, 25]}
    broken["audiences"][0]["owner"] = "nobody"
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("audiences", "import", write(tmp_path, broken), stdout=io.StringIO(), stderr=err)
    assert err.getvalue() == (
        'audiences[2].rule.last: "days_ago" needs [A, B] with integers 0 <= A < B, got a list of 2\n'
        'audiences[0].owner: unknown user "nobody"\n'
    )


def test_a_failed_import_leaves_existing_audiences_untouched(users, tmp_path):
    run("import", write(tmp_path, SPEC_EXAMPLE))
    broken = copy.deepcopy(SPEC_EXAMPLE)
    broken["audiences"][0]["rule"] = {"event": "Order Completed", "within": {"hours": 48}}
    broken["audiences"][1]["retire_on"] = "never"
    with pytest.raises(CommandError):
        run("import", write(tmp_path, broken, "broken.json"))
    assert Audience.objects.get(slug="purchased-24h").versions.count() == 1
    assert AudienceVersion.objects.get(audience__slug="purchased-24h").rule["within"] == {"hours": 24}


def test_import_reads_stdin_and_a_single_object(users):
    single = audience_dict("from-stdin", {"all": []})
    out, _err = run("import", "-", stdin=json.dumps(single))
    assert out == "from-stdin: created (version 1)\n"


def test_import_rejects_invalid_json_and_unknown_by(users, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"audiences": [', encoding="utf-8")
    with pytest.raises(CommandError, match="not valid JSON"):
        run("import", str(path))
    with pytest.raises(CommandError, match="1 problem found"):
        run("import", write(tmp_path, SPEC_EXAMPLE), "--by", "ghost")
    assert Audience.objects.count() == 0


def test_audiences_in_a_file_may_reference_each_other_in_any_order(users):
    payload = {
        "audiences": [
            audience_dict("needs-b", {"in_audience": "b-later"}, exclude=["c-last"]),
            audience_dict("b-later", {"all": []}),
            audience_dict("c-last", {"all": []}, kind="suppression"),
        ]
    }
    result = audience_import(payload=payload)
    assert result.problems == []
    assert [str(change) for change in result.changes] == [
        "needs-b: created (version 1)",
        "b-later: created (version 1)",
        "c-last: created (version 1)",
    ]


def test_export_round_trips_byte_for_byte(users, tmp_path):
    # given the example imported, with QA cases and exclusions on one audience
    data = copy.deepcopy(SPEC_EXAMPLE)
    data["audiences"][1]["qa"] = [
        {"profile": "u-abandoner", "expect": "in", "note": "added to cart yesterday"},
        {"profile": "u-buyer", "expect": "out"},
    ]
    data["audiences"][1]["exclude"] = ["purchased-24h"]
    data["audiences"][1]["rule"]["all"].append({"attribute": "score", "op": "gte", "value": 1.5})
    run("import", write(tmp_path, data))
    # when exported, imported again and exported again
    first, _ = run("export")
    out, _ = run("import", write(tmp_path, json.loads(first), "exported.json"))
    second, _ = run("export")
    # then nothing changed and both exports are identical
    assert out == "cart-abandoners-3d: unchanged\ncoffee-replenish: unchanged\npurchased-24h: unchanged\n"
    assert first == second
    exported = json.loads(first)["audiences"]
    assert [item["slug"] for item in exported] == ["cart-abandoners-3d", "coffee-replenish", "purchased-24h"]
    assert exported[0]["qa"] == data["audiences"][1]["qa"]
    assert list(exported[0]) == [
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
    ]
    assert exported[0]["rule"]["all"][3] == {"attribute": "score", "op": "gte", "value": 1.5}


def test_export_selected_slugs_in_the_order_given(users):
    audience_import(payload=SPEC_EXAMPLE)
    out, _ = run("export", "purchased-24h", "coffee-replenish")
    assert [item["slug"] for item in json.loads(out)["audiences"]] == ["purchased-24h", "coffee-replenish"]
    assert json.loads(out)["audiences"][0] == {**SPEC_EXAMPLE["audiences"][0], "offer": "none"}


def test_export_of_an_unknown_slug_fails(users):
    audience_import(payload=SPEC_EXAMPLE)
    with pytest.raises(CommandError, match="unknown audience: nope"):
        run("export", "purchased-24h", "nope")


def test_export_service_matches_the_example_file(users):
    audience_import(payload=SPEC_EXAMPLE)
    exported = {item["slug"]: item for item in audience_export()["audiences"]}
    for item in SPEC_EXAMPLE["audiences"]:
        assert exported[item["slug"]] == {"offer": "none", **item}


def test_versions_are_immutable(users):
    audience_import(payload=audience_dict("frozen", {"all": []}))
    version = AudienceVersion.objects.get()
    version.rule = {"any": [{"event": "X"}]}
    with pytest.raises(ValidationError, match="immutable"):
        version.save()
    assert AudienceVersion.objects.get().rule == {"all": []}


def test_version_create_only_when_the_definition_differs(users):
    audience_import(payload=audience_dict("versioned", {"all": []}))
    audience = Audience.objects.get()
    same, created = audience_version_create(audience=audience, definition={"rule": {"all": []}}, author=users["ops"])
    assert (same.number, created) == (1, False)
    new, created = audience_version_create(audience=audience, definition={"rule": {"event": "X"}}, author=users["ops"])
    assert (new.number, created, new.author.username) == (2, True, "ops")


def test_version_create_validates_the_definition(users):
    audience_import(payload=audience_dict("guarded", {"all": []}))
    audience = Audience.objects.get()
    with pytest.raises(ValidationError) as caught:
        audience_version_create(audience=audience, definition={"rule": {"any": []}}, author=users["ops"])
    assert caught.value.message_dict == {"rule.any": ['must not be empty (an empty "any" would match nobody)']}
    assert audience.versions.count() == 1


def test_import_by_a_user_object_checks_permissions(users):
    # given an ops user, who may view but not add audiences
    result_call = lambda: audience_import(payload=audience_dict("gated", {"all": []}), actor_or_username=users["ops"])  # noqa: E731
    with pytest.raises(PermissionDenied):
        result_call()
    assert Audience.objects.filter(slug="gated").exists() is False
    # and a marketer may
    result = audience_import(payload=audience_dict("gated", {"all": []}), actor_or_username=users["maria"])
    assert [str(change) for change in result.changes] == ["gated: created (version 1)"]
