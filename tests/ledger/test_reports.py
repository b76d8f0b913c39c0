"""The books' reports: income by product and month, the allowance's movement, a journal entry's page,
the CSV export of journal lines, the close of a period (page, service, command), who may read what,
and anonymising a customer whose plan has journal lines. Figures are computed by hand in comments."""

import csv
import io
from datetime import date
from decimal import Decimal
from importlib import import_module
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from collections_app.ledger import reports, services
from collections_app.ledger.models import AccountingPeriod, EventType, JournalEntry, JournalLine
from config.errors import DomainError
from customers.models import AuditEvent
from customers.roles import Role
from installments.models import Plan
from tests.collections_app.factories import monthly, plan_by_hand, product_make

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture(autouse=True)
def mappings(chart):
    """The default account mappings of migration 0007 (a flush removes them)."""
    import_module("collections_app.migrations.0007_books_posting").create_defaults(apps, None)


@pytest.fixture
def products():
    return product_make(name="Alpha loan"), product_make(name="Beta loan")


@pytest.fixture
def plans(products):
    alpha, beta = products
    return (plan_by_hand(product=alpha, disbursed=date(2025, 12, 1), rows=monthly(date(2026, 1, 1), 3)),
            plan_by_hand(product=beta, disbursed=date(2025, 12, 1), rows=monthly(date(2026, 1, 1), 3)))


def post(day, event, lines, plan=None, **kwargs):
    return services.journal_post(value_date=day, event_type=event, lines=lines, plan=plan, **kwargs)


# --- Income by product and month -------------------------------------------------------------------

@pytest.fixture
def income_book(plans, manager):
    pa, pb = plans
    post(date(2025, 12, 31), EventType.INTEREST_ACCRUAL, [("1102", "999.00", 0, pa), ("4101", 0, "999.00", pa)], pa)
    post(date(2026, 1, 10), EventType.INTEREST_ACCRUAL, [("1102", "100.00", 0, pa), ("4101", 0, "100.00", pa)], pa)
    fee = post(date(2026, 1, 20), EventType.UPFRONT_FEE, [("1103", "30.00", 0, pb), ("4102", 0, "30.00", pb)], pb)
    post(date(2026, 2, 5), EventType.INTEREST_ACCRUAL, [("1102", "50.00", 0, pa), ("4101", 0, "50.00", pa),
                                                         ("1104", "5.00", 0, pa), ("4103", 0, "5.00", pa)], pa)
    services.journal_reverse(entry=fee, actor=manager, reason="fee waived", value_date=date(2026, 2, 15))
    post(date(2026, 2, 20), EventType.MANUAL, [("1001", "7.00", 0, None), ("4104", 0, "7.00", None)])
    post(date(2026, 3, 1), EventType.INTEREST_ACCRUAL, [("1102", "1.00", 0, pa), ("4101", 0, "1.00", pa)], pa)


def test_income_by_product_and_month_nets_reversals_and_totals(income_book, products):
    alpha, beta = products
    report = reports.income_by_product(date(2026, 1, 1), date(2026, 2, 28))
    assert report.months == [date(2026, 1, 1), date(2026, 2, 1)]
    rows = {(row.product.name if row.product else None): (row.by_month, row.total) for row in report.rows}
    # Alpha: Jan 100.00 interest; Feb 50.00 interest + 5.00 penalty = 55.00. 2025-12 and 2026-03 left out.
    assert rows["Alpha loan"] == ([D("100.00"), D("55.00")], D("155.00"))
    # Beta: Jan fee 30.00, reversed in Feb (a debit of 30.00 to fee income).
    assert rows["Beta loan"] == ([D("30.00"), D("-30.00")], D("0.00"))
    # A manual recovery without a plan has no product.
    assert rows[None] == ([D("0.00"), D("7.00")], D("7.00"))
    assert [row.product for row in report.rows] == [alpha, beta, None]
    assert report.month_totals == [D("130.00"), D("32.00")] and report.total == D("162.00")


