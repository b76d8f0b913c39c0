"""Posting a plan's money events to the books, in the transaction of the event.

The sub-ledger is the plan's installment rows and credit balance; the general ledger holds, per plan
and account, what has been posted (`PlanAccountBalance`). After every money event the servicing code
calls `plan_event_post`, which posts the difference between the two as one balanced entry:

* the balance-sheet accounts of the plan take exactly their sub-ledger balance (`plan_subledger`):
  loans receivable (principal outstanding), interest / fee / late-charge receivable (earned and
  unpaid), customer credit (the plan's credit balance, a liability);
* the money that moved in the event goes to its cash account: the payment channel's clearing account
  for a payment (credit from a reversal), the disbursement account for a disbursement;
* what is left to balance is income or expense, by the event: fee and late-charge income by what the
  payment allocated to them plus the change in their receivable; interest income the rest (interest
  paid before it was accrued, interest a new schedule no longer charges); for a write-off the
  allowance held for the plan and then write-off expense; for a payment on a written-off plan,
  recoveries.

So the general ledger equals the sub-ledger after every event by construction, and the close of
business checks it (`reconcile`): a code path that changed money without posting shows as a break.

Earned ("accrued") through a day D, per live installment row (not superseded), in whole cents:
interest is the row's interest pro rata over its period (from the previous row's due date, or the
disbursement date, to its own due date; all of it once due), rounded half up; a fee is earned on its
due date; late charges when the close of business charges them (`penalty_due`). Money paid before it
was earned is income when paid (a receivable never goes below zero). D is the last closed business
day (`books_date`): interest accrues only in the close of business, the same figure in Python
(`plan_subledger`) and in SQL (`close_day`'s accrual step).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import connection
from django.db.models import Sum
from django.utils.translation import gettext as _

from collections_app.ledger import accounts as ledger_accounts
from collections_app.ledger.models import AccountRole, EventType, JournalEntry, PlanAccountBalance
from collections_app.ledger.services import journal_post, journal_post_bulk
from config.errors import DomainError
from installments.models import Installment, Plan

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
LIVE = tuple(str(s) for s in Plan.LIVE_STATES)
OPEN = ("pending", "due", "overdue")

# The plan's balance-sheet accounts, set to the sub-ledger by every posting.
BALANCE_ROLES = (AccountRole.PRINCIPAL, AccountRole.INTEREST_RECEIVABLE, AccountRole.FEE_RECEIVABLE,
                 AccountRole.PENALTY_RECEIVABLE, AccountRole.CUSTOMER_CREDIT)
COMPONENT_ROLES = {  # component -> (receivable, income)
    "interest": (AccountRole.INTEREST_RECEIVABLE, AccountRole.INTEREST_INCOME),
    "fee": (AccountRole.FEE_RECEIVABLE, AccountRole.FEE_INCOME),
    "penalty": (AccountRole.PENALTY_RECEIVABLE, AccountRole.PENALTY_INCOME),
}


def books_date() -> date | None:
    """The day interest has been accrued through: the last closed business day (None before the first)."""
    from collections_app.collections.cob import last_closed_day

    return last_closed_day()


def earned_cents(cents: int, due: date, start: date, through: date | None) -> int:
    """Interest of `cents` over the period (`start`, `due`] earned through `through`, rounded half up."""
    if through is None or start >= through:
        return 0
    if due <= through:
        return cents
    elapsed, period = (through - start).days, (due - start).days
    return (cents * 2 * elapsed + period) // (2 * period)


def _cents(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value())


@dataclass(frozen=True)
class SubLedger:
    """A plan's sub-ledger balances, debit-positive (the credit balance, a liability, is negative)."""

    principal: Decimal = ZERO
    interest: Decimal = ZERO
    fee: Decimal = ZERO
    penalty: Decimal = ZERO
    credit: Decimal = ZERO

    def by_role(self) -> dict[str, Decimal]:
        return {AccountRole.PRINCIPAL: self.principal, AccountRole.INTEREST_RECEIVABLE: self.interest,
                AccountRole.FEE_RECEIVABLE: self.fee, AccountRole.PENALTY_RECEIVABLE: self.penalty,
                AccountRole.CUSTOMER_CREDIT: self.credit}


