"""Finance reports over the journal: income by product and month, the movement of the allowance for
loan losses by month, one entry in full, the months of the books with their close, and journal lines
for export. All figures are sums of journal lines by value date (inclusive bounds), in yuan."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, DecimalField, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import timezone
from django.utils.translation import gettext as _

from collections_app.ledger import services
from collections_app.ledger.models import (
    AccountingPeriod,
    AccountKind,
    AccountMapping,
    AccountRole,
    EventType,
    JournalEntry,
    JournalLine,
    LedgerAccount,
)
from config.errors import DomainError
from customers.roles import STAFF_ROLES, Role
from installments.models import LoanProduct

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
_MONEY = DecimalField(max_digits=16, decimal_places=2)


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def months_between(start: date, end: date) -> list[date]:
    """The first day of every month from `start`'s month to `end`'s month, inclusive."""
    months, month = [], month_start(start)
    while month <= end:
        months.append(month)
        month = next_month(month)
    return months


def default_range(today: date | None = None) -> tuple[date, date]:
    """The last 12 months: the first day of the month eleven months before this one, to today."""
    today = today or timezone.localdate()
    months = today.year * 12 + today.month - 1 - 11
    return date(months // 12, months % 12 + 1, 1), today


def _cents(value) -> Decimal:
    """A sum as yuan with two decimals (SQLite's sums come back without trailing zeros)."""
    return (value or ZERO).quantize(CENT, rounding=ROUND_HALF_UP)


def _month_key(value) -> date:
    """TruncMonth gives a date on PostgreSQL and SQLite alike for a DateField; be tolerant of datetimes."""
    return value.date() if hasattr(value, "date") and callable(value.date) else value


# --- Income by product and month ---------------------------------------------------------------------

@dataclass
class IncomeRow:
    product: LoanProduct | None  # None: lines without a product (manual entries)
    by_month: list[Decimal]
    total: Decimal


@dataclass
class IncomeReport:
    start: date
    end: date
    months: list[date]
    rows: list[IncomeRow] = field(default_factory=list)
    month_totals: list[Decimal] = field(default_factory=list)
    total: Decimal = ZERO


def income_by_product(start: date, end: date) -> IncomeReport:
    """Income (accounts of kind income) per product and month of value date, between `start` and `end`
    (inclusive): credits minus debits, so a reversal or a debit to income reduces it."""
    months = months_between(start, end)
    sums = (JournalLine.objects
            .filter(account__kind=AccountKind.INCOME, entry__value_date__gte=start, entry__value_date__lte=end)
            .annotate(month=TruncMonth("entry__value_date"))
            .values("product_id", "month")
            .annotate(net=Sum("credit") - Sum("debit"))
            .order_by())
    cells: dict[int | None, dict[date, Decimal]] = {}
    for row in sums:
        cells.setdefault(row["product_id"], {})[_month_key(row["month"])] = _cents(row["net"])
    products = LoanProduct.objects.in_bulk([pk for pk in cells if pk is not None])
    report = IncomeReport(start=start, end=end, months=months, month_totals=[ZERO] * len(months))
    ordered = sorted(cells, key=lambda pk: (pk is None, getattr(products.get(pk), "name", ""), pk or 0))
    for product_id in ordered:
        by_month = [cells[product_id].get(month, ZERO) for month in months]
        row = IncomeRow(product=products.get(product_id), by_month=by_month, total=sum(by_month, ZERO))
        report.rows.append(row)
        report.month_totals = [a + b for a, b in zip(report.month_totals, by_month, strict=True)]
        report.total += row.total
    return report


# --- Provision movement (allowance for loan losses) -----------------------------------------------------

@dataclass
class ProvisionMonth:
    month: date
    opening: Decimal
    charged: Decimal      # PROVISION entries' credits to the allowance
    released: Decimal     # PROVISION entries' debits to the allowance
    used: Decimal         # WRITE_OFF entries' debits to the allowance
    other: Decimal        # every other line (reversals, manual entries), credits - debits
    closing: Decimal      # opening + charged - released - used + other


@dataclass
class ProvisionReport:
    start: date
    end: date
    accounts: list[LedgerAccount]
    months: list[ProvisionMonth] = field(default_factory=list)

    @property
    def opening(self) -> Decimal:
        return self.months[0].opening if self.months else ZERO

    @property
    def closing(self) -> Decimal:
        return self.months[-1].closing if self.months else ZERO

    def total(self, name: str) -> Decimal:
        return sum((getattr(month, name) for month in self.months), ZERO)

    @property
    def totals(self) -> dict[str, Decimal]:
        return {name: self.total(name) for name in ("charged", "released", "used", "other")}


def allowance_accounts() -> list[LedgerAccount]:
    """Every account mapped to the allowance role (the default's and any product's)."""
    ids = AccountMapping.objects.filter(role=AccountRole.ALLOWANCE).values_list("account_id", flat=True)
    return list(LedgerAccount.objects.filter(pk__in=ids).order_by("code"))


def provision_movement(start: date, end: date) -> ProvisionReport:
    """The allowance's balance (credit side: credits - debits) at the start of each month from
    `start`'s month to `end`'s month, what provisions charged and released, what write-offs used, and
    the balance at the end. The first month opens on `start` and the last closes on `end`."""
    accounts = allowance_accounts()
    report = ProvisionReport(start=start, end=end, accounts=accounts)
    lines = JournalLine.objects.filter(account__in=accounts)
    zero = Value(ZERO, output_field=_MONEY)
    before = lines.filter(entry__value_date__lt=start).aggregate(
        net=Coalesce(Sum("credit") - Sum("debit"), zero, output_field=_MONEY))["net"]
    before = _cents(before)
    provision = Q(entry__event_type=EventType.PROVISION)
    write_off = Q(entry__event_type=EventType.WRITE_OFF)
    sums = (lines.filter(entry__value_date__gte=start, entry__value_date__lte=end)
            .annotate(month=TruncMonth("entry__value_date")).values("month")
            .annotate(charged=Sum("credit", filter=provision), released=Sum("debit", filter=provision),
                      used=Sum("debit", filter=write_off),
                      other_credit=Sum("credit", filter=~provision & ~write_off),
                      other_debit=Sum("debit", filter=~provision & ~write_off),
                      write_off_credit=Sum("credit", filter=write_off))
            .order_by())
    by_month = {_month_key(row["month"]): row for row in sums}
    running = before
    for month in months_between(start, end):
        row = by_month.get(month, {})
        charged, released, used = (_cents(row.get(k)) for k in ("charged", "released", "used"))
        # A write-off's credit to the allowance (unusual) counts with the other movements.
        other = _cents(row.get("other_credit")) + _cents(row.get("write_off_credit")) - _cents(row.get("other_debit"))
        closing = running + charged - released - used + other
        report.months.append(ProvisionMonth(month, running, charged, released, used, other, closing))
        running = closing
    return report


# --- One entry in full ----------------------------------------------------------------------------------

def entry_detail(pk: int) -> JournalEntry:
    """The entry with its actor, plan, what it reverses and its lines (account, plan, product)."""
    return (JournalEntry.objects.select_related("actor", "plan", "reverses")
            .prefetch_related("lines__account", "lines__plan", "lines__product")
            .get(pk=pk))


def entry_reversed_by(entry: JournalEntry) -> JournalEntry | None:
    return JournalEntry.objects.filter(reverses=entry).first()


# --- Months of the books -------------------------------------------------------------------------------

@dataclass
class PeriodRow:
    month: date
    entries: int
    period: AccountingPeriod | None

    @property
    def is_closed(self) -> bool:
        return self.period is not None and self.period.is_closed


def months_with_entries(before: date | None = None) -> dict[date, int]:
    """The number of entries per month of value date (optionally only before `before`)."""
    entries = JournalEntry.objects.all()
    if before is not None:
        entries = entries.filter(value_date__lt=before)
    rows = (entries.annotate(month=TruncMonth("value_date")).values("month")
            .annotate(count=Count("pk")).order_by())
    return {_month_key(row["month"]): row["count"] for row in rows}


def periods() -> list[PeriodRow]:
    """Every month with entries or a period row, newest first, with its entry count and close."""
    counts = months_with_entries()
    by_month = {p.month: p for p in AccountingPeriod.objects.select_related("closed_by")}
    months = sorted(set(counts) | set(by_month), reverse=True)
    return [PeriodRow(month, counts.get(month, 0), by_month.get(month)) for month in months]


# --- Export ---------------------------------------------------------------------------------------------

EXPORT_COLUMNS = ["line_id", "entry_id", "value_date", "booked_at", "event_type", "account_code", "account_name",
                  "debit", "credit", "plan_number", "product_id", "source_type", "source_id", "actor", "memo",
                  "reverses_entry_id"]


def lines_for_export(start: date | None, end: date | None) -> QuerySet[JournalLine]:
    """Journal lines by value date (inclusive bounds) in a stable order (value date, entry, line)."""
    lines = JournalLine.objects.select_related("entry", "entry__actor", "account", "plan")
    if start is not None:
        lines = lines.filter(entry__value_date__gte=start)
    if end is not None:
        lines = lines.filter(entry__value_date__lte=end)
    return lines.order_by("entry__value_date", "entry_id", "pk")


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _text(value: str) -> str:
    """Free text made safe for a spreadsheet: a leading formula character is quoted (OWASP CSV injection)."""
    return f"'{value}" if value.startswith(_FORMULA_START) else value


def _staff_ids() -> set[int]:
    users = get_user_model().objects
    return set(users.filter(Q(groups__name__in=[str(r) for r in STAFF_ROLES]) | Q(is_superuser=True))
               .values_list("pk", flat=True))


def export_row(line: JournalLine, staff_ids: set[int]) -> list[str]:
    """One journal line as the export's columns (EXPORT_COLUMNS): ids are the database ids, stable
    across exports; amounts have two decimals; booked_at is ISO 8601 with its offset; the actor is a
    staff member's username (e-mail), or the user id of anyone else (a customer's own payment), so no
    customer's e-mail leaves in the file."""
    entry = line.entry
    actor = ""
    if entry.actor_id is not None:
        actor = entry.actor.email if entry.actor_id in staff_ids else str(entry.actor_id)
    return [
        str(line.pk), str(entry.pk), entry.value_date.isoformat(), entry.booked_at.isoformat(),
        entry.event_type, line.account.code, _text(line.account.name), f"{line.debit:.2f}", f"{line.credit:.2f}",
        line.plan.number if line.plan_id else "", str(line.product_id or ""), entry.source_type,
        _text(entry.source_id), actor, _text(entry.memo), str(entry.reverses_id or ""),
    ]


def export_rows(start: date | None, end: date | None) -> Iterator[list[str]]:
    """The export's header and then one row per journal line, read in chunks (for a streaming response)."""
    yield EXPORT_COLUMNS
    staff_ids = _staff_ids()
    for line in lines_for_export(start, end).iterator(chunk_size=2000):
        yield export_row(line, staff_ids)


# --- Closing a period (the verb finance uses; the checks the bare service leaves to its callers) ------

PERIOD_CLOSE_ROLES = (Role.ACCOUNTANT, Role.ADMIN)


@transaction.atomic
def period_close_checked(*, month: date, by) -> AccountingPeriod:
    """Close the month containing `month` as finance does it (the periods page and `manage.py
    close_period`): only an accountant or an administrator (field `by`), only a month that has ended
    (today is after its last day) and only when every earlier month with entries is closed (field
    `month`); then `services.period_close` (which refuses a closed month, field `month`). Nothing
    changes on refusal; the close is audited (`ledger.period_close`)."""
    if by is None or not by.has_role(*PERIOD_CLOSE_ROLES):
        raise DomainError(_("Only an accountant or an administrator closes a period."), field="by")
    start = month_start(month)
    if next_month(start) > timezone.localdate():
        raise DomainError(_("The month %(month)s has not ended yet; close it from its first following day.")
                          % {"month": start.strftime("%Y-%m")}, field="month")
    closed = set(AccountingPeriod.objects.filter(closed_at__isnull=False, month__lt=start)
                 .values_list("month", flat=True))
    still_open = sorted(set(months_with_entries(before=start)) - closed)
    if still_open:
        raise DomainError(_("Close %(open)s first: an earlier month with entries is still open.")
                          % {"open": still_open[0].strftime("%Y-%m")}, field="month")
    return services.period_close(month=start, by=by)
