"""``manage.py syncs add|list|run``: the same services, a JSON summary, a failing exit code on failure."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from audience_ops.syncs.choices import RunState, RunTrigger
from audience_ops.syncs.models import Sync, SyncRun
from tests.syncs.fakes import permanent
from tests.syncs.helpers import emails, make_members, member_audience

pytestmark = pytest.mark.django_db


def syncs(*args: str) -> str:
    out = io.StringIO()
    call_command("syncs", *args, stdout=out)
    return out.getvalue()


def test_add_list_and_run_in_the_foreground(marketer, ops_user, fake_destination, fake_platform):
    member_audience("cli-members")
    people = make_members(4)

    assert "every 15 min, enabled" in syncs("add", "cli-members", "Fake", "--every", "15", "--by", "omar")
    sync = Sync.objects.get()
    assert sync.created_by == ops_user and sync.next_run_at is not None

    dry = json.loads(syncs("run", "cli-members", "Fake", "--dry-run"))
    assert dry["state"] == "succeeded" and dry["planned_adds"] == 4 and dry["added"] == 0
    assert dry["sample_adds"][0] == "cus_000000"
    assert fake_platform.calls == []

    summary = json.loads(syncs("run", "cli-members", "Fake", "--as-of", "2026-11-28T12:00:00Z"))
    assert {k: summary[k] for k in ("state", "planned_adds", "added", "removed", "unmatchable", "failed")} == {
        "state": "succeeded",
        "planned_adds": 4,
        "added": 4,
        "removed": 0,
        "unmatchable": 0,
        "failed": 0,
    }
    assert summary["match_rate"] == 1.0 and summary["as_of"].startswith("2026-11-28T12:00:00")
    assert SyncRun.objects.get(pk=summary["run"]).trigger == RunTrigger.CLI
    assert fake_platform.held() == emails(people)

    (line,) = syncs("list").splitlines()
    listed = json.loads(line)
    assert (listed["audience"], listed["ledger"], listed["last_run"]["state"]) == ("cli-members", 4, "succeeded")


def test_a_failed_run_exits_non_zero_with_the_reason(marketer, fake_destination, fake_platform):
    member_audience("cli-members")
    make_members(2)
    syncs("add", "cli-members", "Fake", "--mode", "add_only")
    fake_platform.script = [permanent("Invalid OAuth access token")]

    out = io.StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command("syncs", "run", "cli-members", "Fake", stdout=out)

    assert excinfo.value.returncode == 1
    assert json.loads(out.getvalue())["state"] == RunState.FAILED
    assert "Invalid OAuth access token" in str(excinfo.value)


def test_add_reports_the_rule_that_refused_it(marketer, fake_destination, fake_platform):
    member_audience("cli-members")
    fake_platform.supports_removal = False
    with pytest.raises(CommandError, match="cannot mirror"):
        syncs("add", "cli-members", "Fake")
    with pytest.raises(CommandError, match='no destination "Nope"'):
        syncs("add", "cli-members", "Nope")