def plan_subledger(plan: Plan, through: date | None) -> SubLedger:
    """What the books must hold for `plan` with interest earned through `through` (see the module
    docstring). A written-off plan's receivables are off the books; only its credit balance stays."""
    credit = -plan.credit_balance
    if plan.state == Plan.State.WRITTEN_OFF:
        return SubLedger(credit=credit)
    rows = (Installment.objects.filter(plan=plan).exclude(status=Installment.Status.SUPERSEDED)
            .order_by("due_date", "number", "pk")
            .values_list("due_date", "principal_due", "principal_paid", "interest_due", "interest_paid",
                         "fee_due", "fee_paid", "penalty_due", "penalty_paid"))
    principal = interest = fee = penalty = 0
    start = plan.disbursement_date
    for due, p_due, p_paid, i_due, i_paid, f_due, f_paid, pen_due, pen_paid in rows:
        principal += _cents(p_due - p_paid)
        interest += max(earned_cents(_cents(i_due), due, start, through) - _cents(i_paid), 0)
        if through is not None and due <= through:
            fee += max(_cents(f_due - f_paid), 0)
        penalty += _cents(pen_due - pen_paid)
        start = due
    as_money = lambda cents: (Decimal(cents) / 100).quantize(CENT)  # noqa: E731
    return SubLedger(as_money(principal), as_money(interest), as_money(fee), as_money(penalty), credit)


def plan_ledger_balances(plan: Plan) -> dict[int, Decimal]:
    """What the general ledger holds for `plan`: account id -> debits - credits."""
    return dict(PlanAccountBalance.objects.filter(plan=plan).values_list("account_id", "balance"))


# Which P&L account takes what is left to balance, by event (None: by component, see the docstring).
RESIDUAL_ROLE = {
    EventType.RECOVERY: AccountRole.RECOVERIES,
    # A correction by hand: the books follow the plan and the difference waits in suspense for finance.
    EventType.MANUAL: AccountRole.SUSPENSE,
}


def plan_event_post(*, plan: Plan, event_type: str, value_date: date, by=None, source=None, memo: str = "",
                    cash: Decimal = ZERO, channel: str | None = None,
                    allocated: dict[str, Decimal] | None = None) -> JournalEntry | None:
    """Post `plan`'s event: set its balance-sheet accounts to the sub-ledger, `cash` (money in > 0, out < 0)
    to the channel's clearing account (`channel`) or, without a channel, the disbursement account, and
    the rest to income / expense as the module docstring says. `allocated` is what a payment put on
    each component (negative for a reversal). Posts nothing when nothing differs. Runs in the caller's
    transaction: the entry commits or rolls back with the event."""
    accounts = ledger_accounts.accounts_for(plan.product_id)
    held = plan_ledger_balances(plan)
    target = plan_subledger(plan, books_date()).by_role()
    lines: list[tuple[str, Decimal, Decimal, Plan]] = []
    net = ZERO  # debits - credits so far

    def add(account, amount: Decimal) -> None:
        nonlocal net
        amount = amount.quantize(CENT)
        if amount:
            lines.append((account.code, amount, ZERO, plan) if amount > 0 else (account.code, ZERO, -amount, plan))
            net += amount

    deltas = {}
    for role in BALANCE_ROLES:
        account = accounts[role]
        deltas[role] = target[role] - held.get(account.pk, ZERO)
        add(account, deltas[role])
    if cash:
        cash_account = (ledger_accounts.clearing_account(channel, accounts) if channel
                        else accounts[AccountRole.DISBURSEMENT])
        add(cash_account, cash)
    if event_type == EventType.WRITE_OFF:
        allowance = accounts[AccountRole.ALLOWANCE]
        available = max(-held.get(allowance.pk, ZERO), ZERO)
        used = min(available, max(-net, ZERO))
        add(allowance, used)
        add(accounts[AccountRole.WRITE_OFF_EXPENSE], -net)
    elif event_type in RESIDUAL_ROLE:
        add(accounts[RESIDUAL_ROLE[event_type]], -net)
    else:
        allocated = allocated or {}
        for component in ("fee", "penalty"):
            receivable, income = COMPONENT_ROLES[component]
            add(accounts[income], -(allocated.get(component, ZERO) + deltas[receivable]))
        add(accounts[AccountRole.INTEREST_INCOME], -net)
    if not lines:
        return None
    if net:
        raise DomainError(_("The entry does not balance: debits %(debits)s, credits %(credits)s.")
                          % {"debits": net, "credits": ZERO}, field="lines")
    return journal_post(value_date=value_date, event_type=event_type, lines=lines, plan=plan, source=source,
                        actor=by if getattr(by, "pk", None) else None, memo=memo)


