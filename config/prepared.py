"""ORM queries compiled once per process and database connection, run many times: online scoring,
the signed-in user with roles on every request, the application wizard's draft, review and
submission reads. Measured with `bench/bench_prepared.py` (PostgreSQL, Django 5.2): 9-16 % of the
request mix (sign-in, account, review, submission, online scoring, staff pages), about 1 ms on every
signed-in request and 5-16 ms each on the review, the submission and the online scoring.

It uses Django's private compiler API (`SQLCompiler.as_sql`, `results_iter`, `klass_info`,
`get_related_populators`), so it is active only on the Django versions it is tested on
(`TESTED_DJANGO_VERSIONS`; `tests/test_prepared.py` runs every prepared query of the code against its
plain-ORM twin) and only while `PREPARED_QUERIES` is not `0` in the environment; otherwise every call
evaluates the query's queryset through the ORM, with the same results. Add a Django version to
`TESTED_DJANGO_VERSIONS` only after the test suite passed on it.

Compiling a queryset with several subqueries to SQL costs Django more than PostgreSQL takes to run
it. A `PreparedQuery` builds its queryset once, with marker values where the per-call parameters
go, keeps the compiled SQL and the compiler (which knows how to turn rows into model instances,
select_related objects and annotations included), and on each call only swaps the markers for the
call's values and runs the SQL. The rows come back exactly as the queryset would return them:
the compiler's converters are applied and instances are built by Django's own populators.

Values are passed as the queryset takes them; where the lookup turns a value into another database
form, `to_db` names the conversion the prepared SQL needs (`connection.ops.prep_for_iexact_query` for
`iexact`, `connection.ops.adapt_datetimefield_value` for a datetime), applied only on the prepared
path. The build must give the same rows for every value it is called with (the ORM path calls it
with the call's values; e.g. an empty value that the SQL compares with NULL must match nothing
there either). A boolean cannot be a marker: Django writes a comparison with True or False into the SQL (refused when first compiled). A locking
read (select_for_update) is refused outside a transaction, as the ORM refuses it.

On PostgreSQL the SQL is also prepared on the server (`PREPARE`, once per database session), and
each call runs `EXECUTE name(values)`: PostgreSQL then plans the statement once too. For online
scoring's read of the application (a dozen subqueries) planning took 0.6-4 ms of the 0.9-4.3 ms the
query cost; executed prepared it takes 0.3 ms (bench/bench_scoring_service.py). The statement is
prepared on first use on each session, inside a savepoint of its own when a transaction is open,
on the driver's own cursor (not counted among the caller's queries); a statement PostgreSQL refuses
to prepare (a parameter whose type it cannot infer) runs as plain SQL from then on. Prepared
statements live as long as the session, so a pooler that hands a session to other clients between
transactions (PgBouncer in transaction mode) needs `PREPARED_SERVER_SIDE=0`, which runs the SQL plainly.
"""

from __future__ import annotations

import itertools
import os
import re
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import django
from django.db import connections
from django.db.models import QuerySet
from django.db.models.query import get_related_populators
from django.db.models.sql.compiler import SQLCompiler
from django.db.transaction import TransactionManagementError

# A marker for an id parameter: no row has a negative id.
ID_MARKER = -918_273_645

# (major, minor) versions of Django the prepared path is tested on (tests/test_prepared.py); on any
# other version every PreparedQuery runs its queryset through the ORM.
TESTED_DJANGO_VERSIONS = ((5, 2),)
# PREPARED_QUERIES=0 in the environment turns the prepared path off (the ORM path everywhere).
ENABLED = os.environ.get("PREPARED_QUERIES", "1") != "0"
# PREPARED_SERVER_SIDE=0 in the environment: PostgreSQL runs the compiled SQL as it is, without
# PREPARE / EXECUTE (a pooler in transaction mode; see above).
SERVER_SIDE = os.environ.get("PREPARED_SERVER_SIDE", "1") != "0"
# Every PreparedQuery made (tests/test_prepared.py checks each against its ORM twin).
REGISTRY: list[PreparedQuery] = []
# Statement names in this process: prepared_query_<n>.
_NUMBERS = itertools.count(1)
# Per database session (the driver's connection object): the names prepared on it, and those
# PostgreSQL refused (run as plain SQL there).
_SERVER_PREPARED: weakref.WeakKeyDictionary[Any, dict[str, bool]] = weakref.WeakKeyDictionary()
# Statement name -> the SQL it was prepared from, so what was EXECUTEd can be read as SQL (`original_sql`).
_STATEMENT_SQL: dict[str, str] = {}


