"""config.prepared: a query built once runs again with new parameters and gives what the ORM gives
(used by online scoring, the sign-in path and the application wizard). Every prepared query of the
code is run here against its plain-ORM twin; the prepared path is active only on the Django versions
listed in config.prepared.TESTED_DJANGO_VERSIONS."""

from datetime import timedelta

import django
import pytest
from django.db import transaction
from django.db.models.query import ModelIterable
from django.db.transaction import TransactionManagementError
from django.utils import timezone
from knox.models import AuthToken

import customers.backends
import customers.selectors
import installments.assessment.online
import installments.assessment.policy
import portal.services
from config import prepared
from config.prepared import ID_MARKER, PreparedQuery
from customers import services as customer_services
from customers.models import ConsentKind, User
from customers.roles import Role
from customers.selectors import JSONList, json_list
from tests.factories import (
    CustomerProfileFactory,
    UserFactory,
    WorkbenchApplicationFactory,
    WorkbenchProductFactory,
    WorkbenchScoreFactory,
)

pytestmark = pytest.mark.django_db

# The modules whose prepared queries the code runs.
MODULES = (customers.backends, customers.selectors, portal.services, installments.assessment.online, installments.assessment.policy)


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


# --- The version guard -------------------------------------------------------------------------------

def test_the_prepared_path_is_active_on_the_pinned_django_only(monkeypatch):
    assert tuple(django.VERSION[:2]) in prepared.TESTED_DJANGO_VERSIONS  # requirements.txt pins a tested one
    assert prepared.active()
    monkeypatch.setattr(django, "VERSION", (6, 0, 0, "final", 0))
    assert not prepared.active()


@pytest.mark.parametrize("how", ["untested django", "switched off"])
def test_off_the_prepared_path_every_query_runs_through_the_orm(monkeypatch, how):
    if how == "untested django":
        monkeypatch.setattr(django, "VERSION", (6, 0, 0, "final", 0))
    else:
        monkeypatch.setattr(prepared, "ENABLED", False)
    user = UserFactory()
    built = []

    def build(pk):
        built.append(pk)
        return User.objects.filter(pk=pk)

    query = PreparedQuery(build, {"pk": ID_MARKER})
    assert query.instances(pk=user.pk) == [user] and query.instances(pk=-1) == []
    assert built == [user.pk, -1] and not query._compiled  # never compiled: the queryset each call


# --- Every prepared query of the code against its plain-ORM twin ---------------------------------------

def _code_queries() -> dict[str, PreparedQuery]:
    return {f"{module.__name__}.{name}": value for module in MODULES for name, value in vars(module).items()
            if isinstance(value, PreparedQuery)}


def _values(obj, depth: int = 0) -> object:
    """What a row holds, for comparing: field values, annotations and the related rows read with it
    (three levels down: a related row's cache points back at the row)."""
    if isinstance(obj, tuple):
        return tuple(_values(v, depth) for v in obj)
    if not hasattr(obj, "_state"):
        return obj
    own = {k: v for k, v in vars(obj).items() if not k.startswith("_")}
    related = {k: _values(v, depth + 1) for k, v in obj._state.fields_cache.items()} if depth < 3 else None
    return type(obj), own, related


@pytest.fixture
def world():
    """Two customers: one with a full file, a draft at review, a submitted application, an earlier
    scored application under the same ID number and an API token; one with nothing."""
    from tests.portal.conftest import PORTAL_METHODS, complete_profile, ready_draft

    product = WorkbenchProductFactory(code="prepared-twins", allowed_methods=PORTAL_METHODS)
    customer = UserFactory(roles=[Role.CUSTOMER, Role.LOAN_OFFICER])
    profile = complete_profile(customer)
    for line_type, data in (("debt", {"lender": "Bank", "kind": "consumer_loan", "outstanding_balance": 20000,
                                      "monthly_payment": 900}),
                            ("asset", {"kind": "savings", "value": 50000})):
        customer_services.finance_line_add(profile=profile, line_type=line_type, data=data, by=customer)
    customer_services.consent_record(user=customer, kind=ConsentKind.MARKETING)
    draft = ready_draft(customer, product)
    submitted = WorkbenchApplicationFactory(customer=customer, product=product, state="submitted")
    earlier = WorkbenchScoreFactory(application=WorkbenchApplicationFactory(product=product),
                                    id_number_hash=profile.id_number_hash, name_hash="someone else")
    nobody = UserFactory()
    return {"customer": customer, "profile": profile, "draft": draft, "product": product, "submitted": submitted,
            "earlier": earlier, "nobody": nobody, "token": AuthToken.objects.create(user=customer)[1]}