def plan_disbursement_post(*, plan: Plan, upfront_fee: Decimal, by=None) -> None:
    """The disbursement of a new plan (loans receivable against the disbursement account) and, when the
    product charges one, its upfront fee (taken out of the money paid, or financed: fee income either
    way; the customer receives the principal less the fee)."""
    day = plan.disbursement_date
    plan_event_post(plan=plan, event_type=EventType.DISBURSEMENT, value_date=day, by=by, source=plan,
                    memo=f"plan {plan.number} disbursed", cash=-plan.principal)
    if upfront_fee > 0:
        accounts = ledger_accounts.accounts_for(plan.product_id)
        journal_post(value_date=day, event_type=EventType.UPFRONT_FEE, plan=plan, source=plan,
                     actor=by if getattr(by, "pk", None) else None, memo=f"upfront fee of plan {plan.number}",
                     lines=[(accounts[AccountRole.DISBURSEMENT].code, upfront_fee, ZERO, plan),
                            (accounts[AccountRole.FEE_INCOME].code, ZERO, upfront_fee, plan)])


# --- The close of business: accruals and reconciliation, set-based ---------------------------------

def _cents_sql(expr: str) -> str:
    return f"CAST(ROUND(({expr}) * 100) AS BIGINT)"


def _rows_sql(sql, tables, states: str) -> str:
    """The live (not superseded) installment rows of plans in `states` (alias r), each with its
    accrual period's start (`prev`: the previous row's due date, or the disbursement date) and its
    amounts in whole cents."""
    I, P = tables.inst, tables.plan  # noqa: N806, E741
    prev = ("COALESCE(LAG(i.due_date) OVER (PARTITION BY i.plan_id ORDER BY i.due_date, i.number, i.id), "
            "p.disbursement_date)")
    return f"""(SELECT i.plan_id, p.product_id, i.due_date, {prev} AS prev,
                       {_cents_sql("i.interest_due")} AS icents, {_cents_sql("i.interest_paid")} AS ipaid,
                       {_cents_sql("i.principal_due - i.principal_paid")} AS pcents,
                       {_cents_sql("i.fee_due - i.fee_paid")} AS fcents,
                       {_cents_sql("i.penalty_due - i.penalty_paid")} AS pencents
                FROM {I} i JOIN {P} p ON p.id = i.plan_id
                WHERE i.status <> '{Installment.Status.SUPERSEDED}' AND {states}) r"""


def _earned_sql(sql, through: str) -> str:
    """A row's interest earned through the date expression `through`, in cents: `earned_cents` in SQL."""
    period = sql.days("r.due_date", "r.prev")
    return (f"CASE WHEN r.due_date <= {through} THEN r.icents WHEN r.prev >= {through} THEN 0 "
            f"ELSE (r.icents * 2 * {sql.days(through, 'r.prev')} + {period}) / (2 * {period}) END")


def _subledger_sql(sql, *, live_only: bool, tables) -> str:
    """Per plan: the sub-ledger's principal, interest, fee and late charges in cents through %(d)s."""
    D = sql.date()  # noqa: N806
    states = f"p.state IN {_in(LIVE)}" if live_only else f"p.state <> '{Plan.State.WRITTEN_OFF}'"
    return f"""
        SELECT r.plan_id, r.product_id,
               SUM(r.pcents) AS principal,
               SUM({sql.greatest(f"{_earned_sql(sql, D)} - r.ipaid", "0")}) AS interest,
               SUM(CASE WHEN r.due_date <= {D} THEN {sql.greatest("r.fcents", "0")} ELSE 0 END) AS fee,
               SUM(r.pencents) AS penalty
        FROM {_rows_sql(sql, tables, states)}
        GROUP BY r.plan_id, r.product_id
    """


def _in(values) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"  # internal constants only


ACCRUALS = (  # component, event, receivable role, income role
    ("interest", EventType.INTEREST_ACCRUAL, "interest_receivable", "interest_income"),
    ("fee", EventType.FEE_ACCRUAL, "fee_receivable", "fee_income"),
    ("penalty", EventType.LATE_CHARGE_ACCRUAL, "penalty_receivable", "penalty_income"),
)


def accrue_prepare(day: date, sql, tables, run) -> None:
    """Before the close of business charges late charges (its step 4): remember, per plan, the late
    charges on the rows it may charge, so `accrue` posts exactly what the day charged."""
    I, P = tables.inst, tables.plan  # noqa: N806, E741
    run(None, "DROP TABLE IF EXISTS books_penalty_before")
    run(None, f"""
        CREATE TEMP TABLE books_penalty_before AS
        SELECT i.plan_id, SUM({_cents_sql("i.penalty_due")}) AS cents
        FROM {I} i JOIN {P} p ON p.id = i.plan_id
        WHERE i.status IN {_in(OPEN)} AND i.due_date < {sql.date()} AND p.state IN {_in(LIVE)}
        GROUP BY i.plan_id
    """)


