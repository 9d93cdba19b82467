"""A PostgreSQL warehouse: the current members of each synced audience and an append-only log of changes.

The adapter creates and migrates its own tables in the configured schema (see ``docs/destinations.md``):

- ``audience_members``: one row per (audience, profile) currently in the audience, with the mapped
  identifiers (SHA-256 hex or normalised raw values, per ``hash_identifiers``);
- ``membership_changes``: append-only, one row per entered/exited change, with the run that made it;
- ``staged_changes``: the adapter's own staging area (not for readers);
- ``schema_info``: the table layout version, so a later release can migrate in place.

A run's changes become visible atomically: each batch is written with ``COPY`` into ``staged_changes`` and
committed there (that is the acknowledgement the sync engine's ledger waits for), and
:meth:`finish_run` applies everything staged for the audience to ``audience_members`` and
``membership_changes`` in one transaction. A run that crashes leaves both visible tables exactly as the
previous run left them; its staged rows wait, and the next run publishes them with its own changes (the
engine calls ``finish_run`` even when a run plans nothing), so the warehouse catches up.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import urlsplit

import psycopg
from django import forms
from django.conf import settings
from django.utils.text import slugify
from psycopg import sql

from .. import normalise
from . import config_checks, config_fields
from .base import (
    Adapter,
    BatchResult,
    Capabilities,
    ConfigError,
    MatchStats,
    PermanentError,
    PreparedRow,
    RawIdentifiers,
    TransientError,
)

DEFAULT_SCHEMA = "audience_ops"
SCHEMA_VERSION = 1
BATCH_SIZE = 10_000
IDENTIFIERS = ("external_id", "email", "phone")
_CONFIG_KEYS = ("url", "schema", "hash_identifiers")
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

# Version 1 of the layout. Every statement is idempotent, so ensuring the tables is safe on each run.
_DDL_V1 = (
    "CREATE SCHEMA IF NOT EXISTS {schema}",
    "CREATE TABLE IF NOT EXISTS {schema}.schema_info (version integer NOT NULL)",
    """CREATE TABLE IF NOT EXISTS {schema}.audience_members (
        audience text NOT NULL,
        profile_id bigint NOT NULL,
        profile_key text NOT NULL,
        external_id text,
        email text,
        phone text,
        entered_at timestamptz NOT NULL,
        run_id bigint NOT NULL,
        PRIMARY KEY (audience, profile_id)
    )""",
    """CREATE TABLE IF NOT EXISTS {schema}.membership_changes (
        id bigserial PRIMARY KEY,
        audience text NOT NULL,
        profile_id bigint NOT NULL,
        profile_key text NOT NULL,
        change text NOT NULL CHECK (change IN ('entered', 'exited')),
        at timestamptz NOT NULL,
        run_id bigint NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS membership_changes_audience_at ON {schema}.membership_changes (audience, at)",
    """CREATE TABLE IF NOT EXISTS {schema}.staged_changes (
        seq bigserial PRIMARY KEY,
        audience text NOT NULL,
        profile_id bigint NOT NULL,
        profile_key text NOT NULL,
        change text NOT NULL,
        external_id text,
        email text,
        phone text,
        at timestamptz NOT NULL,
        run_id bigint NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS staged_changes_audience ON {schema}.staged_changes (audience, seq)",
)
# Connection errors that retrying cannot fix (wrong database, user or password, no right to connect).
_REFUSALS = ("does not exist", "authentication failed", "permission denied", "no pg_hba.conf entry")
_STAGED_COLUMNS = ("audience", "profile_id", "profile_key", "change", "external_id", "email", "phone", "at", "run_id")


def connect_timeout() -> int:
    """Seconds to wait for the warehouse to accept a connection (``DESTINATION_HTTP_TIMEOUT``'s connect part)."""
    value = getattr(settings, "DESTINATION_HTTP_TIMEOUT", (5.0, 30.0))
    return max(1, int(float(value[0])))


class PostgresWarehouseAdapter(Adapter):
    """Writes audience membership into a PostgreSQL database given by a connection URL."""

    kind: ClassVar[str] = "postgres_warehouse"
    label: ClassVar[str] = "PostgreSQL warehouse"
    # The URL usually carries the password: the whole URL is stored encrypted and shown masked.
    secret_keys: ClassVar[frozenset[str]] = frozenset({"url"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._connection: psycopg.Connection | None = None

    # --- configuration -------------------------------------------------------------------------------

    @classmethod
    def clean_config(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        errors: dict[str, str] = {}
        config_checks.unknown_keys(config, _CONFIG_KEYS, errors)
        url = config.get("url")
        if not isinstance(url, str) or urlsplit(url).scheme not in ("postgres", "postgresql"):
            errors["config.url"] = "required: a PostgreSQL URL such as postgresql://user:password@host:5432/db"
        schema = config.get("schema") or DEFAULT_SCHEMA
        if not isinstance(schema, str) or not _SCHEMA_NAME.match(schema):
            errors["config.schema"] = f"{schema!r} is not a lowercase schema name (letters, digits, _)"
        cleaned = {
            "url": url if isinstance(url, str) else "",
            "schema": schema,
            "hash_identifiers": config_checks.boolean(config, "hash_identifiers", True, errors),
        }
        if errors:
            raise ConfigError(errors)
        return cleaned

    @classmethod
    def form_fields(cls) -> dict[str, forms.Field]:
        return {
            "url": config_fields.secret("Connection URL", "postgresql://user:password@host:5432/database."),
            "schema": forms.CharField(
                label="Schema",
                initial=DEFAULT_SCHEMA,
                required=False,
                help_text="The schema the tables are created in (created if missing).",
            ),
            "hash_identifiers": forms.BooleanField(
                label="Hash identifiers",
                required=False,
                initial=True,
                help_text="Store SHA-256 hashes of email, phone and external id instead of the normalised values.",
            ),
        }

    # --- operations ----------------------------------------------------------------------------------

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            identifier_types=IDENTIFIERS,
            batch_size=int(getattr(settings, "WAREHOUSE_BATCH_SIZE", BATCH_SIZE)),
            supports_removal=True,
            hashes_identifiers=self.config["hash_identifiers"],
            commits_runs=True,
        )

    def prepare(self, raw: RawIdentifiers) -> PreparedRow:
        """Every member is a row (the warehouse keys on the profile); identifiers hashed or raw as configured."""
        hashed = self.config["hash_identifiers"]
        region = getattr(settings, "DEFAULT_PHONE_REGION", "US")
        email = normalise.normalise_email(raw.email) if raw.email else None
        phone = normalise.normalise_phone(raw.phone, default_region=region) if raw.phone else None
        external_id = normalise.normalise_external_id(raw.external_id)
        values = {"profile_key": external_id or f"profile:{raw.profile_id}"}
        for key, value in (("external_id", external_id), ("email", email), ("phone", phone)):
            if value:
                values[key] = normalise.hash_once(value) if hashed else value
        return PreparedRow(profile_id=raw.profile_id, values=values)

    def ensure_audience(self, *, remote_id: str | None, name: str, description: str) -> str:
        """Create or migrate the tables; the audience is keyed by its slug in every table."""
        self.ensure_tables()
        if remote_id:
            return remote_id
        return self.context.audience_slug if self.context is not None else slugify(name)[:200]

    def add(self, *, remote_id: str, rows: Sequence[PreparedRow], batch_id: str) -> BatchResult:
        return self._stage("entered", remote_id=remote_id, rows=rows)

    def remove(self, *, remote_id: str, rows: Sequence[PreparedRow], batch_id: str) -> BatchResult:
        return self._stage("exited", remote_id=remote_id, rows=rows)

    def finish_run(self, *, remote_id: str, ok: bool) -> None:
        """Publish everything staged for the audience, in staging order, in one transaction."""
        if not ok or not remote_id:
            return
        names = self._names()
        with self._transaction() as conn:
            # One publisher per audience at a time (two syncs could share a warehouse schema).
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"{self.config['schema']}.{remote_id}"])
            row = conn.execute(
                sql.SQL("SELECT max(seq) FROM {staged} WHERE audience = %s").format(**names), [remote_id]
            ).fetchone()
            upto = row[0] if row else None
            if upto is None:
                return
            params = {"audience": remote_id, "upto": upto}
            last = sql.SQL(
                "SELECT DISTINCT ON (profile_id) * FROM {staged} WHERE audience = %(audience)s AND seq <= %(upto)s "
                "ORDER BY profile_id, seq DESC"
            ).format(**names)
            conn.execute(
                sql.SQL(
                    "DELETE FROM {members} AS m USING ({last}) AS l WHERE m.audience = %(audience)s "
                    "AND m.profile_id = l.profile_id AND l.change = 'exited'"
                ).format(last=last, **names),
                params,
            )
            conn.execute(
                sql.SQL(
                    "INSERT INTO {members} (audience, profile_id, profile_key, external_id, email, phone, "
                    "entered_at, run_id) SELECT audience, profile_id, profile_key, external_id, email, phone, at, "
                    "run_id FROM ({last}) AS l WHERE l.change = 'entered' ON CONFLICT (audience, profile_id) DO "
                    "UPDATE SET profile_key = EXCLUDED.profile_key, external_id = EXCLUDED.external_id, "
                    "email = EXCLUDED.email, phone = EXCLUDED.phone"
                ).format(last=last, **names),
                params,
            )
            conn.execute(
                sql.SQL(
                    "INSERT INTO {changes} (audience, profile_id, profile_key, change, at, run_id) "
                    "SELECT audience, profile_id, profile_key, change, at, run_id FROM {staged} "
                    "WHERE audience = %(audience)s AND seq <= %(upto)s ORDER BY seq"
                ).format(**names),
                params,
            )
            conn.execute(
                sql.SQL("DELETE FROM {staged} WHERE audience = %(audience)s AND seq <= %(upto)s").format(**names),
                params,
            )

    def match_stats(self, *, remote_id: str) -> MatchStats:
        """The warehouse holds every member it was sent: its member count."""
        names = self._names()
        with self._transaction() as conn:
            row = conn.execute(
                sql.SQL("SELECT count(*) FROM {members} WHERE audience = %s").format(**names), [remote_id]
            ).fetchone()
        return MatchStats(matched=int(row[0]) if row else 0)

    def test_connection(self) -> str:
        """Connect and create (or check) the tables: proves the URL, the password and the schema rights."""
        self.ensure_tables()
        with self._transaction() as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
        return f"Connected to PostgreSQL {version}; tables ready in schema {self.config['schema']}."

    # --- tables --------------------------------------------------------------------------------------

    def ensure_tables(self) -> None:
        """Create the tables at the current layout version (idempotent; later versions migrate here)."""
        schema = sql.Identifier(self.config["schema"])
        with self._transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"audience_ops_ddl:{self.config['schema']}"])
            for statement in _DDL_V1:
                conn.execute(sql.SQL(statement).format(schema=schema))
            row = conn.execute(sql.SQL("SELECT max(version) FROM {}.schema_info").format(schema)).fetchone()
            current = row[0] if row else None
            if current is None:
                conn.execute(
                    sql.SQL("INSERT INTO {}.schema_info (version) VALUES (%s)").format(schema), [SCHEMA_VERSION]
                )
            elif current > SCHEMA_VERSION:
                raise PermanentError(
                    f"The warehouse tables are at layout version {current}, newer than this release "
                    f"({SCHEMA_VERSION}): upgrade Audience Ops"
                )

    def _names(self) -> dict[str, sql.Composable]:
        schema = self.config["schema"]
        return {
            "members": sql.Identifier(schema, "audience_members"),
            "changes": sql.Identifier(schema, "membership_changes"),
            "staged": sql.Identifier(schema, "staged_changes"),
        }

    def _stage(self, change: str, *, remote_id: str, rows: Sequence[PreparedRow]) -> BatchResult:
        """COPY one batch into the staging table and commit it there (the acknowledgement)."""
        self.check_batch(rows)
        run_id = self.context.run_id if self.context is not None else 0
        at = self.context.as_of if self.context is not None else None
        columns = sql.SQL(", ").join(sql.Identifier(name) for name in _STAGED_COLUMNS)
        statement = sql.SQL("COPY {staged} ({columns}) FROM STDIN").format(columns=columns, **self._names())
        with self._transaction() as conn:
            if at is None:
                at = conn.execute("SELECT now()").fetchone()[0]
            with conn.cursor() as cursor, cursor.copy(statement) as copy:
                for row in rows:
                    values = row.values
                    copy.write_row(
                        (
                            remote_id,
                            row.profile_id,
                            values.get("profile_key") or f"profile:{row.profile_id}",
                            change,
                            values.get("external_id"),
                            values.get("email"),
                            values.get("phone"),
                            at,
                            run_id,
                        )
                    )
        return BatchResult(received=len(rows), invalid=0, row_errors=(), response={"staged": len(rows)})

    # --- connection ----------------------------------------------------------------------------------

    def _connect(self) -> psycopg.Connection:
        if self._connection is None or self._connection.closed:
            try:
                self._connection = psycopg.connect(
                    self.config["url"],
                    autocommit=True,
                    connect_timeout=connect_timeout(),
                    application_name="audience_ops",
                )
            except psycopg.OperationalError as exc:
                message = self._scrub(exc)
                if any(sign in message for sign in _REFUSALS):
                    raise PermanentError(f"The warehouse refused the connection: {message}", code="connect") from None
                raise TransientError(f"The warehouse could not be reached: {message}", code="connection") from None
        return self._connection

    def _transaction(self) -> _WarehouseTransaction:
        return _WarehouseTransaction(self)

    def _scrub(self, exc: Exception) -> str:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        password = urlsplit(self.config["url"]).password
        return text.replace(password, "••••") if password else text

    def close(self) -> None:
        if self._connection is not None and not self._connection.closed:
            self._connection.close()
        self._connection = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown: nothing left to report to
            self.close()


