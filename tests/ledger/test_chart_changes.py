"""Four-eyes changes of the chart of accounts: an administrator proposes, a different administrator
approves (the change is applied and audited) or rejects; everyone else is refused; bad details are
refused naming the detail, with nothing stored. In the admin the chart and the mappings are read-only."""

from datetime import date
from importlib import import_module

import pytest
from django.apps import apps
from django.urls import reverse

from collections_app.ledger import accounts as ledger_accounts
from collections_app.ledger import services
from collections_app.ledger.chart import chart_change_decide, chart_change_request
from collections_app.ledger.models import AccountMapping, ChartChangeRequest, EventType, LedgerAccount
from config.errors import DomainError
from customers.models import AuditEvent
from customers.roles import Role
from tests.collections_app.factories import product_make
from tests.conftest import TwoFactorAwareClient

pytestmark = pytest.mark.django_db

NEW_ACCOUNT = {"code": "4105", "name": "Other fee income", "name_zh": "其他手续费收入", "kind": "income"}


@pytest.fixture(autouse=True)
def mappings(chart):
    import_module("collections_app.migrations.0007_books_posting").create_defaults(apps, None)


@pytest.fixture
def admin_a(make_user):
    return make_user(Role.ADMIN, is_staff=True)


@pytest.fixture
def admin_b(make_user):
    return make_user(Role.ADMIN, is_staff=True)


def refused(field, **kwargs):
    before = ChartChangeRequest.objects.count()
    with pytest.raises(DomainError) as error:
        chart_change_request(**kwargs)
    assert error.value.field == field, error.value.message
    assert ChartChangeRequest.objects.count() == before
    return error.value


def test_a_second_admin_approves_and_the_account_is_created(admin_a, admin_b):
    change = chart_change_request(kind="account_create", params=NEW_ACCOUNT, reason="new fee", by=admin_a)
    assert change.status == "pending" and not LedgerAccount.objects.filter(code="4105").exists()
    assert change.params == {**NEW_ACCOUNT, "normal_side": "", "channel": ""}
    with pytest.raises(DomainError) as same:
        chart_change_decide(change=change, by=admin_a, approve=True)
    assert same.value.field == "by"
    change.refresh_from_db()
    assert change.status == "pending" and not LedgerAccount.objects.filter(code="4105").exists()

    decided = chart_change_decide(change=change, by=admin_b, approve=True, note="checked")
    assert (decided.status, decided.decided_by, decided.decision_note) == ("applied", admin_b, "checked")
    account = LedgerAccount.objects.get(code="4105")
    assert (account.name, account.name_zh, account.kind, account.normal_side) == (
        "Other fee income", "其他手续费收入", "income", "credit")
    assert AuditEvent.objects.filter(action="ledger.chart_change_request", actor=admin_a,
                                     target_id=str(change.pk)).exists()
    event = AuditEvent.objects.get(action="ledger.chart_change_decide", target_id=str(change.pk))
    assert (event.actor, event.from_state, event.to_state) == (admin_b, "pending", "applied")
    with pytest.raises(DomainError) as twice:
        chart_change_decide(change=change, by=admin_b, approve=False)
    assert twice.value.field == "change"


def test_a_rejected_change_changes_nothing(admin_a, admin_b):
    change = chart_change_request(kind="account_create", params=NEW_ACCOUNT, reason="new fee", by=admin_a)
    chart_change_decide(change=change, by=admin_b, approve=False, note="not needed")
    change.refresh_from_db()
    assert change.status == "rejected" and not LedgerAccount.objects.filter(code="4105").exists()


def test_other_roles_neither_propose_nor_decide(make_user, officer, accountant, manager, admin_a):
    for user in (officer, accountant, manager):
        refused("by", kind="account_create", params=NEW_ACCOUNT, reason="x", by=user)
    change = chart_change_request(kind="account_create", params=NEW_ACCOUNT, reason="new fee", by=admin_a)
    with pytest.raises(DomainError) as error:
        chart_change_decide(change=change, by=officer, approve=True)
    assert error.value.field == "by" and not LedgerAccount.objects.filter(code="4105").exists()


