"""The verbs of the books: post a balanced journal entry, reverse one with a contra entry, close a
month. Every refusal is a DomainError naming the field at fault, and nothing is stored on refusal."""

from collections.abc import Iterable
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone
from django.utils.translation import gettext as _

from collections_app.ledger.models import (
    AccountingPeriod,
    EventType,
    JournalEntry,
    JournalLine,
    LedgerAccount,
    PlanAccountBalance,
)
from config.errors import DomainError
from customers.audit import audit_record

CENT = Decimal("0.01")
ZERO = Decimal("0.00")

# One line to post: (account code, debit, credit, plan or None).
LineSpec = tuple[str, Decimal | int | str, Decimal | int | str, Model | None]


def money(amount) -> Decimal:
    """`amount` as a Decimal in yuan, quantized to the cent with ROUND_HALF_UP (the books' one rule)."""
    try:
        value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
        if value.is_finite():
            return value.quantize(CENT, rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError, TypeError):
        pass
    raise DomainError(_("An amount is not a number."), field="lines")


def first_of_month(day: date) -> date:
    return day.replace(day=1)


def posting_date(value_date: date, today: date) -> date:
    """The value date an event is posted with: its own, unless its month is closed (then `today`, the
    first day the books are open for it)."""
    return today if period_is_closed(value_date) else value_date


def period_is_closed(value_date: date) -> bool:
    return AccountingPeriod.objects.filter(month=first_of_month(value_date), closed_at__isnull=False).exists()


def _clean_lines(lines: Iterable[LineSpec]) -> list[tuple[str, Decimal, Decimal, Model | None]]:
    cleaned = []
    for spec in lines:
        try:
            code, debit, credit, line_plan = spec
        except (TypeError, ValueError):
            raise DomainError(_("Each line is (account code, debit, credit, plan)."), field="lines")
        debit, credit = money(debit or 0), money(credit or 0)
        if debit < 0 or credit < 0:
            raise DomainError(_("A line's amount cannot be negative."), field="lines")
        if (debit > 0) == (credit > 0):
            raise DomainError(_("Each line has either a debit or a credit, not both and not neither."),
                              field="lines")
        cleaned.append((str(code), debit, credit, line_plan))
    if len(cleaned) < 2:
        raise DomainError(_("An entry needs at least two lines."), field="lines")
    debits = sum((line[1] for line in cleaned), ZERO)
    credits = sum((line[2] for line in cleaned), ZERO)
    if debits != credits:
        raise DomainError(_("The entry does not balance: debits %(debits)s, credits %(credits)s.")
                          % {"debits": debits, "credits": credits}, field="lines")
    return cleaned


def _source_of(source) -> tuple[str, str]:
    """`source` (a model instance, a (type, id) pair or None) as the entry's (source_type, source_id)."""
    if source is None:
        return "", ""
    if isinstance(source, Model):
        return source._meta.label_lower, str(source.pk)
    source_type, source_id = source
    return str(source_type), str(source_id)


@transaction.atomic
def journal_post(*, value_date: date, event_type: str, lines: list[LineSpec], plan=None, source=None,
                 actor=None, memo: str = "", reverses: JournalEntry | None = None) -> JournalEntry:
    """Post one balanced entry: at least two lines, each with exactly one positive side (quantized to
    the cent, ROUND_HALF_UP), sum of debits = sum of credits, every account known and active, the value
    date outside any closed period. Refusals raise DomainError naming `lines`, `account`, `value_date`
    or `event_type`; nothing is stored then. Runs in the caller's transaction when there is one, so the
    entry commits or rolls back with the money event that causes it."""
    if event_type not in EventType.values:
        raise DomainError(_("Unknown event type."), field="event_type")
    if not isinstance(value_date, date):
        raise DomainError(_("The value date must be a date."), field="value_date")
    cleaned = _clean_lines(lines)
    codes = {line[0] for line in cleaned}
    accounts = {account.code: account for account in LedgerAccount.objects.filter(code__in=codes)}
    for code in sorted(codes):
        account = accounts.get(code)
        if account is None:
            raise DomainError(_("No account with code %(code)s in the chart of accounts.") % {"code": code},
                              field="account")
        if not account.is_active:
            raise DomainError(_("Account %(code)s is inactive.") % {"code": code}, field="account")
    # Lock the period row (when there is one) so a concurrent close waits for this posting.
    _period_open(value_date)
    source_type, source_id = _source_of(source)
    entry = JournalEntry.objects.create(
        value_date=value_date, event_type=event_type, plan=plan, source_type=source_type, source_id=source_id,
        actor=actor, memo=memo[:255], reverses=reverses)
    JournalLine.objects.bulk_create([
        JournalLine(entry=entry, account=accounts[code], debit=debit, credit=credit, plan=line_plan or plan,
                    product_id=getattr(line_plan or plan, "product_id", None))
        for code, debit, credit, line_plan in cleaned])
    _plan_balances_add(entry.pk)
    return entry


