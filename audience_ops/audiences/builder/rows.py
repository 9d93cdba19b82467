"""The condition rows as the builder page shows them: inputs with labels and messages, numbered positions.

:func:`build_row_view` turns a :class:`~.tree.Row` tree into :class:`RowView` objects the templates render
recursively; :func:`rule_problems` puts each problem (the form's own and the validator's) next to the input it
belongs to and into the summary at the top of the page.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django import forms

from . import selectors
from .forms import ROW_FORMS, FilterRowForm, MembershipRowForm
from .tree import GROUP_KINDS, ROOT, Row, TreeResult, group_depth

MAX_GROUP_LEVELS = 5
# An input or row address: rule_1 (row), rule_1-w0 (filter row), rule_1-op, rule_1-w0-value (inputs).
ROW_TARGET = re.compile(r"(rule(?:_\d+)*)(?:-w(\d+))?(?:-([a-z_]+))?")
FIELD_LABELS = {
    name: field.label
    for form_class in (*ROW_FORMS.values(), FilterRowForm)
    for name, field in form_class.base_fields.items()
    if field.label
}
KIND_LABELS = {
    "attribute": "Attribute",
    "event": "Event",
    "in_audience": "Audience membership",
    "all": "Group",
    "any": "Group",
    "not": "Group",
}


# --- view models ------------------------------------------------------------------------------------------


@dataclass
class FieldView:
    """One input of a row with its messages; the widget is marked invalid when there are any."""

    field: forms.BoundField
    errors: list[str]


def _invalid(fields: dict[str, FieldView]) -> list[FieldView]:
    return [view for view in fields.values() if view.errors]


@dataclass
class FilterView:
    address: str
    number: int
    fields: dict[str, FieldView]
    errors: list[str]

    @property
    def field_errors(self) -> list[FieldView]:
        """Inputs with messages: shown under the row, where there is room, each naming its input."""
        return _invalid(self.fields)


@dataclass
class RowView:
    """A condition row as the template renders it: its inputs, messages, children and position."""

    row: Row
    fields: dict[str, FieldView]
    label: str
    parent_address: str
    errors: list[str] = field(default_factory=list)
    children: list[RowView] = field(default_factory=list)
    filters: list[FilterView] = field(default_factory=list)
    size: int | None = None
    is_top: bool = False

    @property
    def address(self) -> str:
        return self.row.address

    @property
    def field_errors(self) -> list[FieldView]:
        """Inputs with messages (the group's own kind select excepted: it has room beside it)."""
        return [view for name, view in self.fields.items() if view.errors and not (self.is_group and name == "kind")]

    @property
    def kind(self) -> str:
        return self.row.kind

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.row.kind, "Condition")

    @property
    def is_group(self) -> bool:
        return self.row.kind in GROUP_KINDS

    @property
    def is_root(self) -> bool:
        return self.row.address == ROOT

    @property
    def depth(self) -> int:
        return group_depth(self.row.address)

    @property
    def can_add(self) -> bool:
        """A NOT group holds one condition; any other group, or a root condition (it gets wrapped), takes more."""
        return not (self.row.kind == "not" and self.row.children)

    @property
    def can_add_group(self) -> bool:
        level = self.depth + 1 if self.is_group else 1
        return level < MAX_GROUP_LEVELS

    @property
    def title(self) -> str:
        return f"{self.kind_label} {self.label}" if self.label else self.kind_label

    def find(self, address: str) -> RowView | None:
        if self.address == address:
            return self
        for child in self.children:
            found = child.find(address)
            if found is not None:
                return found
        return None


@dataclass
class SummaryItem:
    location: str
    path: str
    message: str
    anchor: str


# --- building blocks --------------------------------------------------------------------------------------


def row_label(address: str) -> str:
    """``rule_0_2`` -> ``1.3``: the position a person reads (the root has no number)."""
    parts = address.split("_")[1:]
    return ".".join(str(int(part) + 1) for part in parts)


def top_level_addresses(root: Row) -> list[str]:
    """The rows whose sizes ``rule_condition_sizes`` reports: the root's children, or the root itself."""
    if root.kind in ("all", "any"):
        return [child.address for child in root.children]
    return [root.address]


