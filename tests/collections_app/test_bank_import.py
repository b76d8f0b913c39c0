"""Bank receipts import: lines reconcile to plans by plan number (column or quoted in the text),
unmatched and malformed lines are listed and not posted while matched lines post, a bank
reference posts once however often the file is imported, the command and the staff page."""

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse

from collections_app.models import Payment
from collections_app.servicing import bank_import
from customers.models import AuditEvent
from customers.roles import Role
from tests.collections_app.factories import customer_make, days_ago, plan_by_hand, staff_make

pytestmark = pytest.mark.django_db
D = Decimal
HEADER = "date,amount,reference,plan_number,payer,memo"


def _csv(*lines, header=HEADER):
    return header + "\n" + "\n".join(lines) + "\n"


def _plan(number, state="active"):
    return plan_by_hand(number=number, state=state, disbursed=days_ago(60), rows=[
        (days_ago(30), "100.00", "10.00"), (days_ago(-1), "100.00", "10.00"), (days_ago(-31), "100.00", "10.00")])


def _import(text, by):
    return bank_import.payments_import_csv(text=text, by=by)


@pytest.fixture
def plans():
    return {"first": _plan("PLN-2026-AAAAA2"), "second": _plan("PLN-2026-BBBBB3")}


def test_a_line_with_a_plan_number_posts_to_that_plan_on_the_files_value_date(plans, officer_user):
    plan = plans["first"]
    result = _import(_csv(f"{days_ago(3)},110.00,BNK-1,{plan.number.lower()},,"), officer_user)
    assert result.lines == 1 and not result.exceptions
    payment = Payment.objects.get()
    assert result.posted == [payment]
    assert (payment.plan, payment.amount, payment.received_on, payment.channel, payment.idempotency_key,
            payment.reference, payment.created_by) == (plan, D("110.00"), days_ago(3), Payment.Channel.BANK_IMPORT,
                                                        "bank:BNK-1", "BNK-1", officer_user)


def test_a_line_without_a_plan_number_matches_the_plan_quoted_in_its_reference_payer_or_memo(plans, officer_user):
    first, second = plans["first"], plans["second"]
    text = _csv(f"{days_ago(2)},10.00,BNK-1,ZHANG WEI,repayment {first.number} thanks",
                f"{days_ago(2)},20.00,BNK-2 pln2026bbbbb3,,",
                f"{days_ago(2)},30.00,BNK-3,PLN 2026 AAAAA2,", header="date,amount,reference,payer,memo")
    result = _import(text, officer_user)
    assert not result.exceptions
    assert sorted((p.plan.number, p.amount) for p in result.posted) == [
        (first.number, D("10.00")), (first.number, D("30.00")), (second.number, D("20.00"))]


def test_unmatched_lines_are_listed_with_why_and_not_posted_while_matched_lines_post(plans, officer_user):
    closed = _plan("PLN-2026-CCCCC4", state="paid_off")
    text = _csv(f"{days_ago(1)},10.00,BNK-1,,,for {plans['first'].number}",
                f"{days_ago(1)},11.00,BNK-2,,LI NA,school fees",
                f"{days_ago(1)},12.00,BNK-3,PLN-2026-ZZZZZ9,,",
                f"{days_ago(1)},13.00,BNK-4,,,PLN-2026-YYYYY8",
                f"{days_ago(1)},14.00,BNK-5,{closed.number},,",
                f"{days_ago(1)},15.00,BNK-6,,,{plans['second'].number}")
    result = _import(text, officer_user)
    assert [(e.line, e.reference, e.amount) for e in result.unmatched] == [
        (3, "BNK-2", "11.00"), (4, "BNK-3", "12.00"), (5, "BNK-4", "13.00"), (6, "BNK-5", "14.00")]
    reasons = [e.reason for e in result.unmatched]
    assert "no plan number" in reasons[0]
    assert "no plan numbered 'PLN-2026-ZZZZZ9'" in reasons[1]
    assert "no plan numbered PLN-2026-YYYYY8" in reasons[2]
    assert "takes no payments" in reasons[3]
    assert sorted(Payment.objects.values_list("reference", flat=True)) == ["BNK-1", "BNK-6"]
    assert [p.reference for p in result.posted] == ["BNK-1", "BNK-6"]


def test_a_line_that_names_two_plans_is_ambiguous_and_not_posted(plans, officer_user):
    text = _csv(f"{days_ago(1)},10.00,BNK-1,,,{plans['first'].number} and {plans['second'].number}")
    result = _import(text, officer_user)
    assert [(e.line, e.field) for e in result.unmatched] == [(2, "")]
    assert "more than one plan" in result.unmatched[0].reason
    assert not Payment.objects.exists()