def _calls(w) -> dict[str, list[dict]]:
    """The calls each prepared query of the code is checked with: rows found and none found."""
    customer, profile, nobody = w["customer"], w["profile"], w["nobody"]
    since = timezone.now() - timedelta(days=1)
    by_user = [{"user_id": customer.pk}, {"user_id": nobody.pk}]
    by_profile = [{"profile_id": profile.pk}, {"profile_id": -1}]
    return {
        "customers.backends._user_with_roles": [{"pk": customer.pk}, {"pk": nobody.pk}, {"pk": -1}],
        "customers.backends._token": [{"key": w["token"][:15]}, {"key": "no-such-token"}],
        "customers.selectors._profile_for_submission": by_user,
        "customers.selectors._profile_of_user": by_user,
        "customers.selectors._incomes": by_profile,
        "customers.selectors._expenses": by_profile,
        "customers.selectors._debts": by_profile,
        "customers.selectors._assets": by_profile,
        "customers.selectors._documents": by_profile,
        "customers.selectors._statements": by_profile,
        "customers.selectors._consents_not_withdrawn": by_user,
        "portal.services._open_draft": by_user,
        "portal.services._open_draft_alone": by_user,
        "portal.services._open_draft_locked": [{"pk": w["draft"].pk}, {"pk": -1}],
        "portal.services._application_locked": [{"pk": w["draft"].application_id}, {"pk": -1}],
        "installments.assessment.online._APPLICATION_TO_SCORE": [{"application_id": w["submitted"].pk}, {"application_id": -1}],
        "installments.assessment.online._LINES_AND_TIERS": [{"profile_id": profile.pk, "product_id": w["product"].pk},
                                            {"profile_id": None, "product_id": w["product"].pk},
                                            {"profile_id": -1, "product_id": -1}],
        "installments.assessment.policy._IDENTITY_ROWS": [{"id_number_hash": profile.id_number_hash,
                                           "application_id": w["submitted"].pk},
                                          {"id_number_hash": "no-such-hash", "application_id": -1}],
        "installments.assessment.policy._RECENT_APPLICATIONS": [
            {"since": since, "phone": profile.phone, "email": customer.email.upper()},
            {"since": since, "phone": profile.phone, "email": None},
            {"since": since, "phone": None, "email": customer.email},
            {"since": since, "phone": None, "email": "nobody_%@example.com"},
            {"since": timezone.now() + timedelta(days=1), "phone": profile.phone, "email": customer.email}],
    }


def test_every_prepared_query_of_the_code_gives_what_its_orm_twin_gives(world):
    queries, calls = _code_queries(), _calls(world)
    assert set(queries) == set(calls), "a prepared query without its twin check here (or a stale one)"
    assert set(map(id, queries.values())) <= set(map(id, prepared.REGISTRY))
    found_rows = set()
    with transaction.atomic():  # some of them lock
        for name, query in queries.items():
            for values in calls[name]:
                queryset = query.queryset(**values)
                twin = list(queryset)
                read = (query.instances(**values) if queryset._iterable_class is ModelIterable
                        else query.tuples(**values))
                assert [_values(r) for r in read] == [_values(r) for r in twin], (name, values)
                if twin:
                    found_rows.add(name)
    assert found_rows == set(queries), "each query is checked on rows it finds"