def _plan_balances_add(entry_id: int) -> None:
    """Add the entry's lines that name a plan to `PlanAccountBalance` (the general ledger per plan and
    account): one upsert statement, in the posting's transaction."""
    balance, line = PlanAccountBalance._meta.db_table, JournalLine._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"""
            INSERT INTO {balance} (plan_id, account_id, balance)
            SELECT plan_id, account_id, SUM(debit - credit) FROM {line}
            WHERE entry_id = %s AND plan_id IS NOT NULL
            GROUP BY plan_id, account_id
            ON CONFLICT (plan_id, account_id) DO UPDATE SET balance = {balance}.balance + excluded.balance
        """, [entry_id])


def _period_open(value_date: date) -> None:
    period = AccountingPeriod.objects.select_for_update().filter(month=first_of_month(value_date)).first()
    if period is not None and period.is_closed:
        raise DomainError(_("The period %(month)s is closed; post with a value date in an open period.")
                          % {"month": period}, field="value_date")


@transaction.atomic
def journal_post_bulk(*, value_date: date, event_type: str, lines_sql: str, params: dict | None = None,
                      memo: str = "", actor=None, source=None) -> JournalEntry | None:
    """Post one entry whose lines come from one SQL SELECT over the book, set-based (the close of
    business's accruals and the month-end provision: one line per plan, no Python loop).

    `lines_sql` selects exactly the columns (plan_id, product_id, account_id, debit, credit), every row with one
    positive side, the whole set balanced; `params` are its named parameters (%(name)s). Nothing is
    posted, and None returned, when it selects no row. An unbalanced set raises DomainError (field
    `lines`) and, on PostgreSQL, is refused by the database as well; the caller's transaction then
    rolls back with it."""
    if event_type not in EventType.values:
        raise DomainError(_("Unknown event type."), field="event_type")
    _period_open(value_date)
    line_table = JournalLine._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*), COALESCE(SUM(debit), 0), COALESCE(SUM(credit), 0) FROM ({lines_sql}) s",
                       params or {})
        count, debits, credits = cursor.fetchone()
        if not count:
            return None
        if money(debits) != money(credits) or count < 2:
            raise DomainError(_("The entry does not balance: debits %(debits)s, credits %(credits)s.")
                              % {"debits": money(debits), "credits": money(credits)}, field="lines")
        source_type, source_id = _source_of(source)
        entry = JournalEntry.objects.create(value_date=value_date, event_type=event_type, memo=memo[:255],
                                            actor=actor, source_type=source_type, source_id=source_id)
        cursor.execute(f"""
            INSERT INTO {line_table} (entry_id, plan_id, product_id, account_id, debit, credit)
            SELECT %(entry_id)s, s.plan_id, s.product_id, s.account_id, s.debit, s.credit FROM ({lines_sql}) s
        """, {**(params or {}), "entry_id": entry.pk})
    _plan_balances_add(entry.pk)
    return entry


@transaction.atomic
def journal_reverse(*, entry: JournalEntry, actor, reason: str, value_date: date | None = None) -> JournalEntry:
    """Undo `entry` with a contra entry (every line's sides swapped) that `reverses` it; the original is
    never edited. An entry is reversed at most once (refused with field `entry`). The contra entry's
    value date is `value_date`, else the original's, else (if that period is closed) today."""
    entry = JournalEntry.objects.select_for_update().get(pk=entry.pk)
    if JournalEntry.objects.filter(reverses=entry).exists():
        raise DomainError(_("This entry has already been reversed."), field="entry")
    if entry.event_type == EventType.REVERSAL and entry.reverses_id:
        raise DomainError(_("A reversal is not reversed; post a new entry instead."), field="entry")
    if not reason.strip():
        raise DomainError(_("Give a reason for the reversal."), field="reason")
    if value_date is None:
        value_date = entry.value_date if not period_is_closed(entry.value_date) else timezone.localdate()
    contra_lines = [(line.account.code, line.credit, line.debit, line.plan)
                    for line in entry.lines.select_related("account", "plan").order_by("pk")]
    contra = journal_post(value_date=value_date, event_type=EventType.REVERSAL, lines=contra_lines,
                          plan=entry.plan, source=("collections_app.journalentry", entry.pk), actor=actor,
                          memo=reason.strip(), reverses=entry)
    audit_record(actor=actor, action="ledger.entry_reverse", target=entry, reason=reason.strip(),
                 data={"contra_entry": contra.pk})
    return contra


@transaction.atomic
def period_close(*, month: date, by) -> AccountingPeriod:
    """Close the month containing `month`: from then on nothing is posted with a value date in it.
    Idempotent refusal: closing a closed period raises DomainError (field `month`)."""
    period, _created = AccountingPeriod.objects.select_for_update().get_or_create(month=first_of_month(month))
    if period.is_closed:
        raise DomainError(_("The period %(month)s is already closed.") % {"month": period}, field="month")
    period.closed_at = timezone.now()
    period.closed_by = by
    period.save(update_fields=["closed_at", "closed_by"])
    audit_record(actor=by, action="ledger.period_close", target=period, to_state="closed",
                 data={"month": period.month.isoformat()})
    return period