def test_importing_the_same_file_again_posts_nothing_twice(plans, officer_user):
    first, second = plans["first"], plans["second"]
    text = _csv(f"{days_ago(1)},10.00,BNK-1,{first.number},,", f"{days_ago(1)},20.00,BNK-2,,,{second.number}",
                f"{days_ago(1)},30.00,BNK-3,,,no plan here")
    _import(text, officer_user)
    again = _import(text, officer_user)
    assert not again.posted and len(again.already_posted) == 2 and len(again.unmatched) == 1
    assert Payment.objects.count() == 2
    # A corrected file that moves a posted reference to another plan still does not post it twice.
    moved = _import(_csv(f"{days_ago(1)},10.00,BNK-1,{second.number},,"), officer_user)
    assert not moved.posted and [p.plan for p in moved.already_posted] == [first]
    # The same reference for different money is an exception, not a second payment.
    changed = _import(_csv(f"{days_ago(1)},99.00,BNK-1,{first.number},,"), officer_user)
    assert [(e.line, e.field) for e in changed.rejected] == [(2, "reference")]
    assert "posted before" in changed.rejected[0].reason
    assert Payment.objects.count() == 2
    events = AuditEvent.objects.filter(action="payment.import").order_by("pk")
    assert [(e.data["posted"], e.data["already_posted"], len(e.data["unmatched"])) for e in events] == [
        (2, 0, 1), (0, 2, 1), (0, 1, 0), (0, 0, 0)]
    assert events[0].actor == officer_user and len(events[0].data["file_sha256"]) == 64


def test_a_reversed_bank_payment_is_not_posted_again_by_a_reimport(plans, officer_user):
    from collections_app.servicing import requests

    text = _csv(f"{days_ago(1)},10.00,BNK-1,{plans['first'].number},,")
    payment = _import(text, officer_user).posted[0]
    requests.payment_reverse(payment=payment, by=officer_user, reason="bounced")
    again = _import(text, officer_user)
    assert not again.posted and again.already_posted == [payment]


def test_malformed_lines_are_named_by_line_and_column_and_not_posted(plans, officer_user):
    number = plans["first"].number
    text = _csv(f"{days_ago(1)},12.3x,BNK-1,{number},,",
                f"{days_ago(1)},-5.00,BNK-2,{number},,",
                f"15/01/2026,10.00,BNK-3,{number},,",
                f"{days_ago(-1)},10.00,BNK-4,{number},,",
                f"{days_ago(1)},10.00,,{number},,",
                f"{days_ago(1)},10.00,BNK-6,{number},,",
                f"{days_ago(1)},11.00,BNK-6,{number},,",
                f"{days_ago(1)},10.005,BNK-8,{number},,",
                f"{days_ago(1)},10.00,BNK-9,{number},,")
    result = _import(text, officer_user)
    assert [(e.line, e.field) for e in result.rejected] == [
        (2, "amount"), (3, "amount"), (4, "date"), (5, "date"), (6, "reference"), (7, "reference"),
        (8, "reference"), (9, "amount")]
    assert "line 8" in result.rejected[5].reason and "line 7" in result.rejected[6].reason
    assert "future" in result.rejected[3].reason and "YYYY-MM-DD" in result.rejected[2].reason
    assert result.rejected_lines == 8 and not result.unmatched
    assert [p.reference for p in Payment.objects.all()] == ["BNK-9"]


@pytest.mark.parametrize(("label", "text", "expected"), [
    ("a missing column", "date,amount,plan_number\n2026-01-01,1,PLN-2026-AAAAA2\n", "missing column(s): reference"),
    ("not CSV", "\x00\x01\x02 binary", "missing column"),
    ("no lines", HEADER + "\n\n", "no payment lines"),
    ("a good line, then a cell over csv's field limit",
     _csv(f"{days_ago(1)},10.00,BNK-1,PLN-2026-AAAAA2,,", f'{days_ago(1)},1,"{"y" * 200_000}",,,'),
     "line 3: a cell is longer"),
])
def test_a_file_that_is_not_a_receipts_csv_is_refused_whole(plans, officer_user, label, text, expected):
    with pytest.raises(bank_import.PaymentImportError) as error:
        _import(text, officer_user)
    assert expected in error.value.errors[0], label
    assert not Payment.objects.exists()


def test_a_payment_the_plan_refuses_is_listed_with_the_plans_reason(plans, officer_user):
    # The value date is before the plan started: the plan refuses it; the other line posts.
    text = _csv(f"{days_ago(90)},10.00,BNK-1,{plans['first'].number},,",
                f"{days_ago(1)},10.00,BNK-2,{plans['first'].number},,")
    result = _import(text, officer_user)
    assert [(e.line, e.reference) for e in result.unmatched] == [(2, "BNK-1")]
    assert "before the plan started" in result.unmatched[0].reason
    assert [p.reference for p in result.posted] == ["BNK-2"]


def test_only_staff_who_take_payments_may_import(plans):
    with pytest.raises(bank_import.DomainError):
        _import(_csv(f"{days_ago(1)},10.00,BNK-1,{plans['first'].number},,"), customer_make())
    assert not Payment.objects.exists()


# --- The command -----------------------------------------------------------------------------------