def accrue(day: date, previous: date | None, sql, tables, run) -> dict[str, int]:
    """The close of business's accruals for `day` (the last closed day being `previous`): per live plan,
    the interest earned since `previous`, the fees fallen due since then and the late charges charged
    today, one entry per kind (a line per plan on the receivable, a summary line per product on the
    income), all set-based. Only what the day earned is posted, never a difference found in the
    books: that is the reconciliation's to find. `run(name, statement)` executes a statement
    (cob.close_day's runner)."""
    I = tables.inst  # noqa: N806, E741
    mapping = ledger_accounts.mapping_sql([role for _c, _e, rec, inc in ACCRUALS for role in (rec, inc)])
    D, B = sql.date(), sql.date("before")  # noqa: N806
    earned = lambda through: _earned_sql(sql, through)  # noqa: E731

    run(None, "DROP TABLE IF EXISTS books_accrual")
    run("books_accrual_plans", f"""
        CREATE TEMP TABLE books_accrual AS
        SELECT a.plan_id, a.product_id, a.d_interest,  a.d_fee,
               COALESCE(pen.cents, 0) - COALESCE(old.cents, 0) AS d_penalty,
               {", ".join(f"m.{role} AS {role}" for _c, _e, rec, inc in ACCRUALS for role in (rec, inc))}
        FROM (
            SELECT r.plan_id, r.product_id,
                   SUM({sql.greatest(f"{earned(D)} - r.ipaid", "0")} - {sql.greatest(f"{earned(B)} - r.ipaid", "0")})
                       AS d_interest,
                   SUM(CASE WHEN r.due_date <= {D} AND r.due_date > {B} THEN {sql.greatest("r.fcents", "0")} ELSE 0 END)
                       AS d_fee
            FROM {_rows_sql(sql, tables, f"p.state IN {_in(LIVE)}")}
            GROUP BY r.plan_id, r.product_id
        ) a
        JOIN ({mapping}) m ON m.product_id = a.product_id
        LEFT JOIN books_penalty_before old ON old.plan_id = a.plan_id
        LEFT JOIN (SELECT i.plan_id, SUM({_cents_sql("i.penalty_due")}) AS cents FROM {I} i
                   WHERE i.status IN {_in(OPEN)} AND i.due_date < {D} GROUP BY i.plan_id) pen
               ON pen.plan_id = a.plan_id
    """, before=(previous or date(1, 1, 1)).isoformat())
    posted = {}
    for component, event, rec, inc in ACCRUALS:
        delta = f"d_{component}"
        lines_sql = f"""
            SELECT plan_id, product_id, {rec} AS account_id,
                   CASE WHEN {delta} > 0 THEN {delta} / 100.0 ELSE 0 END AS debit,
                   CASE WHEN {delta} < 0 THEN -{delta} / 100.0 ELSE 0 END AS credit
            FROM books_accrual WHERE {delta} <> 0
            UNION ALL
            SELECT NULL, product_id, {inc},
                   CASE WHEN SUM({delta}) < 0 THEN -SUM({delta}) / 100.0 ELSE 0 END,
                   CASE WHEN SUM({delta}) > 0 THEN SUM({delta}) / 100.0 ELSE 0 END
            FROM books_accrual WHERE {delta} <> 0 GROUP BY product_id, {inc} HAVING SUM({delta}) <> 0
        """
        entry = journal_post_bulk(value_date=day, event_type=event, lines_sql=lines_sql,
                                  memo=f"close of business {day.isoformat()}: {component} accrual")
        posted[f"books_{component}_lines"] = entry.lines.count() if entry is not None else 0
    run(None, "DROP TABLE IF EXISTS books_accrual")
    run(None, "DROP TABLE IF EXISTS books_penalty_before")
    return posted


class ReconciliationBreak(DomainError):
    """The general ledger and the sub-ledger differ: the day stops, nothing is adjusted."""

    def __init__(self, report: dict):
        self.report = report
        super().__init__(_("The books do not agree with the plans: %(accounts)s.")
                         % {"accounts": ", ".join(r["account"] for r in report["accounts"] if r["difference"] != "0.00")
                            or _("%(plans)s plan(s)") % {"plans": report["plans_out"]}},
                         field="reconciliation", code="reconciliation_break")


