"""journal_post, journal_reverse and period_close: balanced entries post, every kind of bad entry is
refused with the field named and nothing stored, reversals are contra entries, closed months refuse."""

from datetime import date
from decimal import Decimal

import pytest

from collections_app.ledger import selectors, services
from collections_app.ledger.models import AccountingPeriod, EventType, JournalEntry, JournalLine, LedgerAccount
from config.errors import DomainError
from customers.models import AuditEvent

pytestmark = pytest.mark.usefixtures("chart")

DAY = date(2026, 3, 15)


def disbursement(amount="1000.00"):
    return [("1101", amount, 0, None), ("1001", 0, amount, None)]


def test_default_chart_has_the_lenders_accounts_with_normal_sides():
    accounts = {a.code: a for a in LedgerAccount.objects.all()}
    for code in ["1001", "1101", "1102", "1103", "1104", "1201", "1202", "1301", "1401", "2101",
                 "4101", "4102", "4103", "4104", "5101", "5102"]:
        assert code in accounts and accounts[code].name_zh, code
    assert accounts["1101"].normal_side == "debit"
    assert accounts["1401"].normal_side == "credit"  # contra-asset
    assert accounts["2101"].kind == "liability" and accounts["2101"].normal_side == "credit"
    assert accounts["4101"].normal_side == "credit" and accounts["5101"].normal_side == "debit"


def test_normal_side_follows_the_kind_when_left_blank(db):
    account = LedgerAccount.objects.create(code="4999", name="Other income", kind="income")
    assert account.normal_side == "credit"


def test_balanced_entry_posts_with_quantized_amounts(manager):
    entry = services.journal_post(
        value_date=DAY, event_type=EventType.REPAYMENT, actor=manager, memo="payment 1",
        source=("collections_app.payment", 7),
        lines=[("1201", "100.005", 0, None), ("1101", 0, "80.00", None), ("4101", 0, Decimal("20.005"), None)])
    lines = list(entry.lines.order_by("pk"))
    assert [(line.account.code, line.debit, line.credit) for line in lines] == [
        ("1201", Decimal("100.01"), Decimal("0.00")),  # ROUND_HALF_UP
        ("1101", Decimal("0.00"), Decimal("80.00")),
        ("4101", Decimal("0.00"), Decimal("20.01")),
    ]
    assert entry.source_type == "collections_app.payment" and entry.source_id == "7"
    assert entry.actor == manager and entry.value_date == DAY


@pytest.mark.parametrize(("lines", "field"), [
    pytest.param([("1101", "100.00", 0, None), ("1001", 0, "99.99", None)], "lines", id="unbalanced"),
    pytest.param([("1101", "100.00", 0, None)], "lines", id="one-line"),
    pytest.param([], "lines", id="no-lines"),
    pytest.param([("1101", "-100.00", 0, None), ("1001", "-100.00", 0, None)], "lines", id="negative"),
    pytest.param([("1101", "100.00", "100.00", None), ("1001", 0, 0, None)], "lines", id="both-and-neither"),
    pytest.param([("1101", "abc", 0, None), ("1001", 0, "1", None)], "lines", id="not-a-number"),
    pytest.param([("1101", "NaN", 0, None), ("1001", 0, "1", None)], "lines", id="nan"),
    pytest.param([("1101", "Infinity", 0, None), ("1001", 0, "1", None)], "lines", id="infinity"),
    pytest.param([("9999", "100.00", 0, None), ("1001", 0, "100.00", None)], "account", id="unknown-account"),
])
def test_bad_entry_is_refused_with_the_field_named_and_nothing_stored(lines, field):
    with pytest.raises(DomainError) as refused:
        services.journal_post(value_date=DAY, event_type=EventType.MANUAL, lines=lines)
    assert refused.value.field == field
    assert not JournalEntry.objects.exists() and not JournalLine.objects.exists()


def test_inactive_account_is_refused():
    LedgerAccount.objects.filter(code="1301").update(is_active=False)
    with pytest.raises(DomainError) as refused:
        services.journal_post(value_date=DAY, event_type=EventType.MANUAL,
                              lines=[("1301", "5.00", 0, None), ("1001", 0, "5.00", None)])
    assert refused.value.field == "account"
    assert not JournalEntry.objects.exists()


def test_unknown_event_type_is_refused():
    with pytest.raises(DomainError) as refused:
        services.journal_post(value_date=DAY, event_type="gift", lines=disbursement())
    assert refused.value.field == "event_type"