def test_the_command_posts_and_prints_a_summary(tmp_path, plans, officer_user, capsys):
    path = tmp_path / "receipts.csv"
    path.write_text(_csv(f"{days_ago(1)},10.00,BNK-1,{plans['first'].number},,"), encoding="utf-8")
    call_command("import_bank_payments", str(path), "--user", officer_user.email.upper())
    out = capsys.readouterr().out
    assert "1 lines: 1 posted, 0 already posted before, 0 unmatched, 0 rejected." in out
    call_command("import_bank_payments", str(path), "--user", officer_user.email)
    assert "0 posted, 1 already posted before" in capsys.readouterr().out
    assert Payment.objects.count() == 1


def test_the_command_lists_unmatched_and_rejected_lines_and_exits_2(tmp_path, plans, officer_user, capsys):
    path = tmp_path / "receipts.csv"
    path.write_text(_csv(f"{days_ago(1)},10.00,BNK-1,{plans['first'].number},,",
                         f"{days_ago(1)},11.00,BNK-2,,,no plan", f"{days_ago(1)},x,BNK-3,,,"), encoding="utf-8")
    with pytest.raises(CommandError) as error:
        call_command("import_bank_payments", str(path), "--user", officer_user.email)
    assert error.value.returncode == 2
    out = capsys.readouterr().out
    assert "1 posted" in out and "unmatched line 3:" in out and "'BNK-2'" in out
    assert "rejected line 4, amount:" in out
    assert Payment.objects.count() == 1


@pytest.mark.parametrize(("label", "user", "message"), [
    ("a missing file", "officer", "file: no such file"),
    ("an unknown user", "nobody@example.com", "--user: no user with the e-mail nobody@example.com"),
    ("a customer", "customer", "has no staff role"),
])
def test_the_command_refuses_bad_arguments_naming_them(tmp_path, officer_user, label, user, message):
    path = tmp_path / ("missing.csv" if label == "a missing file" else "receipts.csv")
    if label != "a missing file":
        path.write_text(_csv(f"{days_ago(1)},10.00,BNK-1,PLN-2026-AAAAA2,,"), encoding="utf-8")
    email = {"officer": officer_user.email, "customer": customer_make().email}.get(user, user)
    with pytest.raises(CommandError) as error:
        call_command("import_bank_payments", str(path), "--user", email)
    assert message in str(error.value) and error.value.returncode == 1, label


def test_the_command_refuses_a_file_that_is_not_a_receipts_csv(tmp_path, officer_user, capsys):
    path = tmp_path / "receipts.csv"
    path.write_text("plan_number,amount\nPLN-2026-AAAAA2,1\n", encoding="utf-8")
    with pytest.raises(CommandError) as error:
        call_command("import_bank_payments", str(path), "--user", officer_user.email)
    assert error.value.returncode == 1 and "nothing was posted" in str(error.value)
    assert "missing column" in capsys.readouterr().err


# --- The staff page --------------------------------------------------------------------------------

def test_the_staff_page_shows_the_summary_and_the_exceptions_list(client_for, plans):
    client = client_for(staff_make(Role.LOAN_OFFICER))  # a collector posts only to assigned plans
    url = reverse("collections:staff_payment_import")
    assert client.get(url).status_code == 200
    text = _csv(f"{days_ago(1)},10.00,BNK-1,,,{plans['first'].number}", f"{days_ago(1)},11.00,BNK-2,,,gift",
                f"{days_ago(1)},abc,BNK-3,,,")
    response = client.post(url, {"file": SimpleUploadedFile("r.csv", text.encode())})
    page = response.content.decode()
    assert response.status_code == 200
    assert "3 lines: 1 posted, 0 already posted before, 1 unmatched, 1 rejected." in page
    assert 'id="import-exceptions"' in page and "BNK-2" in page and "no plan number" in page
    assert [(e.line, e.field) for e in response.context["result"].exceptions] == [(3, ""), (4, "amount")]
    response = client.post(url, {"file": SimpleUploadedFile("r.csv", text.encode())})
    assert "0 posted, 1 already posted before" in response.content.decode()
    assert Payment.objects.count() == 1


def test_the_staff_page_speaks_chinese(client_for, plans, settings):
    client = client_for(staff_make(Role.LOAN_OFFICER))
    text = _csv(f"{days_ago(1)},11.00,BNK-2,,,gift")
    response = client.post(reverse("collections:staff_payment_import"),
                           {"file": SimpleUploadedFile("r.csv", text.encode())}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    page = response.content.decode()
    assert "共 1 行" in page and "未匹配" in page


# --- Races (PostgreSQL) -----------------------------------------------------------------------------

@pytest.mark.integration
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_the_same_file_imported_twice_at_once_posts_each_line_once(officer_user):
    from tests.collections_app.test_concurrency import race

    first, second = _plan("PLN-2026-AAAAA2"), _plan("PLN-2026-BBBBB3")
    text = _csv(f"{days_ago(1)},10.00,BNK-1,{first.number},,", f"{days_ago(1)},20.00,BNK-2,,,{second.number}")
    results = race(lambda: _import(text, officer_user), lambda: _import(text, officer_user))
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(len(r.posted) for r in results) == 2
    assert all(len(r.posted) + len(r.already_posted) == 2 for r in results)
    assert Payment.objects.count() == 2
