"""What changed between two versions of an audience: a line diff of the canonical JSON and both plain texts.

A reviewer approving version 3 wants to see exactly which condition changed since version 2. Versions are
compared as the pretty JSON that ``audiences export`` writes (keys in the fixed export order), so two
versions that select the same way never show spurious differences from key order, and the diff reads like the
file a reviewer would see in code review.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass

from .definitions import definition_from_version
from .models import AudienceVersion
from .services import definition_to_text

# Lines of unchanged JSON shown around each change; definitions are short, so a generous context reads better.
CONTEXT_LINES = 5


@dataclass(frozen=True)
class DiffLine:
    """One line of a unified diff: ``kind`` is "add", "remove", "context" or "hunk" (an ``@@`` header)."""

    kind: str
    text: str

    @property
    def marker(self) -> str:
        return {"add": "+", "remove": "-", "context": " ", "hunk": ""}[self.kind]


@dataclass(frozen=True)
class VersionDiff:
    """The difference between ``old`` and ``new``: diff lines (empty when identical) and both definitions' text."""

    old: AudienceVersion
    new: AudienceVersion
    lines: list[DiffLine]
    old_text: str
    new_text: str

    @property
    def identical(self) -> bool:
        return not self.lines

    @property
    def added(self) -> int:
        return sum(1 for line in self.lines if line.kind == "add")

    @property
    def removed(self) -> int:
        return sum(1 for line in self.lines if line.kind == "remove")

    def as_text(self) -> str:
        """The diff as plain unified-diff text (what a reviewer would paste into a ticket)."""
        return "".join(f"{line.marker}{line.text}\n" for line in self.lines)


def version_json(version: AudienceVersion) -> str:
    """The definition keys of ``version`` (rule, exclude, paired suppression, QA cases) as export-style JSON."""
    return json.dumps(definition_from_version(version).as_dict(), indent=2, ensure_ascii=False)


def version_diff(*, old: AudienceVersion, new: AudienceVersion, context: int = CONTEXT_LINES) -> VersionDiff:
    """The unified diff from ``old`` to ``new`` plus the plain-English text of each.

    Both versions must belong to the same audience: a diff across audiences would read as a change that never
    happened.
    """
    if old.audience_id != new.audience_id:
        raise ValueError(f"versions {old.pk} and {new.pk} belong to different audiences")
    raw = difflib.unified_diff(
        version_json(old).splitlines(),
        version_json(new).splitlines(),
        fromfile=f"version {old.number}",
        tofile=f"version {new.number}",
        n=context,
        lineterm="",
    )
    lines = []
    # The first two lines are the ---/+++ file headers, which repeat what the page's heading already says.
    for text in list(raw)[2:]:
        if text.startswith("@@"):
            lines.append(DiffLine(kind="hunk", text=text))
        elif text.startswith("+"):
            lines.append(DiffLine(kind="add", text=text[1:]))
        elif text.startswith("-"):
            lines.append(DiffLine(kind="remove", text=text[1:]))
        else:
            lines.append(DiffLine(kind="context", text=text[1:]))
    return VersionDiff(
        old=old,
        new=new,
        lines=lines,
        old_text=definition_to_text(old),
        new_text=definition_to_text(new),
    )