def original_sql(sql: str) -> str:
    """The SQL behind a captured `EXECUTE prepared_query_N(...)` (any other SQL as it is): for tests and
    logs that read which tables a request touched."""
    if sql.startswith("EXECUTE prepared_query_"):
        name = sql[len("EXECUTE "):].split("(", 1)[0].strip()
        return _STATEMENT_SQL.get(name, sql)
    return sql
# The driver's placeholders: %s a parameter, %% a literal percent sign.
_PLACEHOLDER = re.compile(r"%[s%]")


def active() -> bool:
    """Whether prepared SQL is used (else the ORM): enabled, on a tested Django version."""
    return ENABLED and tuple(django.VERSION[:2]) in TESTED_DJANGO_VERSIONS


def _is_marker(param: Any, marker: Any, connection) -> bool:
    """A compiled parameter is the marker itself or, for a datetime, the form the backend sends."""
    if isinstance(marker, datetime):
        return param == marker or param == connection.ops.adapt_datetimefield_value(marker)
    return type(param) is type(marker) and param == marker


def _numbered(sql: str) -> str:
    """The driver's SQL (%s placeholders, %% for a percent sign) in PostgreSQL's own form ($1, $2, ...)."""
    numbers = itertools.count(1)
    return _PLACEHOLDER.sub(lambda m: "%" if m.group(0) == "%%" else f"${next(numbers)}", sql)


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple[Any, ...]
    slots: dict[str, tuple[int, ...]]  # marker name -> positions in params
    compiler: SQLCompiler
    statement: str | None = None  # PostgreSQL: the prepared statement's name (else None)
    execute_sql: str | None = None  # PostgreSQL: EXECUTE statement(%s, ...)


def _server_prepared(connection, compiled: _Compiled) -> bool:
    """Whether `compiled.statement` is prepared on the connection's current session, preparing it
    if need be: False when PostgreSQL refused it (it then runs as plain SQL on this session)."""
    session = connection.connection
    prepared = _SERVER_PREPARED.get(session)
    if prepared is None:
        prepared = _SERVER_PREPARED[session] = {}
    known = prepared.get(compiled.statement)
    if known is None:
        known = prepared[compiled.statement] = _prepare(connection, compiled)
    return known


def _prepare(connection, compiled: _Compiled) -> bool:
    """PREPARE the statement on the session, on the driver's cursor; inside an open transaction
    in a savepoint of its own, so that a refusal leaves the transaction as it was."""
    in_transaction = not connection.get_autocommit()
    with connection.connection.cursor() as cursor:
        if in_transaction:
            cursor.execute("SAVEPOINT prepared_query")
        try:
            cursor.execute(f"PREPARE {compiled.statement} AS {_numbered(compiled.sql)}")
        except connection.Database.Error:
            if in_transaction:
                cursor.execute("ROLLBACK TO SAVEPOINT prepared_query")
            return False
        finally:
            if in_transaction:
                cursor.execute("RELEASE SAVEPOINT prepared_query")
    return True


