"""config.prepared: a query built once runs again with new parameters and gives what the ORM gives
(used by online scoring, the sign-in path and the application wizard)."""

import pytest
from django.db import transaction
from django.db.transaction import TransactionManagementError

from config.prepared import ID_MARKER, PreparedQuery
from customers.models import User
from customers.roles import Role
from customers.selectors import JSONList, json_list
from tests.factories import CustomerProfileFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_each_call_runs_with_its_own_parameters_and_returns_what_the_orm_returns():
    alice = UserFactory(email="alice@example.com", full_name="Alice")
    UserFactory(email="bob@example.com", full_name="Bob", is_active=False)
    query = PreparedQuery(lambda email, name: User.objects.filter(email=email, full_name=name).order_by("pk"),
                          {"email": "marker:email", "name": "marker:name"})
    assert query.instances(email="alice@example.com", name="Alice") == [alice]
    assert query.instances(email="alice@example.com", name="Bob") == []
    found = query.instances(email="bob@example.com", name="Bob")
    assert [u.email for u in found] == ["bob@example.com"] and found[0].is_active is False
    assert found[0]._state.db == "default" and not found[0]._state.adding


def test_annotations_and_related_rows_come_back_as_the_queryset_gives_them():
    user = UserFactory(roles=[Role.CUSTOMER, Role.LOAN_OFFICER])
    profile = CustomerProfileFactory(user=user)
    memberships = User.groups.through.objects.order_by().values("user_id")
    query = PreparedQuery(lambda pk: User.objects.filter(pk=pk).annotate(
        names=memberships.filter(user_id=pk).annotate(n=JSONList("group__name")).values("n")[:1]),
        {"pk": ID_MARKER})
    (found,) = query.instances(pk=user.pk)
    assert sorted(json_list(found.names)) == sorted([Role.CUSTOMER, Role.LOAN_OFFICER])
    with_user = PreparedQuery(lambda pk: type(profile).objects.select_related("user").filter(pk=pk),
                              {"pk": ID_MARKER})
    (read,) = with_user.instances(pk=profile.pk)
    assert read.user == user and read.user.email == user.email


def test_the_sql_is_built_once_per_database():
    built = []

    def build(pk):
        built.append(pk)
        return User.objects.filter(pk=pk)

    query = PreparedQuery(build, {"pk": ID_MARKER})
    users = [UserFactory(), UserFactory()]
    assert [query.instances(pk=u.pk) for u in users] == [[users[0]], [users[1]]]
    assert built == [ID_MARKER]


def test_a_marker_the_query_does_not_carry_is_refused():
    with pytest.raises(ValueError, match="markers not found"):
        PreparedQuery(lambda pk: User.objects.filter(pk=1), {"pk": ID_MARKER}).instances(pk=1)
    with pytest.raises(ValueError, match="markers not found"):  # a boolean is written into the SQL
        PreparedQuery(lambda active: User.objects.filter(is_active=active), {"active": False}).instances(active=True)


@pytest.mark.django_db(transaction=True)
def test_a_locking_read_is_refused_outside_a_transaction_as_the_orm_refuses_it():
    user = UserFactory()
    query = PreparedQuery(lambda pk: User.objects.filter(pk=pk).select_for_update(), {"pk": ID_MARKER})
    with transaction.atomic():
        assert query.instances(pk=user.pk) == [user]
    with pytest.raises(TransactionManagementError):
        query.instances(pk=user.pk)
