"""The demo's audiences (chapter 2 of the demo story), imported once and evaluated at start-up."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TextIO

from django.utils import timezone

from audience_ops.audiences.models import Audience
from audience_ops.audiences.services import audience_evaluate, audience_import

DEMO_AUDIENCES = Path(__file__).with_name("demo_audiences.json")


def load_demo_audiences(*, stdout: TextIO) -> None:
    """Import the demo audiences when none exist yet, then evaluate every one of them at the current time."""
    if not Audience.objects.exists():
        result = audience_import(payload=json.loads(DEMO_AUDIENCES.read_text()))
        if result.problems:
            raise RuntimeError("demo audiences are invalid: " + "; ".join(str(p) for p in result.problems))
    now = timezone.now()
    for audience in Audience.objects.exclude(status="retired").order_by("slug"):
        snapshot = audience_evaluate(audience=audience, now=now)
        stdout.write(f"  {audience.slug}: {snapshot.size} members")