class _WarehouseTransaction:
    """``with adapter._transaction() as conn``: one warehouse transaction, its errors mapped to the engine's.

    Connection loss and lock timeouts are transient (the batch is retried; a rolled-back COPY staged
    nothing); anything else (no such database, no privilege, bad SQL) is permanent with PostgreSQL's message.
    """

    def __init__(self, adapter: PostgresWarehouseAdapter) -> None:
        self.adapter = adapter
        self._tx: Any = None

    def __enter__(self) -> psycopg.Connection:
        conn = self.adapter._connect()
        try:
            self._tx = conn.transaction()
            self._tx.__enter__()
        except psycopg.Error as exc:
            self.adapter.close()
            raise TransientError(f"The warehouse could not be reached: {self.adapter._scrub(exc)}") from None
        return conn

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        try:
            self._tx.__exit__(exc_type, exc, tb)
        except psycopg.Error as error:
            exc_type, exc = type(error), error
        if exc is None or not isinstance(exc, psycopg.Error):
            return False
        message = self.adapter._scrub(exc)
        if isinstance(exc, (psycopg.OperationalError, psycopg.errors.LockNotAvailable)):
            self.adapter.close()
            raise TransientError(f"The warehouse failed: {message}", code=getattr(exc, "sqlstate", None)) from None
        raise PermanentError(f"The warehouse refused: {message}", code=getattr(exc, "sqlstate", None)) from None
