"""The audience engine: validated definition + explicit ``now`` -> one set-based SQL query, and explanations.

- :mod:`.compiler` turns a :class:`~audience_ops.audiences.definitions.Definition` into SQL (pure);
- :mod:`.dialects` holds the PostgreSQL and SQLite fragments;
- :mod:`.explain` traces one profile condition by condition;
- :mod:`.text` renders definitions in plain English.

Services (:mod:`audience_ops.audiences.services`) wire these to the database; nothing here imports them.
"""

from .compiler import CompileError, Compiler, Resolver, Window, compile_members, window_bounds
from .dialects import Dialect, PostgresDialect, SqliteDialect, dialect_for
from .explain import Trace, TraceNode, explain_profile
from .text import definition_text, node_text

__all__ = [
    "CompileError",
    "Compiler",
    "Dialect",
    "PostgresDialect",
    "Resolver",
    "SqliteDialect",
    "Trace",
    "TraceNode",
    "Window",
    "compile_members",
    "definition_text",
    "dialect_for",
    "explain_profile",
    "node_text",
    "window_bounds",
]
