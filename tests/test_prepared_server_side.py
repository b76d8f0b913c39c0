"""config.prepared on PostgreSQL: the compiled SQL is also prepared on the server, once per session,
and runs as EXECUTE; a statement PostgreSQL refuses to prepare runs as plain SQL, and the refusal
leaves the caller's transaction usable. (Elsewhere the SQL runs as it is.)"""

import pytest
from django.db import connection, transaction
from django.db.models import F, Value
from django.test.utils import CaptureQueriesContext

from config import prepared
from config.prepared import ID_MARKER, PreparedQuery
from customers.models import User
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db,
              pytest.mark.skipif(connection.vendor != "postgresql", reason="server-side statements: PostgreSQL")]


def _prepared_names() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements")
        return {name for (name,) in cursor.fetchall()}


def test_a_prepared_query_runs_as_execute_of_a_statement_prepared_once_per_session():
    users = [UserFactory(), UserFactory()]
    query = PreparedQuery(lambda pk: User.objects.filter(pk=pk), {"pk": ID_MARKER})
    with CaptureQueriesContext(connection) as run:
        assert query.instances(pk=users[0].pk) == [users[0]]
        assert query.instances(pk=users[1].pk) == [users[1]]
        assert query.instances(pk=-1) == []
    assert [q["sql"].split("(")[0] for q in run.captured_queries] == [f"EXECUTE {query._statement}"] * 3
    assert query._statement in _prepared_names()


def test_percent_signs_in_the_sql_and_in_values_come_back_as_the_orm_gives_them():
    alice = UserFactory(email="alice_100%@example.com", full_name="ALICE")
    bob = UserFactory(email="bob@example.com", full_name="Robert")
    # The lookup against a column writes LIKE '%%' || ... || '%%' into the SQL.
    query = PreparedQuery(lambda pk, tag: User.objects.filter(pk=pk, email__icontains=F("full_name"))
                          .annotate(tag=Value(tag)).values_list("pk", "tag"),
                          {"pk": ID_MARKER, "tag": "marker:tag"})
    assert "%%" in query._compile("default").sql
    for pk, tag in ((alice.pk, "50%"), (alice.pk, "%s"), (bob.pk, "50%"), (-1, "x")):
        assert query.tuples(pk=pk, tag=tag) == [tuple(r) for r in query.queryset(pk=pk, tag=tag)]
    assert query.tuples(pk=alice.pk, tag="50%") == [(alice.pk, "50%")]


def test_a_statement_postgresql_refuses_to_prepare_runs_as_plain_sql_and_the_transaction_goes_on():
    user = UserFactory()
    query = PreparedQuery(lambda pk: User.objects.filter(pk=pk), {"pk": ID_MARKER})
    real = prepared._numbered
    with transaction.atomic():
        # A parameter whose type PostgreSQL cannot infer: PREPARE fails.
        prepared._numbered = lambda sql: "SELECT $1 IS NULL"
        try:
            assert query.instances(pk=user.pk) == [user]
        finally:
            prepared._numbered = real
        assert User.objects.filter(pk=user.pk).exists()  # the transaction is not aborted
        with CaptureQueriesContext(connection) as run:
            assert query.instances(pk=user.pk) == [user]
        assert not run.captured_queries[0]["sql"].startswith("EXECUTE")  # refused on this session: plain SQL


def test_a_new_session_prepares_the_statement_again():
    user = UserFactory()
    query = PreparedQuery(lambda pk: User.objects.filter(pk=pk), {"pk": ID_MARKER})
    assert query.instances(pk=user.pk) == [user]
    session = connection.connection
    assert prepared._SERVER_PREPARED[session][query._statement] is True
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # what a new session looks like to this one
    prepared._SERVER_PREPARED.pop(session)
    assert query.instances(pk=user.pk) == [user]
    assert query._statement in _prepared_names()


def test_switched_off_the_sql_runs_as_it_is(monkeypatch):
    monkeypatch.setattr(prepared, "SERVER_SIDE", False)
    user = UserFactory()
    query = PreparedQuery(lambda pk: User.objects.filter(pk=pk), {"pk": ID_MARKER})
    with CaptureQueriesContext(connection) as run:
        assert query.instances(pk=user.pk) == [user]
    assert run.captured_queries[0]["sql"].startswith("SELECT")
