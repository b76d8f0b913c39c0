"""Reads whose SQL is built once per process: the ORM's query building and compilation cost more than
running a small query (0.1 ms for a plain one, 0.4-1.5 ms with subqueries, against about 0.2 ms to
run it on this PostgreSQL), and the hottest reads (the signed-in user on every request, the
submission's reads) are the same query every time but for their parameters.

    user_with_roles = PreparedQuery(lambda pk: User.objects.annotate(...).filter(pk=pk)[:1], pk=-918_273_645)
    users = user_with_roles(pk=request_user_id)  # a list of User, the annotations set on each

The queryset is built once with a marker value for each parameter and compiled by Django for the
database in use (so the SQL is the ORM's own, for PostgreSQL or SQLite alike); each call runs that
SQL with the parameters in the markers' places through Model.objects.raw(), which converts the
columns as the ORM would. Only for querysets of one model (no select_related or prefetch_related:
raw() fills neither); annotations come back as the database gives them (see
customers.selectors.json_list). A marker must be a value no other parameter of the query has, and a
parameter must reach the SQL as a parameter: Django writes a comparison with True or False into the
SQL itself, so a boolean cannot be one (refused when the query is first built). A locking read
(select_for_update) is refused outside a transaction, as the ORM refuses it.
"""

from collections.abc import Callable
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model, QuerySet
from django.db.transaction import TransactionManagementError


class PreparedQuery:
    """build(**markers) -> the queryset; calling the PreparedQuery with values for the same names runs it."""

    def __init__(self, build: Callable[..., QuerySet], **markers: Any):
        self.build = build
        self.markers = markers
        self._compiled: dict[tuple[str, str], tuple[str, list, dict[str, list[int]]]] = {}
        self._model: type[Model] | None = None
        self._locks = False

    def _compile(self, connection) -> tuple[str, list, dict[str, list[int]]]:
        queryset = self.build(**self.markers)
        if queryset.query.select_related or queryset._prefetch_related_lookups:
            raise ValueError("PreparedQuery: raw() fills no select_related or prefetch_related")
        self._model, self._locks = queryset.model, queryset.query.select_for_update
        sql, params = queryset.query.get_compiler(connection=connection).as_sql()
        positions = {name: [i for i, value in enumerate(params) if value == marker and type(value) is type(marker)]
                     for name, marker in self.markers.items()}
        for name, found in positions.items():
            if not found:
                raise ValueError(f"PreparedQuery: the marker of {name!r} is not among the query's parameters")
        return sql, list(params), positions

    def __call__(self, *, using: str = DEFAULT_DB_ALIAS, **values: Any) -> list[Model]:
        connection = connections[using]
        key = (using, connection.vendor)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = self._compile(connection)
        sql, params, positions = compiled
        if self._locks and not connection.in_atomic_block:
            raise TransactionManagementError("select_for_update cannot be used outside of a transaction.")
        params = list(params)
        for name, found in positions.items():
            for i in found:
                params[i] = values[name]
        return list(self._model._default_manager.using(using).raw(sql, params))
