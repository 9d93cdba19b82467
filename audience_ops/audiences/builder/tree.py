"""The condition tree as form rows: v1 rule JSON <-> flat form data, both ways, and edits of the row tree.

Every condition node is a *row* addressed by its position: the root is ``rule``, the children of a group at
``P`` are ``P_0``, ``P_1``, ..., and the property filters of an event row ``P`` are ``P-w0``, ``P-w1``, ....
A row's inputs are named ``<address>-<field>`` (``rule_1-op``, ``rule_1-w0-value``), so the whole tree travels
in one ordinary form post, with or without JavaScript, and htmx can re-render any subtree on its own.

The conversion is lossless for every valid rule: ``form_data_to_rule(rule_to_form_data(rule)).rule`` is the
same JSON as ``rule`` (``1`` stays ``1`` and ``1.0`` stays ``1.0``, an explicit ``{"gte": 1}`` count stays
and an omitted one stays omitted, ``"where": []`` survives). That is what lets any imported audience open in
the builder and save back without a new version. Nothing here touches the database or Django forms.

Values the form cannot read (``"abc"`` typed as a number, a ``NOT`` group holding two conditions) become
:class:`TreeProblem` entries naming the JSON path and the input they belong to; everything else is left to the
project validator (:func:`audience_ops.audiences.validation.validate_rule`), whose problems
:meth:`TreeResult.field_for` maps back to inputs.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

ROOT = "rule"
GROUP_KINDS = ("all", "any", "not")
LEAF_KINDS = ("attribute", "event", "in_audience")
NODE_KINDS = GROUP_KINDS + LEAF_KINDS

ATTRIBUTE_FIELDS = ("attribute", "op", "value_type", "value")
EVENT_FIELDS = ("event", "mode", "count_op", "count_n", "window", "window_n", "window_from", "window_to", "where_empty")
FILTER_FIELDS = ("property", "op", "value_type", "value")
MEMBERSHIP_FIELDS = ("in_audience",)
FIELDS_BY_KIND: dict[str, tuple[str, ...]] = {
    "all": (),
    "any": (),
    "not": (),
    "attribute": ATTRIBUTE_FIELDS,
    "event": EVENT_FIELDS,
    "in_audience": MEMBERSHIP_FIELDS,
}

OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "exists", "not_exists")
LIST_OPS = ("in", "not_in")
VALUELESS_OPS = ("exists", "not_exists")
VALUE_TYPES = ("string", "number", "true", "false", "null", "json")
CONSTANTS = {"true": True, "false": False, "null": None}
EVENT_MODES = ("did", "count", "last", "first")
COUNT_OPS = ("gte", "gt", "eq", "lte", "lt")
WINDOW_UNITS = ("minutes", "hours", "days")
WINDOWS = ("", *WINDOW_UNITS, "days_ago")  # "" is all time

# Bounds on what a posted form may ask the server to build; far above anything a person builds by hand.
MAX_CHILDREN = 100
MAX_FILTERS = 50
MAX_ADDRESS_LEVELS = 8

NUMBER_PATTERN = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
INTEGER_PATTERN = re.compile(r"-?\d{1,19}")
ADDRESS_PATTERN = rf"rule(?:_\d{{1,3}}){{0,{MAX_ADDRESS_LEVELS}}}"
NODE_KEY = re.compile(rf"^({ADDRESS_PATTERN})-kind$")
FILTER_KEY = re.compile(rf"^({ADDRESS_PATTERN})-w(\d{{1,3}})-(?:{'|'.join(FILTER_FIELDS)})$")


class TreeError(ValueError):
    """A rule the builder cannot show as rows, or an edit that names no row."""


@dataclass
class Row:
    """One condition node as the builder holds it: raw input texts, child rows, and property-filter rows."""

    kind: str
    values: dict[str, str] = field(default_factory=dict)
    children: list[Row] = field(default_factory=list)
    filters: list[dict[str, str]] = field(default_factory=list)
    address: str = ROOT

    @property
    def is_group(self) -> bool:
        return self.kind in GROUP_KINDS

    def walk(self) -> Iterator[Row]:
        yield self
        for child in self.children:
            yield from child.walk()

    def value(self, name: str) -> str:
        return self.values.get(name, "")


@dataclass(frozen=True)
class TreeProblem:
    """Something the form could not turn into JSON: where in the rule (JSON path), what, and which input."""

    path: str
    message: str
    field: str


@dataclass(frozen=True)
class _Target:
    address: str
    kind: str  # a node kind, or "filter" for a property filter row
    values: Mapping[str, str]


@dataclass
class TreeResult:
    """The rule a form holds, the problems met reading it, and where each JSON path sits in the form."""

    rule: Any
    problems: list[TreeProblem] = field(default_factory=list)
    targets: dict[str, _Target] = field(default_factory=dict)

    def field_for(self, path: str) -> str | None:
        """The input (``rule_1-window_n``) or row (``rule_1``) a validator problem at ``path`` belongs to.

        None when ``path`` is not inside the rule (``slug``, ``exclude[0]``, ...).
        """
        for known in sorted(self.targets, key=len, reverse=True):
            if _within(path, known):
                target = self.targets[known]
                return _field_for_suffix(target, path[len(known) :])
        return None

    def shadows(self, path: str) -> bool:
        """Whether a validator problem at ``path`` repeats one the form already reported at or above it."""
        return any(_within(path, problem.path) for problem in self.problems)


# --- JSON -> rows -> form data ----------------------------------------------------------------------------


def rule_to_form_data(rule: Any) -> dict[str, str]:
    """The flat form data (``{"rule-kind": "all", "rule_0-kind": "event", ...}``) showing ``rule``."""
    return row_to_form_data(rule_to_row(rule))


def rule_to_row(node: Any) -> Row:
    """The (numbered) row tree of a rule; raises :class:`TreeError` for a node that is none of the six kinds."""
    return renumber(_node_row(node))


def _node_row(node: Any) -> Row:
    if not isinstance(node, Mapping):
        raise TreeError(f"a condition must be an object, got {type(node).__name__}")
    kinds = [kind for kind in NODE_KINDS if kind in node]
    if len(kinds) != 1:
        raise TreeError(f"a condition is exactly one of {', '.join(NODE_KINDS)}, got {sorted(node)}")
    kind = kinds[0]
    if kind in ("all", "any"):
        children = node[kind]
        if not isinstance(children, list):
            raise TreeError(f'"{kind}" must hold a list of conditions')
        return Row(kind=kind, children=[_node_row(child) for child in children])
    if kind == "not":
        return Row(kind="not", children=[_node_row(node["not"])])
    if kind == "attribute":
        op = _text(node.get("op"))
        value_type, value = encode_value(op, node)
        return Row(
            kind="attribute",
            values={"attribute": _text(node["attribute"]), "op": op, "value_type": value_type, "value": value},
        )
    if kind == "in_audience":
        return Row(kind="in_audience", values={"in_audience": _text(node["in_audience"])})
    return _event_row(node)


def _event_row(node: Mapping[str, Any]) -> Row:
    values = new_row("event").values | {"event": _text(node["event"]), "window": "", "window_n": ""}
    if "count" in node:
        count = node["count"]
        if not isinstance(count, Mapping) or len(count) != 1:
            raise TreeError('"count" must hold one comparison such as {"gte": 2}')
        ((op, number),) = count.items()
        values.update(mode="count", count_op=_text(op), count_n=_number_text(number))
        window = node.get("within")
    elif "last" in node or "first" in node:
        mode = "last" if "last" in node else "first"
        values["mode"] = mode
        window = node[mode]
    else:
        values["mode"] = "did"
        window = node.get("within")
    if window is not None:
        values.update(_window_values(window))
    filters = []
    where = node.get("where")
    if where is not None:
        if not isinstance(where, list):
            raise TreeError('"where" must be a list of property filters')
        for item in where:
            if not isinstance(item, Mapping):
                raise TreeError("a property filter must be an object")
            op = _text(item.get("op"))
            value_type, value = encode_value(op, item)
            filters.append(
                {"property": _text(item.get("property")), "op": op, "value_type": value_type, "value": value}
            )
        if not where:
            values["where_empty"] = "1"
    return Row(kind="event", values=values, filters=filters)


def _window_values(window: Any) -> dict[str, str]:
    if not isinstance(window, Mapping) or len(window) != 1:
        raise TreeError('a window is one of {"minutes": N}, {"hours": N}, {"days": N} or {"days_ago": [A, B]}')
    ((unit, amount),) = window.items()
    if unit == "days_ago":
        if not isinstance(amount, list) or len(amount) != 2:
            raise TreeError('"days_ago" must be [A, B]')
        return {"window": "days_ago", "window_from": _number_text(amount[0]), "window_to": _number_text(amount[1])}
    if unit not in WINDOW_UNITS:
        raise TreeError(f"unknown window unit {unit!r}")
    return {"window": unit, "window_n": _number_text(amount)}


def encode_value(op: str, node: Mapping[str, Any]) -> tuple[str, str]:
    """``(value_type, text)`` for the value of an attribute condition or property filter.

    Lists of plain strings become one string per line and lists of numbers one number per line; anything a
    line cannot hold exactly (an empty string, surrounding spaces, a line break, a mixed list) is written as
    JSON, so reading it back gives the very same value.
    """
    if "value" not in node:
        return "string", ""
    value = node["value"]
    if op in LIST_OPS:
        if isinstance(value, list) and value and all(_fits_a_line(item) for item in value):
            return "string", "\n".join(value)
        if isinstance(value, list) and value and all(_is_number(item) for item in value):
            return "number", "\n".join(_number_text(item) for item in value)
        return "json", _json_text(value)
    if value is None or isinstance(value, bool):
        return _json_text(value), ""
    if _is_number(value):
        return "number", _number_text(value)
    if isinstance(value, str) and "\r" not in value:
        return "string", value
    return "json", _json_text(value)


def row_to_form_data(root: Row) -> dict[str, str]:
    """Flat form data for a row tree, numbering rows from their position (``rule``, ``rule_0``, ...)."""
    renumber(root)
    data: dict[str, str] = {}
    for row in root.walk():
        data[f"{row.address}-kind"] = row.kind
        for name in FIELDS_BY_KIND.get(row.kind, ()):
            data[f"{row.address}-{name}"] = row.value(name)
        for index, item in enumerate(row.filters):
            for name in FILTER_FIELDS:
                data[f"{row.address}-w{index}-{name}"] = item.get(name, "")
    return data


def renumber(root: Row, address: str = ROOT) -> Row:
    """Give every row the address of its position, so addresses are contiguous after an edit."""
    root.address = address
    for index, child in enumerate(root.children):
        renumber(child, f"{address}_{index}")
    return root


# --- form data -> rows -> JSON ----------------------------------------------------------------------------


def form_data_to_row(data: Mapping[str, Any]) -> Row:
    """The row tree a posted form holds; rows keep the addresses they were posted with (gaps allowed).

    A form without ``rule-kind`` holds an empty ``all`` group. Children are ordered by their index.
    """
    children: dict[str, set[int]] = defaultdict(set)
    filters: dict[str, set[int]] = defaultdict(set)
    for key in data:
        if match := NODE_KEY.match(key):
            address = match.group(1)
            if address != ROOT:
                parent, _sep, index = address.rpartition("_")
                children[parent].add(int(index))
        elif match := FILTER_KEY.match(key):
            filters[match.group(1)].add(int(match.group(2)))

    def build(address: str) -> Row:
        kind = _text(_get(data, f"{address}-kind"))
        row = Row(kind=kind, address=address)
        row.values = {name: _text(_get(data, f"{address}-{name}")) for name in FIELDS_BY_KIND.get(kind, ())}
        if kind in GROUP_KINDS:
            found = sorted(children.get(address, ()))[:MAX_CHILDREN]
            row.children = [build(f"{address}_{index}") for index in found]
        if kind == "event":
            found = sorted(filters.get(address, ()))[:MAX_FILTERS]
            row.filters = [
                {name: _text(_get(data, f"{address}-w{index}-{name}")) for name in FILTER_FIELDS} for index in found
            ]
        return row

    if _get(data, f"{ROOT}-kind") is None:
        return Row(kind="all")
    return build(ROOT)


def form_data_to_rule(data: Mapping[str, Any]) -> TreeResult:
    """The rule a posted form holds, with the problems met reading it (see :func:`row_to_rule`)."""
    return row_to_rule(renumber(form_data_to_row(data)))


def row_to_rule(root: Row) -> TreeResult:
    """The v1 rule of a row tree, plus problems for inputs that could not be read and the path -> row map."""
    result = TreeResult(rule=None)
    result.rule = _row_rule(root, ROOT, result)
    return result


def _row_rule(row: Row, path: str, result: TreeResult) -> Any:
    result.targets[path] = _Target(row.address, row.kind, row.values)
    kind = row.kind
    if kind in ("all", "any"):
        return {kind: [_row_rule(child, f"{path}.{kind}[{index}]", result) for index, child in enumerate(row.children)]}
    if kind == "not":
        if len(row.children) != 1:
            found = "none" if not row.children else str(len(row.children))
            _problem(result, path, f"a NOT group holds exactly one condition, it has {found}", f"{row.address}-kind")
        inner = _row_rule(row.children[0], f"{path}.not", result) if row.children else {"all": []}
        return {"not": inner}
    if kind == "attribute":
        node: dict[str, Any] = {"attribute": row.value("attribute"), "op": row.value("op")}
        _read_value(node, row.values, path, row.address, result)
        return node
    if kind == "in_audience":
        if not row.value("in_audience"):
            _problem(result, f"{path}.in_audience", "choose an audience", f"{row.address}-in_audience")
        return {"in_audience": row.value("in_audience")}
    if kind == "event":
        return _event_rule(row, path, result)
    _problem(result, path, f"unknown condition kind {kind!r}", row.address)
    return {}


def _event_rule(row: Row, path: str, result: TreeResult) -> dict[str, Any]:
    node: dict[str, Any] = {"event": row.value("event")}
    where = []
    for index, item in enumerate(row.filters):
        item_path = f"{path}.where[{index}]"
        address = f"{row.address}-w{index}"
        result.targets[item_path] = _Target(address, "filter", item)
        condition: dict[str, Any] = {"property": item.get("property", ""), "op": item.get("op", "")}
        _read_value(condition, item, item_path, address, result)
        where.append(condition)
    if where or row.value("where_empty"):
        node["where"] = where
    mode = row.value("mode") or "did"
    if mode == "count":
        op = row.value("count_op")
        text = row.value("count_n").strip()
        number = _parse_int(text)
        if number is None:
            _problem(result, f"{path}.count", f'N must be a whole number, got "{text}"', f"{row.address}-count_n")
        node["count"] = {op: text if number is None else number}
    if mode in ("did", "count"):
        window = _read_window(row, f"{path}.within", result)
        if window is not None:
            node["within"] = window
    elif mode in ("last", "first"):
        window = _read_window(row, f"{path}.{mode}", result)
        if window is None:
            window = {}
            _problem(
                result,
                f"{path}.{mode}",
                f'choose a window: "{mode}" needs one, such as the last 7 days or 25 to 45 days ago',
                f"{row.address}-window",
            )
        node[mode] = window
    else:
        _problem(result, path, f"unknown event mode {mode!r} (did, count, last or first)", f"{row.address}-mode")
    return node


def _read_window(row: Row, path: str, result: TreeResult) -> dict[str, Any] | None:
    unit = row.value("window")
    if unit == "":
        return None
    if unit in WINDOW_UNITS:
        text = row.value("window_n").strip()
        number = _parse_int(text)
        if number is None:
            _problem(result, f"{path}.{unit}", f'N must be a whole number, got "{text}"', f"{row.address}-window_n")
            return {unit: text}
        return {unit: number}
    if unit == "days_ago":
        bounds: list[Any] = []
        for name in ("window_from", "window_to"):
            text = row.value(name).strip()
            number = _parse_int(text)
            if number is None:
                side = "from" if name == "window_from" else "to"
                _problem(result, path, f'days ago {side} must be a whole number, got "{text}"', f"{row.address}-{name}")
            bounds.append(text if number is None else number)
        return {"days_ago": bounds}
    _problem(result, path, f"unknown window {unit!r}", f"{row.address}-window")
    return {}


def _read_value(node: dict[str, Any], values: Mapping[str, str], path: str, address: str, result: TreeResult) -> None:
    present, value, message = decode_value(node["op"], values.get("value_type", ""), values.get("value", ""))
    if message is not None:
        _problem(result, f"{path}.value", message, f"{address}-value")
    if present:
        node["value"] = value


def decode_value(op: str, value_type: str, text: str) -> tuple[bool, Any, str | None]:
    """``(has_value, value, problem)`` for a value typed as ``value_type``; the inverse of :func:`encode_value`.

    ``in``/``not_in`` read the text as one item per line (blank lines skipped, each line trimmed); other ops
    take the text exactly as typed when it is a string, so ``" gold"`` stays ``" gold"``.
    """
    if op in VALUELESS_OPS:
        return False, None, None
    text = text.replace("\r\n", "\n")
    if value_type == "json":
        try:
            return True, json.loads(text, parse_constant=_reject_constant), None
        except ValueError as exc:
            return True, text, f"is not valid JSON: {getattr(exc, 'msg', str(exc))}"
    if value_type in CONSTANTS:
        constant = CONSTANTS[value_type]
        return True, ([constant] if op in LIST_OPS else constant), None
    if value_type == "string":
        if op in LIST_OPS:
            return True, [line.strip() for line in text.split("\n") if line.strip()], None
        return True, text, None
    if value_type == "number":
        if op in LIST_OPS:
            items = []
            for number, line in enumerate((line.strip() for line in text.split("\n") if line.strip()), start=1):
                parsed = parse_number(line)
                if parsed is None:
                    return True, text, f'line {number}: "{line}" is not a number'
                items.append(parsed)
            return True, items, None
        parsed = parse_number(text.strip())
        if parsed is None:
            return True, text, f'"{text.strip()}" is not a number'
        return True, parsed, None
    return True, text, f"unknown value type {value_type!r} (one of {', '.join(VALUE_TYPES)})"


def parse_number(text: str) -> int | float | None:
    """A JSON number written as text (``30``, ``-2.5``, ``1e+20``), or None; integers stay integers."""
    if not NUMBER_PATTERN.fullmatch(text):
        return None
    value = json.loads(text)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# --- edits ------------------------------------------------------------------------------------------------


def new_row(kind: str) -> Row:
    """A blank row of ``kind`` (``group`` is an empty ``all`` group), pre-filled with the usual choices."""
    if kind in ("group", "all", "any"):
        return Row(kind="all" if kind == "group" else kind)
    if kind == "not":
        return Row(kind="not")
    if kind == "attribute":
        return Row(kind="attribute", values={"attribute": "", "op": "eq", "value_type": "string", "value": ""})
    if kind == "event":
        values = dict.fromkeys(EVENT_FIELDS, "")
        values.update(mode="did", count_op="gte", count_n="1", window="days", window_n="7")
        return Row(kind="event", values=values)
    if kind == "in_audience":
        return Row(kind="in_audience", values={"in_audience": ""})
    raise TreeError(f"cannot add a {kind!r} condition (attribute, event, in_audience or group)")


def new_filter() -> dict[str, str]:
    return {"property": "", "op": "eq", "value_type": "string", "value": ""}


def row_find(root: Row, address: str) -> Row | None:
    return next((row for row in root.walk() if row.address == address), None)


def row_parent(root: Row, address: str) -> Row | None:
    return next((row for row in root.walk() if any(child.address == address for child in row.children)), None)


@dataclass
class Edit:
    """The outcome of an edit: the new root, the row to re-render, and the row to focus afterwards."""

    root: Row
    container: Row
    focus: Row


def row_add(root: Row, *, parent: str, kind: str) -> Edit:
    """Append a blank ``kind`` row to the group at ``parent``.

    Adding to a root that is a single condition first wraps it in an ``all`` group, so a rule written as one
    event can grow into "this and that" without retyping it.
    """
    target = row_find(root, parent)
    if target is None:
        raise TreeError(f"no condition at {parent}")
    added = new_row(kind)
    if not target.is_group:
        if target is not root:
            raise TreeError(f"{parent} is a condition, not a group: conditions are added to groups")
        root = Row(kind="all", children=[target])
        target = root
    if len(target.children) >= MAX_CHILDREN:
        raise TreeError(f"a group holds at most {MAX_CHILDREN} conditions")
    target.children.append(added)
    renumber(root)
    return Edit(root=root, container=target, focus=added)


def row_remove(root: Row, *, address: str) -> Edit:
    """Remove the row at ``address``; removing the root leaves an empty ``all`` group (every profile)."""
    if address == root.address:
        root = Row(kind="all")
        return Edit(root=root, container=root, focus=root)
    parent = row_parent(root, address)
    if parent is None:
        raise TreeError(f"no condition at {address}")
    parent.children = [child for child in parent.children if child.address != address]
    renumber(root)
    return Edit(root=root, container=parent, focus=parent)


def filter_add(root: Row, *, address: str) -> Edit:
    """Append a blank property filter to the event row at ``address``."""
    row = row_find(root, address)
    if row is None or row.kind != "event":
        raise TreeError(f"no event condition at {address}")
    if len(row.filters) >= MAX_FILTERS:
        raise TreeError(f"an event condition holds at most {MAX_FILTERS} property filters")
    row.filters.append(new_filter())
    renumber(root)
    return Edit(root=root, container=row, focus=row)


def filter_remove(root: Row, *, address: str) -> Edit:
    """Remove the property filter at ``address`` (``rule_1-w0``)."""
    row_address, _sep, index_text = address.rpartition("-w")
    row = row_find(root, row_address)
    index = int(index_text) if index_text.isdigit() else -1
    if row is None or row.kind != "event" or not 0 <= index < len(row.filters):
        raise TreeError(f"no property filter at {address}")
    del row.filters[index]
    if not row.filters:
        row.values["where_empty"] = ""
    renumber(root)
    return Edit(root=root, container=row, focus=row)


def group_depth(address: str) -> int:
    """How many groups sit above the row at ``address`` (the root has none)."""
    return address.count("_")


# --- helpers ----------------------------------------------------------------------------------------------


def _field_for_suffix(target: _Target, suffix: str) -> str:
    """Map what follows a row's JSON path (``.within.days``, ``.value[2]``) to one of its inputs."""
    key = re.split(r"[.\[]", suffix.lstrip("."), maxsplit=1)[0] if suffix else ""
    address = target.address
    if target.kind in ("attribute", "filter"):
        name = "attribute" if target.kind == "attribute" else "property"
        if key in (name, "op", "value"):
            return f"{address}-{key}"
        return address
    if target.kind == "event":
        if key == "event":
            return f"{address}-event"
        if key == "count":
            return f"{address}-count_n" if suffix.count(".") > 1 else f"{address}-count_op"
        if key in ("within", "last", "first"):
            if suffix.count(".") > 1:
                return f"{address}-window_n" if suffix.rsplit(".", 1)[1] in WINDOW_UNITS else f"{address}-window"
            return f"{address}-window_from" if target.values.get("window") == "days_ago" else f"{address}-window"
        return address
    if target.kind == "in_audience":
        return f"{address}-in_audience" if key == "in_audience" else address
    if target.kind in GROUP_KINDS and key in GROUP_KINDS:
        return f"{address}-kind"
    return address


def _within(path: str, outer: str) -> bool:
    """Whether ``path`` is ``outer`` or lies inside it (``rule.all[1]`` is not inside ``rule.all[10]``)."""
    return path == outer or path.startswith((outer + ".", outer + "["))


def _problem(result: TreeResult, path: str, message: str, field_name: str) -> None:
    result.problems.append(TreeProblem(path=path, message=message, field=field_name))


def _get(data: Mapping[str, Any], key: str) -> Any:
    return data.get(key)


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _parse_int(text: str) -> int | None:
    return int(text) if INTEGER_PATTERN.fullmatch(text) else None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number_text(value: Any) -> str:
    return _json_text(value) if _is_number(value) else _text(value)


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _fits_a_line(value: Any) -> bool:
    return isinstance(value, str) and value != "" and value == value.strip() and "\n" not in value and "\r" not in value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")
