"""The questions finance asks of the books: the trial balance on a date and an account's ledger with
its running balance. Balances are on each account's normal side (debit-normal: debits - credits)."""

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db.models import DecimalField, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from collections_app.ledger.models import JournalLine, LedgerAccount
from customers.roles import Role

BOOKS_ROLES = (Role.MANAGER, Role.ACCOUNTANT, Role.ADMIN)
ZERO = Decimal("0.00")
_MONEY = DecimalField(max_digits=16, decimal_places=2)


@dataclass
class TrialBalanceRow:
    account: LedgerAccount
    debits: Decimal
    credits: Decimal
    balance: Decimal  # on the account's normal side


@dataclass
class TrialBalance:
    on: date
    rows: list[TrialBalanceRow] = field(default_factory=list)
    total_debits: Decimal = ZERO
    total_credits: Decimal = ZERO
    # Balances laid out in debit and credit columns (each row's net on the side it lies).
    debit_balances: Decimal = ZERO
    credit_balances: Decimal = ZERO

    @property
    def is_balanced(self) -> bool:
        return self.total_debits == self.total_credits and self.debit_balances == self.credit_balances


def _normal_balance(account: LedgerAccount, debits: Decimal, credits: Decimal) -> Decimal:
    return debits - credits if account.is_debit_normal else credits - debits


def trial_balance(on: date) -> TrialBalance:
    """Every account (active, or inactive with lines) with its debits, credits and balance from the
    lines of entries whose value date is on or before `on`; totals of debits and of credits match."""
    in_range = Q(lines__entry__value_date__lte=on)
    zero = Value(ZERO, output_field=_MONEY)
    accounts = (LedgerAccount.objects
                .annotate(debits=Coalesce(Sum("lines__debit", filter=in_range), zero, output_field=_MONEY),
                          credits=Coalesce(Sum("lines__credit", filter=in_range), zero, output_field=_MONEY))
                .order_by("code"))
    result = TrialBalance(on=on)
    for account in accounts:
        if not account.is_active and not (account.debits or account.credits):
            continue
        balance = _normal_balance(account, account.debits, account.credits)
        result.rows.append(TrialBalanceRow(account, account.debits, account.credits, balance))
        result.total_debits += account.debits
        result.total_credits += account.credits
        net = account.debits - account.credits
        if net >= 0:
            result.debit_balances += net
        else:
            result.credit_balances -= net
    return result


def account_balance(account: LedgerAccount, on: date | None = None) -> Decimal:
    """The account's balance on its normal side from every line (up to `on` when given)."""
    lines = account.lines.all()
    if on is not None:
        lines = lines.filter(entry__value_date__lte=on)
    sums = lines.aggregate(debits=Sum("debit", default=ZERO), credits=Sum("credit", default=ZERO))
    return _normal_balance(account, sums["debits"], sums["credits"])


def journal_lines(*, start: date | None = None, end: date | None = None,
                  account: LedgerAccount | None = None) -> QuerySet[JournalLine]:
    """Journal lines by value date (inclusive bounds), oldest first, with their entry and account."""
    lines = JournalLine.objects.select_related("entry", "account")
    if start is not None:
        lines = lines.filter(entry__value_date__gte=start)
    if end is not None:
        lines = lines.filter(entry__value_date__lte=end)
    if account is not None:
        lines = lines.filter(account=account)
    return lines.order_by("entry__value_date", "entry_id", "pk")


@dataclass
class LedgerLine:
    line: JournalLine
    running_balance: Decimal


@dataclass
class AccountLedger:
    account: LedgerAccount
    start: date | None
    end: date | None
    opening_balance: Decimal
    lines: list[LedgerLine]
    closing_balance: Decimal


def account_ledger(account: LedgerAccount, start: date | None = None, end: date | None = None) -> AccountLedger:
    """The account's lines between `start` and `end` (value dates, inclusive) with the balance after
    each, starting from the balance of every earlier line; each line carries its entry (event, source)."""
    opening = ZERO
    if start is not None:
        earlier = account.lines.filter(entry__value_date__lt=start).aggregate(
            debits=Sum("debit", default=ZERO), credits=Sum("credit", default=ZERO))
        opening = _normal_balance(account, earlier["debits"], earlier["credits"])
    running = opening
    rows = []
    for line in journal_lines(start=start, end=end, account=account).select_related("entry__actor", "plan"):
        running += _normal_balance(account, line.debit, line.credit)
        rows.append(LedgerLine(line, running))
    return AccountLedger(account, start, end, opening, rows, running)


def books_status():
    """The last close-of-business run that checked the books (for the manager dashboard): the day,
    whether it stopped, and its reconciliation report; None before the first."""
    from collections_app.models import CobRun

    return CobRun.objects.exclude(reconciliation={}).order_by("-business_date").first()
