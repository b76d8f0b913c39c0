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
"""

from __future__ import annotations

import os
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
# Every PreparedQuery made (tests/test_prepared.py checks each against its ORM twin).
REGISTRY: list[PreparedQuery] = []


def active() -> bool:
    """Whether prepared SQL is used (else the ORM): enabled, on a tested Django version."""
    return ENABLED and tuple(django.VERSION[:2]) in TESTED_DJANGO_VERSIONS


def _is_marker(param: Any, marker: Any, connection) -> bool:
    """A compiled parameter is the marker itself or, for a datetime, the form the backend sends."""
    if isinstance(marker, datetime):
        return param == marker or param == connection.ops.adapt_datetimefield_value(marker)
    return type(param) is type(marker) and param == marker


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple[Any, ...]
    slots: dict[str, tuple[int, ...]]  # marker name -> positions in params
    compiler: SQLCompiler


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
            compiled = _Compiled(sql=sql, params=tuple(params), slots=slots, compiler=compiler)
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
