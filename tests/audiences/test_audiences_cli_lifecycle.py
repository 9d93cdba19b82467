"""``audiences qa|submit|approve|reject|pause|resume|retire``: the same services and checks from the shell."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audience_ops.audiences.models import QARun, VersionReview
from audience_ops.audiences.qa import qa_cases_save
from audience_ops.audiences.services import audience_import
from audience_ops.audit.models import AuditEvent

from .governance import CART_QA, fresh, make_live, suppression_dict

pytestmark = pytest.mark.django_db

AS_OF = "2026-11-28T12:00:00Z"


def run(*args) -> str:
    out = io.StringIO()
    call_command("audiences", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def fails(*args) -> str:
    with pytest.raises(CommandError) as excinfo:
        run(*args)
    assert excinfo.value.returncode == 1
    return str(excinfo.value)


def test_qa_prints_every_case_with_its_explanation_and_stores_the_run(pair, people):
    out = run("qa", "cart-abandoners-3d", "--as-of", AS_OF, "--by", "maria")
    lines = out.splitlines()
    assert lines[0] == "PASS  qa-cart-abandoner: expect in, actual in  added to cart yesterday, no order"
    assert lines[1] == "      qa-cart-abandoner is IN Cart abandoners, last 3 days at 2026-11-28T12:00:00+00:00"
    assert "PASS  qa-suppressed: expect out, actual out  unsubscribed" in lines
    assert any("[no ]" in line and "unsubscribed" in line for line in lines)
    assert lines[-1] == "QA passed: 4 of 4 cases, cart-abandoners-3d version 1 at 2026-11-28T12:00:00+00:00"
    run_row = QARun.objects.get()
    assert run_row.passed and run_row.ran_by == people["maria"]


def test_qa_failure_exits_1_and_still_stores_the_run(pair, people):
    _suppression, cart = pair
    qa_cases_save(actor=people["maria"], audience=cart, cases=[*CART_QA, {"profile": "nobody", "expect": "in"}])
    out = io.StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command("audiences", "qa", "cart-abandoners-3d", "--as-of", AS_OF, stdout=out)
    assert excinfo.value.returncode == 1
    assert str(excinfo.value).startswith("QA failed: 1 of 5 cases failed, cart-abandoners-3d version 2")
    assert "FAIL  nobody: expect in, actual missing" in out.getvalue()
    assert '      no profile has the external id "nobody"' in out.getvalue()
    stored = QARun.objects.get()
    assert not stored.passed and stored.ran_by is None and stored.version.number == 2
    assert AuditEvent.objects.get(action="audience.qa_run").actor_label == "cli"


def test_qa_of_an_older_version(pair, people):
    _suppression, cart = pair
    qa_cases_save(actor=people["maria"], audience=cart, cases=CART_QA[:1])
    out = run("qa", "cart-abandoners-3d", "--as-of", AS_OF, "--version", "1")
    assert out.splitlines()[-1].startswith("QA passed: 4 of 4 cases, cart-abandoners-3d version 1")
    assert "has no version 9" in fails("qa", "cart-abandoners-3d", "--version", "9")


def test_submit_approve_from_the_shell(pair, people):
    suppression, _cart = pair
    run("qa", "purchased-24h", "--as-of", AS_OF)
    assert run("submit", "purchased-24h", "--by", "maria") == (
        "purchased-24h: version 1 submitted for review (status in_review)\n"
    )
    assert run("approve", "purchased-24h", "--by", "omar") == "purchased-24h: version 1 approved (status live)\n"
    suppression = fresh(suppression)
    assert suppression.status == "live"
    assert AuditEvent.objects.get(action="audience.approve").actor == people["omar"]


def test_the_shell_holds_the_same_rules(pair, people):
    suppression, cart = pair
    # submitting without a QA run
    message = fails("submit", "purchased-24h", "--by", "maria")
    assert message == "Purchased in last 24 hours cannot be submitted: no QA run of version 1"
    assert not VersionReview.objects.exists()
    # version 2 written by omar at the command line, for an audience mark owns
    audience_import(
        payload=suppression_dict(owner="mark", rule={"event": "Order Completed", "within": {"hours": 36}}),
        actor_or_username="omar",
    )
    run("qa", "purchased-24h", "--as-of", AS_OF)
    run("submit", "purchased-24h", "--by", "mark")
    # the author approving, a marketer approving, an unknown user
    assert "You wrote version 2" in fails("approve", "purchased-24h", "--by", "omar")
    assert fails("approve", "purchased-24h", "--by", "mark").startswith("not allowed: mark may not do this")
    assert fails("approve", "purchased-24h", "--by", "nobody") == '--by: unknown user "nobody"'
    # nothing was written by the refusals
    assert VersionReview.objects.get().state == "pending"
    assert fresh(suppression).status == "in_review"
    assert not AuditEvent.objects.filter(action="audience.approve").exists()
    # the paired suppression rule
    run("qa", "cart-abandoners-3d", "--as-of", AS_OF)
    run("submit", "cart-abandoners-3d", "--by", "maria")
    assert "paired suppression Purchased in last 24 hours is live" in fails(
        "approve", "cart-abandoners-3d", "--by", "omar"
    )
    assert fresh(cart).status == "in_review"


def test_reject_needs_a_reason_and_records_it(pair, people):
    run("qa", "purchased-24h", "--as-of", AS_OF)
    run("submit", "purchased-24h", "--by", "maria")
    assert "needs a reason" in fails("reject", "purchased-24h", "--by", "omar", "--reason", " ")
    out = run("reject", "purchased-24h", "--by", "omar", "--reason", "Use 48 hours")
    assert out == "purchased-24h: version 1 rejected (status draft)\n"
    assert VersionReview.objects.get().reason == "Use 48 hours"


def test_approve_with_a_launch_time(pair, people):
    run("qa", "purchased-24h", "--as-of", AS_OF)
    run("submit", "purchased-24h", "--by", "maria")
    out = run("approve", "purchased-24h", "--by", "omar", "--launch-at", "2099-01-01T09:00:00Z")
    assert out == "purchased-24h: version 1 approved, goes live at 2099-01-01T09:00:00+00:00 (status approved)\n"
    assert "--launch-at:" in fails("approve", "purchased-24h", "--by", "omar", "--launch-at", "soon")


def test_pause_resume_retire_from_the_shell(pair, people):
    suppression, cart = pair
    make_live(suppression, by=people["maria"], approver=people["omar"])
    make_live(cart, by=people["maria"], approver=people["omar"])
    assert run("pause", "cart-abandoners-3d", "--by", "omar", "--reason", "promo week") == (
        "cart-abandoners-3d: paused\n"
    )
    assert AuditEvent.objects.get(action="audience.pause").reason == "promo week"
    assert "Only live audiences can be paused" in fails("pause", "cart-abandoners-3d", "--by", "omar")
    assert run("resume", "cart-abandoners-3d", "--by", "ada") == "cart-abandoners-3d: live again\n"
    assert fails("retire", "cart-abandoners-3d", "--by", "omar").startswith("not allowed")
    assert run("retire", "cart-abandoners-3d", "--by", "ada") == "cart-abandoners-3d: retired\n"
    assert fresh(cart).status == "retired"


def test_by_is_required_for_state_changes():
    # argparse refuses before anything runs (exit status 2 from the real command line)
    result = subprocess.run(
        [sys.executable, "manage.py", "audiences", "submit", "anything"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "--by" in result.stderr
