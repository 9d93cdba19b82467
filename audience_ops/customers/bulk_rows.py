"""Bulk inserts and updates of model instances, written the fast way for each database.

Django's ``bulk_create`` and ``bulk_update`` compile SQL and bind values row by row; for an ingestion of
thousands of rows per chunk that was most of the time spent. Here:

- PostgreSQL: ``COPY`` for inserts (new ids taken from the table's sequence first), and one
  ``UPDATE ... FROM (VALUES ...)`` per thousand rows for updates.
- SQLite: one prepared statement run with ``executemany`` (in process, no round trips) for both. New ids
  continue ``sqlite_sequence``; that is safe because the project's SQLite transactions begin IMMEDIATE, so
  the writer already holds the write lock when it reads the sequence.

Values go through each field's own database adaptation, except for the field types whose Python values the
driver takes as they are, so other fields added to the models later are written correctly too.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from operator import attrgetter
from typing import Any

from django.db import connection, models

UPDATE_BATCH_SIZE = 1000

# Field types whose Python values both drivers take as they are.
_PLAIN_FIELDS: tuple[type[models.Field], ...] = (
    models.CharField,
    models.TextField,
    models.IntegerField,
    models.BooleanField,
)


def rows_insert(model: type[models.Model], objects: list[models.Model]) -> None:
    """Insert ``objects`` (all new), giving those without a primary key one."""
    if not objects:
        return
    meta = model._meta
    if getattr(objects[0], meta.pk.attname) is None:
        for obj, pk in zip(objects, _ids_allocate(model, len(objects)), strict=True):
            setattr(obj, meta.pk.attname, pk)
    fields = meta.concrete_fields
    rows = _rows(objects, fields)
    quote = connection.ops.quote_name
    table, columns = quote(meta.db_table), ", ".join(quote(field.column) for field in fields)
    if connection.vendor == "postgresql":
        # The raw psycopg cursor bypasses Django's error translation: wrap it, so a unique violation is still
        # an IntegrityError (which the tracking API retries).
        sql = f"COPY {table} ({columns}) FROM STDIN"
        with connection.cursor() as cursor, connection.wrap_database_errors, cursor.cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
    else:
        placeholders = ", ".join(["%s"] * len(fields))
        with connection.cursor() as cursor:
            cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({placeholders})", rows)


def rows_update(model: type[models.Model], objects: list[models.Model], field_names: list[str]) -> None:
    """Save ``field_names`` of ``objects`` (which have primary keys) in as few statements as the database allows."""
    if not objects:
        return
    meta = model._meta
    quote = connection.ops.quote_name
    fields = [*(meta.get_field(name) for name in field_names), meta.pk]
    table, pk = quote(meta.db_table), quote(meta.pk.column)
    rows = _rows(objects, fields)
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields[:-1])
            cursor.executemany(f"UPDATE {table} SET {assignments} WHERE {pk} = %s", rows)
            return
        row = "(" + ", ".join(f"%s::{field.db_type(connection)}" for field in fields) + ")"
        assignments = ", ".join(f"{quote(field.column)} = v.{quote(field.column)}" for field in fields[:-1])
        names = ", ".join(quote(field.column) for field in fields)
        for start in range(0, len(rows), UPDATE_BATCH_SIZE):
            batch = rows[start : start + UPDATE_BATCH_SIZE]
            cursor.execute(
                f"UPDATE {table} SET {assignments} FROM (VALUES {', '.join([row] * len(batch))}) AS v({names}) "
                f"WHERE {table}.{pk} = v.{pk}",
                [value for values in batch for value in values],
            )


def _rows(objects: list[models.Model], fields: list[models.Field]) -> list[list[Any]]:
    """The database values of ``fields`` for each object, in field order."""
    values = attrgetter(*(field.attname for field in fields))
    adapters = [(index, adapter) for index, field in enumerate(fields) if (adapter := _adapter(field))]
    rows = []
    for obj in objects:
        row = list(values(obj)) if len(fields) > 1 else [values(obj)]
        for index, adapter in adapters:
            row[index] = adapter(row[index])
        rows.append(row)
    return rows


def _adapter(field: models.Field) -> Callable[[Any], Any] | None:
    """How to turn ``field``'s attribute value into what the driver writes; None when it is written as it is."""
    if isinstance(field, models.JSONField):
        return partial(connection.ops.adapt_json_value, encoder=field.encoder)
    target = field.target_field if field.is_relation else field
    if isinstance(target, _PLAIN_FIELDS):
        return None
    if isinstance(target, models.DateTimeField) and connection.vendor == "postgresql":
        return None  # psycopg writes aware datetimes as they are; SQLite stores Django's own text form
    return partial(field.get_db_prep_save, connection=connection)


def _ids_allocate(model: type[models.Model], count: int) -> list[int]:
    """``count`` new primary keys, as the table's own INSERTs would have taken them."""
    meta = model._meta
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [meta.db_table, meta.pk.column, count],
            )
            return [row[0] for row in cursor.fetchall()]
        # AUTOINCREMENT never reuses an id, not even a deleted one: continue from the highest ever given.
        cursor.execute(
            f"SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = %s), 0), "
            f"COALESCE((SELECT MAX({connection.ops.quote_name(meta.pk.column)}) FROM "
            f"{connection.ops.quote_name(meta.db_table)}), 0))",
            [meta.db_table],
        )
        start = cursor.fetchone()[0]
    return list(range(start + 1, start + 1 + count))