def reconcile(day: date, sql, tables) -> dict:
    """Compare, to the cent, the general ledger with the sub-ledger after `day`'s close: per plan and in
    total for loans receivable, interest / fee / late-charge receivable and customer credit; and each
    payment channel's clearing account with the payments posted through it. Set-based (a few
    statements over the book). Returns the report (`ok`, `accounts`, `plans_out`, `plans`); raises
    nothing (the caller decides)."""
    from collections_app.ledger.models import LedgerAccount
    from collections_app.models import Payment

    roles = [str(role) for role in BALANCE_ROLES]
    balance, P = PlanAccountBalance._meta.db_table, tables.plan  # noqa: N806
    expected = {"principal": "COALESCE(s.principal, 0)", "interest_receivable": "COALESCE(s.interest, 0)",
                "fee_receivable": "COALESCE(s.fee, 0)", "penalty_receivable": "COALESCE(s.penalty, 0)",
                "customer_credit": "-CAST(ROUND(p.credit_balance * 100) AS BIGINT)"}
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS books_reconcile")
        cursor.execute(f"""
            CREATE TEMP TABLE books_reconcile AS
            SELECT p.id AS plan_id, p.number, {", ".join(f"m.{r} AS a_{r}, {expected[r]} AS e_{r}" for r in roles)}
            FROM {P} p JOIN ({ledger_accounts.mapping_sql(roles)}) m ON m.product_id = p.product_id
            LEFT JOIN ({_subledger_sql(sql, live_only=False, tables=tables)}) s ON s.plan_id = p.id
            WHERE p.state <> '{Plan.State.PAID_OFF}' OR p.credit_balance <> 0
               OR p.id IN (SELECT plan_id FROM {balance} WHERE balance <> 0)
        """, {"d": day.isoformat()})
        # One pass over the plans' balances: each role's account summed per plan, compared in the HAVING.
        per_role = ", ".join(
            f"COALESCE(SUM(CASE WHEN b.account_id = x.a_{r} THEN CAST(ROUND(b.balance * 100) AS BIGINT) END), 0) "
            f"AS g_{r}" for r in roles)
        differs = " OR ".join(f"y.g_{r} <> y.e_{r}" for r in roles)
        cursor.execute(f"""
            SELECT y.number FROM (
                SELECT x.number, {", ".join(f"x.e_{r}" for r in roles)}, {per_role}
                FROM books_reconcile x LEFT JOIN {balance} b ON b.plan_id = x.plan_id
                GROUP BY x.plan_id, x.number, {", ".join(f"x.e_{r}" for r in roles)}
            ) y WHERE {differs} ORDER BY y.number""")
        out = [number for (number,) in cursor.fetchall()]
        union = " UNION ALL ".join(f"SELECT a_{r} AS account_id, e_{r} AS cents FROM books_reconcile" for r in roles)
        cursor.execute(f"SELECT account_id, SUM(cents) FROM ({union}) u GROUP BY account_id")
        subledger = {account_id: int(cents) for account_id, cents in cursor.fetchall()}
        cursor.execute(f"SELECT account_id, SUM(CAST(ROUND(balance * 100) AS BIGINT)) FROM {balance} "
                       f"GROUP BY account_id")
        ledger = {account_id: int(cents) for account_id, cents in cursor.fetchall()}
        cursor.execute("DROP TABLE IF EXISTS books_reconcile")
    accounts = {a.pk: a for a in LedgerAccount.objects.all()}
    report = []
    for account_id in sorted(subledger, key=lambda pk: accounts[pk].code):
        report.append(_line(accounts[account_id], ledger.get(account_id, 0), subledger[account_id]))
    # Clearing accounts against the payments posted through their channel.
    for account in sorted((a for a in accounts.values() if a.channel), key=lambda a: a.code):
        posted = Payment.objects.filter(channel=account.channel, state=Payment.State.POSTED).aggregate(
            total=Sum("amount"))["total"] or ZERO
        report.append(_line(account, ledger.get(account.pk, 0), _cents(Decimal(posted).quantize(CENT))))
    ok = not out and all(r["difference"] == "0.00" for r in report)
    return {"business_date": day.isoformat(), "ok": ok, "accounts": report, "plans_out": len(out),
            "plans": out[:20]}


def _line(account, ledger_cents: int, subledger_cents: int) -> dict:
    return {"account": account.code, "name": account.name, "ledger": _money(ledger_cents),
            "subledger": _money(subledger_cents), "difference": _money(ledger_cents - subledger_cents)}


def _money(cents: int) -> str:
    return str((Decimal(cents) / 100).quantize(CENT))
