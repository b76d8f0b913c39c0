"""config.prepared: a query built once runs again with new parameters and gives what the ORM gives."""

import pytest
from django.db import connection

from config.prepared import PreparedQuery
from customers.models import User
from customers.roles import Role
from customers.selectors import JSONList, json_list
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _by_email_and_name(email, name):
    return User.objects.filter(email=email, full_name=name).order_by("pk")


def test_each_call_runs_with_its_own_parameters_and_returns_what_the_orm_returns():
    alice = UserFactory(email="alice@example.com", full_name="Alice")
    UserFactory(email="bob@example.com", full_name="Bob", is_active=False)
    query = PreparedQuery(_by_email_and_name, email="\x00email", name="\x00name")
    assert query(email="alice@example.com", name="Alice") == [alice]
    assert query(email="alice@example.com", name="Bob") == []
    found = query(email="bob@example.com", name="Bob")
    assert [u.email for u in found] == ["bob@example.com"] and found[0].is_active is False
    assert found[0]._state.db == "default" and not found[0]._state.adding


def test_annotations_come_back_as_the_database_gives_them():
    user = UserFactory(roles=[Role.CUSTOMER, Role.LOAN_OFFICER])
    memberships = User.groups.through.objects.order_by().values("user_id")
    query = PreparedQuery(lambda pk: User.objects.filter(pk=pk).annotate(
        names=memberships.filter(user_id=pk).annotate(n=JSONList("group__name")).values("n")[:1]), pk=-1)
    (found,) = query(pk=user.pk)
    assert sorted(json_list(found.names)) == sorted([Role.CUSTOMER, Role.LOAN_OFFICER])


def test_the_sql_is_built_once_per_database():
    built = []

    def build(pk):
        built.append(pk)
        return User.objects.filter(pk=pk)

    query = PreparedQuery(build, pk=-1)
    users = [UserFactory(), UserFactory()]
    assert [query(pk=u.pk) for u in users] == [[users[0]], [users[1]]]
    assert built == [-1]
    assert connection.vendor in {vendor for _, vendor in query._compiled}


def test_a_marker_the_query_does_not_carry_or_a_join_it_cannot_fill_is_refused():
    with pytest.raises(ValueError, match="marker of 'pk'"):
        PreparedQuery(lambda pk: User.objects.filter(pk=1), pk=-1)(pk=1)
    with pytest.raises(ValueError, match="marker of 'active'"):  # a boolean is written into the SQL
        PreparedQuery(lambda active: User.objects.filter(is_active=active), active=False)(active=True)
    with pytest.raises(ValueError, match="select_related"):
        PreparedQuery(lambda pk: User.objects.select_related("profile").filter(pk=pk), pk=-1)(pk=1)


@pytest.mark.django_db(transaction=True)
def test_a_locking_read_is_refused_outside_a_transaction_as_the_orm_refuses_it():
    from django.db import transaction
    from django.db.transaction import TransactionManagementError

    user = UserFactory()
    query = PreparedQuery(lambda pk: User.objects.filter(pk=pk).select_for_update(), pk=-1)
    with transaction.atomic():
        assert query(pk=user.pk) == [user]
    with pytest.raises(TransactionManagementError):
        query(pk=user.pk)
