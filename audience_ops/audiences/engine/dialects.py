"""The SQL fragments that differ between PostgreSQL and SQLite.

A JSON test on a missing key is SQL NULL. Under a negation that would be wrong (``NOT NULL`` is NULL, so
``ne`` would drop a profile without the attribute), so there the compiler asks for the *two-valued* form,
``COALESCE(..., FALSE)``, which it can wrap in ``NOT (...)`` to get "not" in the sense of the definition
format. Everywhere else (``two_valued=False``) the bare comparison is used: in a WHERE, under any mix of AND
and OR, a NULL drops the row exactly as FALSE does, and PostgreSQL estimates ``(traits -> 'k') = '"v"'`` as an
ordinary equality (a small fraction of the rows), where the same test inside ``COALESCE`` was estimated at half
the table (500,003 of 1,000,006 profiles for 48,111), which inflated the cost enough to switch on JIT
compilation for nothing. JSON values are compared with JSON equality: type and value, so
``"1"`` is not ``1``, ``true`` is not ``1``, and ``1`` equals ``1.0``.

PostgreSQL reads ``jsonb`` with ``->`` (the key is a bound parameter, so any key works: dots, spaces,
quotes). SQLite stores JSON as text: ``json_type`` tells ``true`` from ``1`` and ``"1"`` from ``1``; keys that
are plain printable ASCII are read with a quoted JSON path, any other key (quotes, backslashes, non-ASCII,
which SQLite before 3.45 cannot address by path) through ``json_each``, which compares decoded keys.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from typing import Any

# Keys SQLite (any version) can address with $."key": printable ASCII without a double quote or backslash,
# which is also exactly how Python's json.dumps writes them, so the path compares equal to the stored key.
_SQLITE_PATH_SAFE_KEY = re.compile(r"^[\x20-\x21\x23-\x5b\x5d-\x7e]*$")

IDENTIFIER_COLUMNS = ("email", "phone", "external_id")
COMPARISON_SQL = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "eq": "="}
FALSE = "(1 = 0)"
TRUE = "(1 = 1)"


@dataclass
class Sql:
    """A piece of SQL with its parameters, in the order their ``%s`` placeholders appear."""

    text: str
    params: list[Any] = field(default_factory=list)

    def __str__(self) -> str:
        return self.text


def join_sql(separator: str, parts: list[Sql]) -> Sql:
    return Sql(separator.join(part.text for part in parts), [param for part in parts for param in part.params])


def _false_when_null(test: str, params: list[Any], two_valued: bool) -> Sql:
    """``test`` as it is, or wrapped so that NULL (a missing key) reads as FALSE."""
    return Sql(f"COALESCE({test}, FALSE)" if two_valued else f"({test})", params)


class Dialect:
    """The common interface; see :class:`PostgresDialect` and :class:`SqliteDialect`."""

    vendor = ""
    #: appended to an ORDER BY expression to sort strings by bytes
    byte_order_collation = ""

    def datetime_param(self, value: dt.datetime) -> Any:
        """A timestamp parameter comparable with ``customers_event.occurred_at``."""
        raise NotImplementedError

    # JSON column (traits, properties), key given as a Python string. ``two_valued``: never NULL (see above).
    def json_is_not_null(self, column: str, key: str, *, two_valued: bool = True) -> Sql:
        raise NotImplementedError

    def json_eq(self, column: str, key: str, value: Any, *, two_valued: bool = True) -> Sql:
        raise NotImplementedError

    def json_compare(self, column: str, key: str, op: str, number: int | float, *, two_valued: bool = True) -> Sql:
        raise NotImplementedError

    def json_contains(self, column: str, key: str, text: str, *, two_valued: bool = True) -> Sql:
        raise NotImplementedError

    # Plain text column (email, phone, external_id): NULL means missing.
    def text_eq(self, column: str, value: Any) -> Sql:
        if not isinstance(value, str):
            # Identifier columns only ever hold strings: a number, true/false or null is never equal.
            return Sql(FALSE)
        return Sql(f"({column} IS NOT NULL AND {column} = %s)", [value])

    def text_is_not_null(self, column: str) -> Sql:
        return Sql(f"({column} IS NOT NULL)")

    def text_contains(self, column: str, text: str) -> Sql:
        raise NotImplementedError


class PostgresDialect(Dialect):
    vendor = "postgresql"
    byte_order_collation = ' COLLATE "C"'

    def datetime_param(self, value: dt.datetime) -> Any:
        return value.astimezone(dt.UTC)

    def _value(self, column: str, key: str) -> Sql:
        return Sql(f"({column} -> CAST(%s AS text))", [key])

    def json_is_not_null(self, column: str, key: str, *, two_valued: bool = True) -> Sql:
        value = self._value(column, key)
        return _false_when_null(f"jsonb_typeof{value.text} <> 'null'", value.params, two_valued)

    def json_eq(self, column: str, key: str, value: Any, *, two_valued: bool = True) -> Sql:
        extracted = self._value(column, key)
        if value is None:
            return _false_when_null(f"jsonb_typeof{extracted.text} = 'null'", extracted.params, two_valued)
        # jsonb equality is JSON equality: typed, numbers compared numerically.
        return _false_when_null(
            f"{extracted.text} = CAST(%s AS jsonb)", [*extracted.params, json.dumps(value)], two_valued
        )

    def json_compare(self, column: str, key: str, op: str, number: int | float, *, two_valued: bool = True) -> Sql:
        extracted = self._value(column, key)
        # CASE guarantees the cast only runs on JSON numbers (a plain AND may be evaluated in any order). A
        # missing key makes jsonb_typeof NULL, which takes the ELSE branch: this is never NULL either way.
        return Sql(
            f"(CASE WHEN jsonb_typeof{extracted.text} = 'number' "
            f"THEN CAST({extracted.text} AS numeric) {COMPARISON_SQL[op]} CAST(%s AS numeric) ELSE FALSE END)",
            [*extracted.params, *extracted.params, json.dumps(number)],
        )

    def json_contains(self, column: str, key: str, text: str, *, two_valued: bool = True) -> Sql:
        extracted = self._value(column, key)
        return _false_when_null(
            f"jsonb_typeof{extracted.text} = 'string' AND strpos({extracted.text} #>> '{{}}', %s) > 0",
            [*extracted.params, *extracted.params, text],
            two_valued,
        )

    def text_contains(self, column: str, text: str) -> Sql:
        return Sql(f"({column} IS NOT NULL AND strpos({column}, %s) > 0)", [text])


class SqliteDialect(Dialect):
    vendor = "sqlite"

    def datetime_param(self, value: dt.datetime) -> Any:
        # Django stores datetimes as naive UTC text, str(datetime) style; the same format compares correctly.
        return str(value.astimezone(dt.UTC).replace(tzinfo=None))

    def _type_and_value(self, column: str, key: str) -> tuple[Sql, Sql]:
        if _SQLITE_PATH_SAFE_KEY.match(key):
            path = f'$."{key}"'
            return Sql(f"json_type({column}, %s)", [path]), Sql(f"json_extract({column}, %s)", [path])
        return (
            Sql(f"(SELECT j.type FROM json_each({column}) AS j WHERE j.key = %s)", [key]),
            Sql(f"(SELECT j.atom FROM json_each({column}) AS j WHERE j.key = %s)", [key]),
        )

    def json_is_not_null(self, column: str, key: str, *, two_valued: bool = True) -> Sql:
        type_sql, _value = self._type_and_value(column, key)
        return _false_when_null(f"{type_sql.text} <> 'null'", type_sql.params, two_valued)

    def json_eq(self, column: str, key: str, value: Any, *, two_valued: bool = True) -> Sql:
        type_sql, value_sql = self._type_and_value(column, key)
        if value is None:
            return _false_when_null(f"{type_sql.text} = 'null'", type_sql.params, two_valued)
        if isinstance(value, bool):
            return _false_when_null(f"{type_sql.text} = '{'true' if value else 'false'}'", type_sql.params, two_valued)
        if isinstance(value, str):
            return _false_when_null(
                f"{type_sql.text} = 'text' AND {value_sql.text} = %s",
                [*type_sql.params, *value_sql.params, value],
                two_valued,
            )
        return _false_when_null(
            f"{type_sql.text} IN ('integer', 'real') AND {value_sql.text} = %s",
            [*type_sql.params, *value_sql.params, value],
            two_valued,
        )

    def json_compare(self, column: str, key: str, op: str, number: int | float, *, two_valued: bool = True) -> Sql:
        type_sql, value_sql = self._type_and_value(column, key)
        return _false_when_null(
            f"{type_sql.text} IN ('integer', 'real') AND {value_sql.text} {COMPARISON_SQL[op]} %s",
            [*type_sql.params, *value_sql.params, number],
            two_valued,
        )

    def json_contains(self, column: str, key: str, text: str, *, two_valued: bool = True) -> Sql:
        type_sql, value_sql = self._type_and_value(column, key)
        # instr() is case-sensitive; LIKE is not.
        return _false_when_null(
            f"{type_sql.text} = 'text' AND instr({value_sql.text}, %s) > 0",
            [*type_sql.params, *value_sql.params, text],
            two_valued,
        )

    def text_contains(self, column: str, text: str) -> Sql:
        return Sql(f"({column} IS NOT NULL AND instr({column}, %s) > 0)", [text])


def dialect_for(connection: Any) -> Dialect:
    """The dialect of a Django database connection."""
    if connection.vendor == "postgresql":
        return PostgresDialect()
    if connection.vendor == "sqlite":
        return SqliteDialect()
    raise NotImplementedError(f"the audience engine supports PostgreSQL and SQLite, not {connection.vendor}")