def test_income_page_shows_the_figures_and_the_default_range_is_twelve_months(client_for, accountant, income_book):
    client = client_for(accountant)
    page = client.get(reverse("collections:books_income"), {"from": "2026-01-01", "to": "2026-02-28"})
    assert page.status_code == 200
    text = page.content.decode()
    assert "Alpha loan" in text and "155.00" in text and "-30.00" in text and "162.00" in text
    assert "table-responsive" in text and reverse("collections:books_periods") in text  # the books' strip
    start, end = reports.default_range(date(2026, 12, 3))
    assert (start, end) == (date(2026, 1, 1), date(2026, 12, 3))
    assert reports.default_range(date(2026, 3, 31))[0] == date(2025, 4, 1)
    default = client.get(reverse("collections:books_income"))
    assert default.status_code == 200 and len(default.context["report"].months) == 12


def test_income_page_with_a_bad_date_names_the_field(client_for, accountant):
    page = client_for(accountant).get(reverse("collections:books_income"), {"from": "2026-02-30"})
    assert page.status_code == 400 and "From" in page.context["date_error"]
    page = client_for(accountant).get(reverse("collections:books_income"), {"from": "2026-03-01", "to": "2026-02-01"})
    assert page.status_code == 400 and "To" in page.context["date_error"]


# --- Provision movement ----------------------------------------------------------------------------

@pytest.fixture
def provision_book(plans):
    pa, pb = plans
    post(date(2025, 12, 20), EventType.PROVISION, [("5101", "200.00", 0, None), ("1401", 0, "200.00", None)])
    post(date(2026, 1, 31), EventType.PROVISION, [("5101", "80.00", 0, None), ("1401", 0, "80.00", None)])
    # One month-end provision that charges Alpha 10.00 and releases 40.00 on Beta.
    post(date(2026, 2, 28), EventType.PROVISION, [("5101", "10.00", 0, pa), ("1401", 0, "10.00", pa),
                                                   ("1401", "40.00", 0, pb), ("5101", 0, "40.00", pb)])
    post(date(2026, 2, 15), EventType.WRITE_OFF, [("1401", "60.00", 0, pa), ("5102", "40.00", 0, pa),
                                                   ("1101", 0, "100.00", pa)], pa)
    post(date(2026, 3, 10), EventType.MANUAL, [("1401", "5.00", 0, None), ("1301", 0, "5.00", None)])


def test_provision_movement_by_month_opens_where_the_last_month_closed(provision_book):
    report = reports.provision_movement(date(2026, 1, 1), date(2026, 3, 31))
    assert [a.code for a in report.accounts] == ["1401"]
    figures = [(m.month, m.opening, m.charged, m.released, m.used, m.other, m.closing) for m in report.months]
    assert figures == [
        # opening 200.00 (December's provision); +80.00 charged -> 280.00
        (date(2026, 1, 1), D("200.00"), D("80.00"), D("0.00"), D("0.00"), D("0.00"), D("280.00")),
        # 280.00 + 10.00 - 40.00 released - 60.00 used by the write-off = 190.00
        (date(2026, 2, 1), D("280.00"), D("10.00"), D("40.00"), D("60.00"), D("0.00"), D("190.00")),
        # a manual debit of 5.00 to the allowance: 185.00
        (date(2026, 3, 1), D("190.00"), D("0.00"), D("0.00"), D("0.00"), D("-5.00"), D("185.00")),
    ]
    assert report.totals == {"charged": D("90.00"), "released": D("40.00"), "used": D("60.00"), "other": D("-5.00")}
    from collections_app.ledger.models import LedgerAccount
    from collections_app.ledger.selectors import account_balance
    assert report.closing == account_balance(LedgerAccount.objects.get(code="1401"), date(2026, 3, 31))


def test_provision_page_for_the_accountant(client_for, accountant, provision_book):
    page = client_for(accountant).get(reverse("collections:books_provisions"), {"from": "2026-01-01",
                                                                               "to": "2026-03-31"})
    assert page.status_code == 200
    text = page.content.decode()
    assert "280.00" in text and "190.00" in text and "185.00" in text and "table-responsive" in text


# --- A journal entry and the drill-down from the ledger -----------------------------------------------