@pytest.mark.parametrize(("kind", "params", "field"), [
    ("account_create", {**NEW_ACCOUNT, "code": "41A5"}, "code"),
    ("account_create", {**NEW_ACCOUNT, "code": "4101"}, "code"),  # exists
    ("account_create", {**NEW_ACCOUNT, "kind": "revenue"}, "kind"),
    ("account_create", {**NEW_ACCOUNT, "name": " "}, "name"),
    ("account_create", {**NEW_ACCOUNT, "normal_side": "left"}, "normal_side"),
    ("account_update", {"code": "9999", "name": "x"}, "code"),
    ("account_update", {"code": "4101"}, "params"),
    ("account_update", {"code": "4101", "kind": "expense"}, "kind"),
    ("account_update", {"code": "4101", "is_active": "no"}, "is_active"),
    ("mapping_set", {"role": "interest_income", "product": None, "account": "9999"}, "account"),
    ("mapping_set", {"role": "interest_income", "product": None}, "account"),
    ("mapping_set", {"role": "cash", "product": None, "account": "4101"}, "role"),
    ("mapping_set", {"role": "interest_income", "product": 987654, "account": "4101"}, "product"),
    ("something", {}, "kind"),
])
def test_bad_details_are_refused_naming_the_detail_and_nothing_is_stored(admin_a, kind, params, field):
    refused(field, kind=kind, params=params, reason="r", by=admin_a)


def test_a_reason_is_required(admin_a):
    refused("reason", kind="account_create", params=NEW_ACCOUNT, reason="  ", by=admin_a)


def test_an_inactive_account_is_not_mapped(admin_a, admin_b):
    LedgerAccount.objects.create(code="4199", name="Old income", kind="income", is_active=False)
    refused("account", kind="mapping_set", params={"role": "fee_income", "product": None, "account": "4199"},
            reason="r", by=admin_a)


def test_an_account_with_a_balance_or_a_mapping_is_not_deactivated(admin_a, admin_b):
    services.journal_post(value_date=date(2026, 1, 5), event_type=EventType.MANUAL,
                          lines=[("1001", "10.00", 0, None), ("1301", 0, "10.00", None)])
    refused("is_active", kind="account_update", params={"code": "1001", "is_active": False}, reason="r", by=admin_a)
    refused("is_active", kind="account_update", params={"code": "4101", "is_active": False}, reason="r", by=admin_a)
    # An account with no balance and no mapping is deactivated (and renamed) once approved.
    LedgerAccount.objects.create(code="4198", name="Spare", kind="income")
    change = chart_change_request(kind="account_update", params={"code": "4198", "is_active": False,
                                                                 "name": "Spare (closed)"}, reason="r", by=admin_a)
    chart_change_decide(change=change, by=admin_b, approve=True)
    account = LedgerAccount.objects.get(code="4198")
    assert not account.is_active and account.name == "Spare (closed)"
    assert AuditEvent.objects.get(action="ledger.chart_change_decide").data["before"] == {
        "name": "Spare", "is_active": True}


def test_a_product_mapping_is_set_on_approval_and_used_by_postings(admin_a, admin_b):
    product = product_make()
    LedgerAccount.objects.create(code="4111", name="Interest income - product", kind="income")
    change = chart_change_request(kind="mapping_set", params={"role": "interest_income", "product": product.pk,
                                                              "account": "4111"}, reason="split", by=admin_a)
    assert ledger_accounts.accounts_for(product)["interest_income"].code == "4101"
    chart_change_decide(change=change, by=admin_b, approve=True)
    assert ledger_accounts.accounts_for(product)["interest_income"].code == "4111"
    assert ledger_accounts.accounts_for(None)["interest_income"].code == "4101"  # the default is unchanged
    # Changing the default mapping updates the one row.
    change = chart_change_request(kind="mapping_set", params={"role": "interest_income", "product": None,
                                                              "account": "4111"}, reason="all", by=admin_b)
    chart_change_decide(change=change, by=admin_a, approve=True)
    assert AccountMapping.objects.filter(product=None, role="interest_income").get().account.code == "4111"