def _field_views(form: forms.Form, names: tuple[str, ...], errors: dict[str, list[str]], prefix: str) -> dict:
    views = {}
    for name in names:
        messages_for_field = errors.get(f"{prefix}-{name}", [])
        bound = form[name]
        if messages_for_field:
            widget = form.fields[name].widget
            widget.attrs["class"] = f"{widget.attrs.get('class', '')} is-invalid".strip()
            widget.attrs["aria-invalid"] = "true"
            widget.attrs["aria-describedby"] = f"{bound.auto_id}_error"
        views[name] = FieldView(field=bound, errors=messages_for_field)
    return views


def build_row_view(
    root: Row,
    *,
    errors: dict[str, list[str]],
    audiences: list[selectors.AudienceOption],
    focus: str | None = None,
    sizes: dict[str, int] | None = None,
) -> RowView:
    """The :class:`RowView` tree of a (numbered) rule, with messages and condition sizes by address."""
    return _row_view(
        root,
        errors=errors,
        audiences=audiences,
        focus=focus,
        sizes=sizes or {},
        top=set(top_level_addresses(root)),
        parent_address=ROOT,
    )


def _row_view(
    row: Row,
    *,
    errors: dict[str, list[str]],
    audiences: list[selectors.AudienceOption],
    focus: str | None,
    sizes: dict[str, int],
    top: set[str],
    parent_address: str,
) -> RowView:
    form_class = ROW_FORMS.get(row.kind)
    initial = {"kind": row.kind, **row.values}
    if form_class is None:
        form: forms.Form = forms.Form(prefix=row.address)
    elif form_class is MembershipRowForm:
        form = MembershipRowForm(prefix=row.address, initial=initial, audiences=audiences)
    else:
        form = form_class(prefix=row.address, initial=initial)
    names = tuple(form.fields)
    if focus == row.address:
        first = next((name for name in names if not form.fields[name].widget.is_hidden), None)
        if first is not None:
            form.fields[first].widget.attrs["autofocus"] = True
    view = RowView(
        row=row,
        fields=_field_views(form, names, errors, row.address),
        label=row_label(row.address),
        parent_address=parent_address,
        errors=errors.get(row.address, []),
        size=sizes.get(row.address),
        is_top=row.address in top,
    )
    view.children = [
        _row_view(
            child,
            errors=errors,
            audiences=audiences,
            focus=focus,
            sizes=sizes,
            top=top,
            parent_address=row.address,
        )
        for child in row.children
    ]
    for index, item in enumerate(row.filters):
        address = f"{row.address}-w{index}"
        filter_form = FilterRowForm(prefix=address, initial=item)
        view.filters.append(
            FilterView(
                address=address,
                number=index + 1,
                fields=_field_views(filter_form, tuple(filter_form.fields), errors, address),
                errors=errors.get(address, []),
            )
        )
    return view


def rule_problems(tree: TreeResult, problems: list[Any]) -> tuple[dict[str, list[str]], list[SummaryItem]]:
    """Messages per input/row address, and summary items, for the rule's own problems plus the validator's.

    A validator problem the form already reported (the same path, or one below it) is left out.
    """
    by_field: dict[str, list[str]] = defaultdict(list)
    summary: list[SummaryItem] = []

    def add(path: str, message: str, target: str) -> None:
        by_field[target].append(message)
        summary.append(SummaryItem(location=_location(target), path=path, message=message, anchor=_anchor(target)))

    for problem in tree.problems:
        add(problem.path, problem.message, problem.field)
    for problem in problems:
        if tree.shadows(problem.path):
            continue
        add(problem.path, problem.message, tree.field_for(problem.path) or ROOT)
    return by_field, summary


def _location(target: str) -> str:
    """``rule_1-w0-value`` -> ``Condition 2, filter 1, Value``: where a person finds the input."""
    match = ROW_TARGET.fullmatch(target)
    if match is None:
        return "Rule"
    address, filter_index, name = match.groups()
    parts = [f"Condition {row_label(address)}" if address != ROOT else "Rule"]
    if filter_index is not None:
        parts.append(f"filter {int(filter_index) + 1}")
    if name:
        parts.append(str(FIELD_LABELS.get(name, name)))
    return ", ".join(parts)


def _anchor(target: str) -> str:
    """The id to jump to: the input itself, or the row when the problem is about the row as a whole."""
    match = ROW_TARGET.fullmatch(target)
    if match is not None and match.group(3):
        return f"id_{target}"
    return f"node-{target}"


def is_rule_path(path: str) -> bool:
    return path == "rule" or path.startswith(("rule.", "rule["))