@pytest.fixture
def repayment(plans, manager):
    pa, _pb = plans
    entry = post(date(2026, 1, 15), EventType.REPAYMENT, [("1201", "110.00", 0, pa), ("1101", 0, "100.00", pa),
                                                          ("1102", 0, "10.00", pa)], pa,
                 actor=manager, memo="instalment 1", source=("collections_app.payment", 41))
    contra = services.journal_reverse(entry=entry, actor=manager, reason="bounced", value_date=date(2026, 1, 16))
    return entry, contra


def test_entry_page_shows_every_line_the_event_and_the_reversal_links(client_for, manager, repayment, plans):
    entry, contra = repayment
    pa = plans[0]
    page = client_for(manager).get(reverse("collections:books_entry", args=[entry.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    for line in entry.lines.all():
        assert f"<td>{line.pk}</td>" in text
    assert "110.00" in text and "instalment 1" in text and "collections_app.payment #41" in text
    assert "2026-01-15" in text and manager.email in text and "Repayment" in text
    assert reverse("collections:books_entry", args=[contra.pk]) in text  # reversed by
    assert reverse("collections:staff_plan", args=[pa.pk]) in text and pa.number in text  # manager may open plans
    back = client_for(manager).get(reverse("collections:books_entry", args=[contra.pk])).content.decode()
    assert reverse("collections:books_entry", args=[entry.pk]) in back and "bounced" in back
    assert client_for(manager).get(reverse("collections:books_entry", args=[999999])).status_code == 404


def test_accountant_sees_the_plan_number_but_not_a_link_and_the_plan_page_refuses_them(
        client_for, accountant, repayment, plans):
    entry, _contra = repayment
    pa = plans[0]
    client = client_for(accountant)
    text = client.get(reverse("collections:books_entry", args=[entry.pk])).content.decode()
    assert pa.number in text and reverse("collections:staff_plan", args=[pa.pk]) not in text
    assert client.get(reverse("collections:staff_plan", args=[pa.pk])).status_code == 403


def test_account_ledger_links_each_line_to_its_entry(client_for, accountant, repayment):
    entry, contra = repayment
    text = client_for(accountant).get(reverse("collections:books_account", args=["1201"])).content.decode()
    assert reverse("collections:books_entry", args=[entry.pk]) in text
    assert reverse("collections:books_entry", args=[contra.pk]) in text


# --- CSV export ------------------------------------------------------------------------------------

def _csv(response) -> list[list[str]]:
    assert response.streaming
    body = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(body)))


def test_csv_export_has_one_row_per_line_with_stable_ids(client_for, accountant, repayment, plans):
    entry, contra = repayment
    pa = plans[0]
    client = client_for(accountant)
    url = reverse("collections:books_journal_lines_csv")
    response = client.get(url, {"from": "2026-01-01", "to": "2026-01-31"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = _csv(response)
    assert rows[0] == reports.EXPORT_COLUMNS == [
        "line_id", "entry_id", "value_date", "booked_at", "event_type", "account_code", "account_name", "debit",
        "credit", "plan_number", "product_id", "source_type", "source_id", "actor", "memo", "reverses_entry_id"]
    lines = list(JournalLine.objects.filter(entry__in=[entry, contra]).order_by("entry_id", "pk"))
    assert [int(row[0]) for row in rows[1:]] == [line.pk for line in lines]
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first == {
        "line_id": str(lines[0].pk), "entry_id": str(entry.pk), "value_date": "2026-01-15",
        "booked_at": entry.booked_at.isoformat(), "event_type": "repayment", "account_code": "1201",
        "account_name": "Payment clearing - card provider", "debit": "110.00", "credit": "0.00",
        "plan_number": pa.number, "product_id": str(pa.product_id), "source_type": "collections_app.payment",
        "source_id": "41", "actor": entry.actor.email, "memo": "instalment 1", "reverses_entry_id": ""}
    reversal = [dict(zip(rows[0], row, strict=True)) for row in rows[1:] if row[1] == str(contra.pk)]
    assert len(reversal) == 3 and {r["reverses_entry_id"] for r in reversal} == {str(entry.pk)}
    assert {(r["account_code"], r["debit"], r["credit"]) for r in reversal} == {
        ("1201", "0.00", "110.00"), ("1101", "100.00", "0.00"), ("1102", "10.00", "0.00")}
    # The same request again gives the same rows (stable ids and order); a range outside gives the header only.
    assert _csv(client.get(url, {"from": "2026-01-01", "to": "2026-01-31"})) == rows
    assert _csv(client.get(url, {"from": "2026-02-01"})) == [reports.EXPORT_COLUMNS]
    assert len(_csv(client.get(url))) == JournalLine.objects.count() + 1


def test_csv_export_quotes_a_memo_that_would_be_a_spreadsheet_formula(client_for, accountant):
    post(date(2026, 1, 5), EventType.MANUAL, [("1001", "1.00", 0, None), ("1301", 0, "1.00", None)],
         memo="=HYPERLINK(\"x\")")
    rows = _csv(client_for(accountant).get(reverse("collections:books_journal_lines_csv")))
    assert rows[1][14] == "'=HYPERLINK(\"x\")"


def test_csv_export_names_a_customer_actor_by_id_only(client_for, accountant, plans):
    pa = plans[0]
    post(date(2026, 1, 6), EventType.REPAYMENT, [("1201", "5.00", 0, pa), ("1101", 0, "5.00", pa)], pa,
         actor=pa.customer)
    rows = _csv(client_for(accountant).get(reverse("collections:books_journal_lines_csv"), {"from": "2026-01-06",
                                                                                           "to": "2026-01-06"}))
    assert {row[13] for row in rows[1:]} == {str(pa.customer.pk)}
    assert pa.customer.email not in str(rows)
    entry = JournalEntry.objects.get(value_date=date(2026, 1, 6))
    page = client_for(accountant).get(reverse("collections:books_entry", args=[entry.pk])).content.decode()
    assert f"user #{pa.customer.pk}" in page and pa.customer.email not in page


@pytest.mark.parametrize(("params", "field"), [({"from": "2026-13-01"}, "from"), ({"to": "yesterday"}, "to"),
                                                ({"from": "2026-02-01", "to": "2026-01-01"}, "to")])
def test_csv_export_bad_date_is_400_naming_the_field(client_for, accountant, params, field):
    response = client_for(accountant).get(reverse("collections:books_journal_lines_csv"), params)
    assert response.status_code == 400 and response.content.decode().startswith(f"{field}:")


# --- Who reads the books -----------------------------------------------------------------------------

BOOK_PAGES = ["collections:books_income", "collections:books_provisions", "collections:books_periods",
              "collections:books_chart_changes", "collections:books_journal_lines_csv"]


@pytest.mark.parametrize("name", BOOK_PAGES)
def test_accountant_and_manager_read_the_reports(client_for, accountant, manager, name):
    for user in (accountant, manager):
        assert client_for(user).get(reverse(name)).status_code == 200, (user, name)


@pytest.mark.parametrize("role", ["customer", "officer"])
def test_officer_and_customer_are_refused_the_reports(request, client_for, repayment, role):
    client = client_for(request.getfixturevalue(role))
    for name in BOOK_PAGES:
        assert client.get(reverse(name)).status_code == 403, name
    assert client.get(reverse("collections:books_entry", args=[repayment[0].pk])).status_code == 403
    assert client.post(reverse("collections:books_periods"), {"month": "2026-01"}).status_code == 403


# --- Closing a period ----------------------------------------------------------------------------------

@pytest.fixture
def two_months():
    post(date(2026, 1, 10), EventType.MANUAL, [("1001", "5.00", 0, None), ("1301", 0, "5.00", None)])
    post(date(2026, 2, 10), EventType.MANUAL, [("1001", "6.00", 0, None), ("1301", 0, "6.00", None)])


def test_period_close_refuses_a_month_after_an_open_month_with_entries(two_months, accountant):
    with pytest.raises(DomainError) as refused:
        reports.period_close_checked(month=date(2026, 2, 1), by=accountant)
    assert refused.value.field == "month" and "2026-01" in refused.value.message
    assert not AccountingPeriod.objects.exists()
    reports.period_close_checked(month=date(2026, 1, 1), by=accountant)
    period = reports.period_close_checked(month=date(2026, 2, 14), by=accountant)
    assert period.month == date(2026, 2, 1) and period.closed_by == accountant
    assert AuditEvent.objects.filter(action="ledger.period_close").count() == 2
    with pytest.raises(DomainError) as again:
        reports.period_close_checked(month=date(2026, 2, 1), by=accountant)
    assert again.value.field == "month"


def test_period_close_refuses_a_month_not_ended_and_other_roles(two_months, accountant, manager):
    today = timezone.localdate()
    with pytest.raises(DomainError) as refused:
        reports.period_close_checked(month=today, by=accountant)
    assert refused.value.field == "month"
    with pytest.raises(DomainError) as role:
        reports.period_close_checked(month=date(2026, 1, 1), by=manager)
    assert role.value.field == "by"
    assert not AccountingPeriod.objects.exists()


def test_periods_page_lists_months_and_closes_one_for_the_accountant(client_for, accountant, two_months):
    client = client_for(accountant)
    page = client.get(reverse("collections:books_periods"))
    assert page.status_code == 200 and 'name="month"' in page.content.decode()
    assert [(row.month, row.entries, row.is_closed) for row in page.context["periods"]] == [
        (date(2026, 2, 1), 1, False), (date(2026, 1, 1), 1, False)]
    refused = client.post(reverse("collections:books_periods"), {"month": "2026-02"})
    assert refused.status_code == 400 and "2026-01" in refused.context["close_error"]
    bad = client.post(reverse("collections:books_periods"), {"month": "2026-13"})
    assert bad.status_code == 400 and "Month" in bad.context["close_error"]
    done = client.post(reverse("collections:books_periods"), {"month": "2026-01"})
    assert done.status_code == 302
    assert AccountingPeriod.objects.get(month=date(2026, 1, 1)).closed_by == accountant
    listed = client.get(reverse("collections:books_periods")).content.decode()
    assert accountant.email in listed
    with pytest.raises(DomainError):  # nothing is posted into the closed month afterwards
        post(date(2026, 1, 31), EventType.MANUAL, [("1001", "1.00", 0, None), ("1301", 0, "1.00", None)])


def test_manager_reads_the_periods_but_cannot_close(client_for, manager, two_months):
    client = client_for(manager)
    page = client.get(reverse("collections:books_periods"))
    assert page.status_code == 200 and 'name="month"' not in page.content.decode()
    assert client.post(reverse("collections:books_periods"), {"month": "2026-01"}).status_code == 403
    assert not AccountingPeriod.objects.exists()


def test_close_period_command(two_months, accountant, officer):
    out = StringIO()
    call_command("close_period", "2026-01", "--by", accountant.email, stdout=out)
    assert "Closed 2026-01" in out.getvalue()
    assert AccountingPeriod.objects.get(month=date(2026, 1, 1)).is_closed
    for args, named in [(["2026/02"], "month"), (["2026-13"], "month"), (["2026-01"], "month"),
                        (["2026-02", "--by", "nobody@example.com"], "--by"),
                        (["2026-02", "--by", officer.email], "--by")]:
        if "--by" not in args:
            args = [*args, "--by", accountant.email]
        with pytest.raises(CommandError) as refused:
            call_command("close_period", *args, stdout=StringIO())
        assert str(refused.value).startswith(f"{named}:"), (args, str(refused.value))
    assert list(AccountingPeriod.objects.values_list("month", flat=True)) == [date(2026, 1, 1)]


# --- Anonymising a customer whose plan has journal lines ----------------------------------------------

def test_anonymising_a_customer_with_journal_lines_keeps_the_plan_and_the_journal(plans, make_user):
    pa, _pb = plans
    entry = post(date(2026, 1, 10), EventType.INTEREST_ACCRUAL,
                 [("1102", "12.34", 0, pa), ("4101", 0, "12.34", pa)], pa)
    customer = pa.customer
    dpo = make_user(Role.ADMIN)
    call_command("anonymise_customer", customer.email, "--by", dpo.email, "--reason", "erasure 9", "--yes",
                 stdout=StringIO())
    customer.refresh_from_db()
    assert not customer.is_active and customer.email.endswith("@invalid.example")
    assert Plan.objects.filter(pk=pa.pk).exists()
    assert JournalEntry.objects.filter(pk=entry.pk, plan=pa).exists()
    assert sorted(JournalLine.objects.filter(entry=entry).values_list("debit", "credit")) == [
        (D("0.00"), D("12.34")), (D("12.34"), D("0.00"))]