def test_details_are_checked_again_on_approval(admin_a, admin_b):
    first = chart_change_request(kind="account_create", params=NEW_ACCOUNT, reason="one", by=admin_a)
    second = chart_change_request(kind="account_create", params=NEW_ACCOUNT, reason="two", by=admin_a)
    chart_change_decide(change=first, by=admin_b, approve=True)
    with pytest.raises(DomainError) as error:
        chart_change_decide(change=second, by=admin_b, approve=True)
    assert error.value.field == "code"
    second.refresh_from_db()
    assert second.status == "pending" and LedgerAccount.objects.filter(code="4105").count() == 1


# --- The admin ------------------------------------------------------------------------------------

def _admin_client(user):
    client = TwoFactorAwareClient()
    client.force_login(user, backend="customers.backends.ModelBackendWithRoles")
    return client


def test_chart_and_mappings_are_read_only_in_the_admin(admin_a):
    client = _admin_client(admin_a)
    assert client.get(reverse("admin:collections_app_ledgeraccount_changelist")).status_code == 200
    assert client.get(reverse("admin:collections_app_ledgeraccount_add")).status_code == 403
    account = LedgerAccount.objects.get(code="4101")
    page = client.get(reverse("admin:collections_app_ledgeraccount_change", args=[account.pk]))
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    response = client.post(reverse("admin:collections_app_ledgeraccount_change", args=[account.pk]),
                           {"code": "4101", "name": "Hacked", "kind": "income"})
    assert response.status_code == 403 and LedgerAccount.objects.get(code="4101").name == "Interest income"
    assert client.get(reverse("admin:collections_app_accountmapping_changelist")).status_code == 200
    assert client.get(reverse("admin:collections_app_accountmapping_add")).status_code == 403


def test_an_admin_proposes_in_the_admin_and_another_approves_with_an_action(admin_a, admin_b):
    proposer = _admin_client(admin_a)
    add = reverse("admin:collections_app_chartchangerequest_add")
    bad = proposer.post(add, {"kind": "mapping_set", "params": '{"role": "fee_income", "account": "9999"}',
                              "reason": "r"})
    assert bad.status_code == 200 and "account" in bad.content.decode()
    assert not ChartChangeRequest.objects.exists()
    response = proposer.post(add, {"kind": "account_create", "params": '{"code": "4105", "name": "Other fee income",'
                                                                       ' "kind": "income"}', "reason": "new fee"})
    assert response.status_code == 302, response.content.decode()[:3000]
    change = ChartChangeRequest.objects.get()
    assert (change.requested_by, change.status) == (admin_a, "pending")
    changelist = reverse("admin:collections_app_chartchangerequest_changelist")
    assert "Pending" in proposer.get(changelist).content.decode()
    shown = proposer.get(reverse("admin:collections_app_chartchangerequest_change", args=[change.pk]))
    assert shown.status_code == 200 and 'name="_save"' not in shown.content.decode()
    # The proposer's own approval is refused; the other admin's applies the change.
    proposer.post(changelist, {"action": "approve_changes", "_selected_action": [change.pk]})
    change.refresh_from_db()
    assert change.status == "pending" and not LedgerAccount.objects.filter(code="4105").exists()
    _admin_client(admin_b).post(changelist, {"action": "approve_changes", "_selected_action": [change.pk]})
    change.refresh_from_db()
    assert change.status == "applied" and change.decided_by == admin_b
    assert LedgerAccount.objects.filter(code="4105", is_active=True).exists()


def test_books_readers_see_the_changes_page_but_not_the_admin(client_for, accountant, admin_a):
    chart_change_request(kind="account_create", params=NEW_ACCOUNT, reason="new fee", by=admin_a)
    page = client_for(accountant).get(reverse("collections:books_chart_changes"))
    assert page.status_code == 200 and "new fee" in page.content.decode()
    assert reverse("admin:collections_app_chartchangerequest_changelist") not in page.content.decode()