class PreparedQuery:
    """`build(**markers)` returns the queryset; `markers` maps each per-call parameter's name to a
    value that appears nowhere else in the query's parameters (it marks where the call's value goes).
    Compiled on first use on each connection (the SQL may differ between database vendors).
    `to_db` maps a parameter's name to `(connection.ops, value) -> database form` (see above)."""

    def __init__(self, build: Callable[..., QuerySet], markers: Mapping[str, Any],
                 to_db: Mapping[str, Callable[[Any, Any], Any]] | None = None) -> None:
        self._build = build
        self._markers = dict(markers)
        self._to_db = dict(to_db or {})
        self._compiled: weakref.WeakKeyDictionary[Any, _Compiled] = weakref.WeakKeyDictionary()
        self._statement = f"prepared_query_{next(_NUMBERS)}"
        REGISTRY.append(self)

    def queryset(self, *, using: str = "default", **values: Any) -> QuerySet:
        """The queryset of these values, as the ORM runs it (the plain-ORM twin of the prepared SQL)."""
        return self._build(**values).using(using)

    def _compile(self, using: str) -> _Compiled:
        connection = connections[using]
        compiled = self._compiled.get(connection)
        if compiled is None:
            queryset = self._build(**self._markers)
            compiler = queryset.query.get_compiler(using=using)
            sql, params = compiler.as_sql()
            slots = {name: tuple(i for i, param in enumerate(params) if _is_marker(param, marker, connection))
                     for name, marker in self._markers.items()}
            missing = [name for name, positions in slots.items() if not positions]
            if missing:
                raise ValueError(f"markers not found among the query's parameters: {', '.join(missing)}")
            statement = execute_sql = None
            if connection.vendor == "postgresql" and SERVER_SIDE:
                statement = self._statement
                _STATEMENT_SQL[statement] = sql
                execute_sql = f"EXECUTE {statement}" + (f"({', '.join(['%s'] * len(params))})" if params else "")
            compiled = _Compiled(sql=sql, params=tuple(params), slots=slots, compiler=compiler, statement=statement,
                                 execute_sql=execute_sql)
            self._compiled[connection] = compiled
        return compiled

    def _rows(self, using: str, values: Mapping[str, Any]) -> tuple[_Compiled, list[tuple]]:
        compiled = self._compile(using)
        if compiled.compiler.query.select_for_update and not connections[using].in_atomic_block:
            raise TransactionManagementError("select_for_update cannot be used outside of a transaction.")
        params = list(compiled.params)
        ops = connections[using].ops
        for name, positions in compiled.slots.items():
            value = self._to_db[name](ops, values[name]) if name in self._to_db else values[name]
            for i in positions:
                params[i] = value
        with connections[using].cursor() as cursor:
            if compiled.statement is not None and _server_prepared(connections[using], compiled):
                cursor.execute(compiled.execute_sql, params)
            else:
                cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        if compiled.compiler.has_extra_select:  # ordering columns added for DISTINCT: not part of the rows
            rows = [row[:compiled.compiler.col_count] for row in rows]
        return compiled, list(compiled.compiler.results_iter([rows], tuple_expected=True))

    def tuples(self, *, using: str = "default", **values: Any) -> list[tuple]:
        """The rows as tuples, in the query's select order (a values_list queryset)."""
        if not active():
            return [tuple(row) for row in self.queryset(using=using, **values)]
        return self._rows(using, values)[1]

    def instances(self, *, using: str = "default", **values: Any) -> list:
        """The rows as model instances, as iterating the queryset would give them."""
        if not active():
            return list(self.queryset(using=using, **values))
        compiled, rows = self._rows(using, values)
        compiler = compiled.compiler
        select, klass_info, annotation_col_map = compiler.select, compiler.klass_info, compiler.annotation_col_map
        model_cls = klass_info["model"]
        start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        init_list = [f[0].target.attname for f in select[start:end]]
        populators = get_related_populators(klass_info, select, using)
        objects = []
        for row in rows:
            obj = model_cls.from_db(using, init_list, row[start:end])
            for populator in populators:
                populator.populate(row, obj)
            for name, position in annotation_col_map.items():
                setattr(obj, name, row[position])
            objects.append(obj)
        return objects