def test_closed_period_refuses_postings_and_the_close_is_audited(manager):
    period = services.period_close(month=date(2026, 3, 31), by=manager)
    assert period.month == date(2026, 3, 1) and period.closed_by == manager
    assert AuditEvent.objects.filter(action="ledger.period_close", actor=manager).exists()
    with pytest.raises(DomainError) as refused:
        services.journal_post(value_date=DAY, event_type=EventType.DISBURSEMENT, lines=disbursement())
    assert refused.value.field == "value_date"
    assert not JournalEntry.objects.exists()
    # The next month is open.
    services.journal_post(value_date=date(2026, 4, 1), event_type=EventType.DISBURSEMENT, lines=disbursement())
    with pytest.raises(DomainError) as again:
        services.period_close(month=date(2026, 3, 1), by=manager)
    assert again.value.field == "month"
    assert AccountingPeriod.objects.count() == 1


def test_reversal_posts_a_contra_entry_and_the_trial_balance_nets_to_zero(manager):
    entry = services.journal_post(value_date=DAY, event_type=EventType.DISBURSEMENT, lines=disbursement("250.50"))
    contra = services.journal_reverse(entry=entry, actor=manager, reason="posted twice")
    assert contra.reverses == entry and contra.event_type == EventType.REVERSAL and contra.memo == "posted twice"
    assert sorted((line.account.code, line.debit, line.credit) for line in contra.lines.all()) == [
        ("1001", Decimal("250.50"), Decimal("0.00")), ("1101", Decimal("0.00"), Decimal("250.50"))]
    # The original is untouched.
    assert sorted((line.account.code, line.debit, line.credit) for line in entry.lines.all()) == [
        ("1001", Decimal("0.00"), Decimal("250.50")), ("1101", Decimal("250.50"), Decimal("0.00"))]
    balance = selectors.trial_balance(DAY)
    assert balance.is_balanced
    assert all(row.balance == 0 for row in balance.rows)
    assert AuditEvent.objects.filter(action="ledger.entry_reverse").exists()
    with pytest.raises(DomainError) as twice:
        services.journal_reverse(entry=entry, actor=manager, reason="again")
    assert twice.value.field == "entry"


def test_reversal_of_an_entry_in_a_closed_month_is_dated_in_an_open_one(manager):
    entry = services.journal_post(value_date=date(2026, 1, 10), event_type=EventType.DISBURSEMENT,
                                  lines=disbursement())
    services.period_close(month=date(2026, 1, 1), by=manager)
    contra = services.journal_reverse(entry=entry, actor=manager, reason="wrong plan", value_date=DAY)
    assert contra.value_date == DAY
    with pytest.raises(DomainError) as refused:
        services.journal_reverse(entry=services.journal_post(
            value_date=DAY, event_type=EventType.MANUAL, lines=disbursement()), actor=manager, reason="x",
            value_date=date(2026, 1, 31))
    assert refused.value.field == "value_date"


def test_trial_balance_debits_equal_credits_and_respects_the_date():
    services.journal_post(value_date=date(2026, 3, 1), event_type=EventType.DISBURSEMENT, lines=disbursement())
    services.journal_post(value_date=date(2026, 3, 1), event_type=EventType.UPFRONT_FEE,
                          lines=[("1103", "30.00", 0, None), ("4102", 0, "30.00", None)])
    services.journal_post(value_date=date(2026, 3, 20), event_type=EventType.REPAYMENT,
                          lines=[("1201", "130.00", 0, None), ("1101", 0, "100.00", None),
                                 ("1103", 0, "30.00", None)])
    early = selectors.trial_balance(date(2026, 3, 10))
    assert early.is_balanced and early.total_debits == early.total_credits == Decimal("1030.00")
    late = selectors.trial_balance(date(2026, 3, 31))
    assert late.is_balanced and late.total_debits == Decimal("1160.00")
    rows = {row.account.code: row.balance for row in late.rows}
    assert rows["1101"] == Decimal("900.00") and rows["1001"] == Decimal("-1000.00")
    assert rows["1103"] == 0 and rows["4102"] == Decimal("30.00") and rows["1201"] == Decimal("130.00")


def test_account_ledger_has_a_running_balance_from_the_opening_balance():
    for day, amount in [(date(2026, 2, 1), "100.00"), (date(2026, 3, 1), "50.00"), (date(2026, 3, 5), "25.00")]:
        services.journal_post(value_date=day, event_type=EventType.DISBURSEMENT, lines=disbursement(amount))
    ledger = selectors.account_ledger(LedgerAccount.objects.get(code="1101"), date(2026, 3, 1), date(2026, 3, 31))
    assert ledger.opening_balance == Decimal("100.00")
    assert [row.running_balance for row in ledger.lines] == [Decimal("150.00"), Decimal("175.00")]
    assert ledger.closing_balance == Decimal("175.00")
    assert ledger.lines[0].line.entry.event_type == EventType.DISBURSEMENT
