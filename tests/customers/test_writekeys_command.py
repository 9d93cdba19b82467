"""``manage.py writekeys create | list | revoke``: the raw key is printed once and works; revoked keys do not."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audience_ops.customers.models import WriteKey
from audience_ops.customers.writekeys import writekey_authenticate

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("writekeys", *args, stdout=out)
    return out.getvalue()


def create(name: str = "storefront") -> tuple[WriteKey, str]:
    raw_key = run("create", name).splitlines()[-1]
    return WriteKey.objects.get(name=name), raw_key


def test_create_prints_the_key_alone_on_the_last_line():
    # when
    write_key, raw_key = create("storefront")
    # then the printed key authenticates, and only its hash is stored
    assert raw_key.startswith("wk_")
    assert writekey_authenticate(raw_key) == write_key
    assert write_key.prefix == raw_key[:10]
    assert raw_key not in {write_key.key_hash, write_key.prefix, write_key.name}


def test_create_without_a_name_is_refused():
    with pytest.raises(CommandError) as excinfo:
        run("create", "   ")
    assert str(excinfo.value) == "name: a write key needs a name that says where it is used"
    assert WriteKey.objects.count() == 0


def test_list_shows_prefixes_and_status_never_keys():
    first, first_raw = create("storefront")
    second, _ = create("mobile app")
    run("revoke", str(second.pk))
    lines = run("list").splitlines()
    assert lines[0] == "id\tprefix\tname\tcreated\tlast used\tstatus"
    rows = [line.split("\t") for line in lines[1:]]
    assert [(row[0], row[1], row[2], row[4]) for row in rows] == [
        (str(first.pk), first.prefix, "storefront", "never"),
        (str(second.pk), second.prefix, "mobile app", "never"),
    ]
    assert rows[0][5] == "active"
    assert rows[1][5].startswith("revoked ")
    assert first_raw not in "\n".join(lines)


@pytest.mark.parametrize("how", ["id", "prefix", "short prefix", "whole key"])
def test_revoke_by_id_prefix_or_key(how):
    write_key, raw_key = create()
    other, other_raw = create("other")
    argument = {
        "id": str(write_key.pk),
        "prefix": write_key.prefix,
        "short prefix": write_key.prefix[:8],
        "whole key": raw_key,
    }[how]
    out = run("revoke", argument)
    assert out.strip() == f"Revoked write key #{write_key.pk} 'storefront' ({write_key.prefix}…)"
    assert writekey_authenticate(raw_key) is None
    assert writekey_authenticate(other_raw) == other


def test_revoke_an_ambiguous_prefix_is_refused():
    first, first_raw = create("one")
    second, second_raw = create("two")
    with pytest.raises(CommandError) as excinfo:
        run("revoke", "wk_")
    assert str(excinfo.value) == (
        f"'wk_' matches 2 write keys (#{first.pk} {first.prefix}, #{second.pk} {second.prefix}); give the id"
    )
    assert writekey_authenticate(first_raw) == first
    assert writekey_authenticate(second_raw) == second


@pytest.mark.parametrize("argument", ["999", "wk_zzzzzzz", "wk_" + "z" * 40])
def test_revoke_an_unknown_key_is_refused(argument):
    _key, raw_key = create()
    with pytest.raises(CommandError) as excinfo:
        run("revoke", argument)
    assert str(excinfo.value) == f"no write key has the id or prefix {argument!r}"
    assert writekey_authenticate(raw_key) is not None
