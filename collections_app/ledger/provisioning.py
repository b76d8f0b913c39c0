"""The five-tier loan classification (五级分类) and the month-end provision for loan losses.

`classify_book(day)` classifies every plan of the book in one statement and keeps a history row
(`PlanClassification`) only when a plan's class changes. `provision_post(day)` brings the allowance
for loan losses held for each plan to what its class requires, in one set-based journal entry.
Both run in the caller's transaction (the close of business calls them inside `close_day`).

Amounts are computed in whole cents (integers) in SQL, so PostgreSQL and SQLite round alike:
required allowance = ROUND_HALF_UP(rate x (principal + interest receivable), 2), the balances
read from the general ledger per plan (`PlanAccountBalance`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from collections_app.ledger import accounts
from collections_app.ledger.models import (
    LOAN_CLASS_ORDER,
    AccountMapping,
    AccountRole,
    ClassificationPolicy,
    EventType,
    JournalEntry,
    JournalLine,
    LoanClass,
    PlanAccountBalance,
    PlanClassification,
)
from collections_app.ledger.services import journal_post_bulk
from collections_app.models import ServicingRequest
from installments.models import Plan

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
LIVE = tuple(str(s) for s in Plan.LIVE_STATES)
# Classified: the live plans, and written-off plans, whose history ends at loss.
CLASSIFIED = (*LIVE, str(Plan.State.WRITTEN_OFF))
RESTRUCTURING_KINDS = (str(ServicingRequest.Kind.EXTENSION), str(ServicingRequest.Kind.REINSTALLMENT))
PROVISION_ROLES = [AccountRole.PRINCIPAL.value, AccountRole.INTEREST_RECEIVABLE.value, AccountRole.ALLOWANCE.value,
                   AccountRole.PROVISION_EXPENSE.value]


def _in(values) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"  # internal constants only, never user input


def _day_sql() -> str:
    """The business date parameter %(d)s (an ISO string) as a date."""
    return "CAST(%(d)s AS date)" if connection.vendor == "postgresql" else "%(d)s"


# --- The policy and the pure rule ---------------------------------------------------------------

def classification_policy_on(day: date) -> ClassificationPolicy:
    """The policy in force on `day`: the latest whose `effective_from` is on or before it. Without one
    (a database emptied by a test), an unsaved policy with the model's defaults, the regulator's tiers."""
    policy = ClassificationPolicy.objects.filter(effective_from__lte=day).order_by("-effective_from").first()
    return policy or ClassificationPolicy(effective_from=day)


def _rank(loan_class: str) -> int:
    return LOAN_CLASS_ORDER.index(str(loan_class))


def loan_class_for(days_past_due: int, restructured: bool, policy: ClassificationPolicy) -> str:
    """The class of a plan `days_past_due` days late: the tier whose lower bound (in days past due,
    inclusive) it has reached, and for a restructured plan at least `policy.restructured_at_least`."""
    tiers = [(policy.loss_from_dpd, LoanClass.LOSS), (policy.doubtful_from_dpd, LoanClass.DOUBTFUL),
             (policy.substandard_from_dpd, LoanClass.SUBSTANDARD),
             (policy.special_mention_from_dpd, LoanClass.SPECIAL_MENTION)]
    by_days = next((cls for start, cls in tiers if days_past_due >= start), LoanClass.NORMAL)
    if restructured and _rank(policy.restructured_at_least) > _rank(by_days):
        return str(LoanClass(policy.restructured_at_least))
    return str(by_days)


def rate_for(loan_class: str, policy: ClassificationPolicy) -> Decimal:
    """The provision rate of `loan_class` (a share of principal and interest receivable)."""
    return getattr(policy, f"rate_{loan_class}")


# --- SQL pieces ---------------------------------------------------------------------------------

def _restructured_sql(plan: str) -> str:
    """True for a plan restructured by `day`: its state says so, or an extension or re-installment of it
    was applied before the end of the day (%(day_end)s)."""
    request = ServicingRequest._meta.db_table
    return (f"({plan}.state = 'restructured' OR EXISTS (SELECT 1 FROM {request} r WHERE r.plan_id = {plan}.id "
            f"AND r.kind IN {_in(RESTRUCTURING_KINDS)} AND r.status = 'applied' "
            f"AND (r.decided_at IS NULL OR r.decided_at < %(day_end)s)))")


def _class_sql(plan: str, policy: ClassificationPolicy) -> str:
    """CASE giving the class of `plan` (an alias of the plans table) under `policy`: loss when written
    off, else the days-past-due tier, raised to the restructured floor for a restructured plan."""
    dpd = f"{plan}.days_past_due"
    by_days = (f"CASE WHEN {dpd} >= {int(policy.loss_from_dpd)} THEN 4 "
               f"WHEN {dpd} >= {int(policy.doubtful_from_dpd)} THEN 3 "
               f"WHEN {dpd} >= {int(policy.substandard_from_dpd)} THEN 2 "
               f"WHEN {dpd} >= {int(policy.special_mention_from_dpd)} THEN 1 ELSE 0 END")
    floor = _rank(policy.restructured_at_least)
    rank = (f"CASE WHEN {plan}.state = 'written_off' THEN 4 "
            f"WHEN ({by_days}) < {floor} AND {_restructured_sql(plan)} THEN {floor} ELSE ({by_days}) END")
    names = " ".join(f"WHEN {n} THEN '{cls}'" for n, cls in enumerate(LOAN_CLASS_ORDER))
    return f"(CASE {rank} {names} END)"


def _latest_class_join(plan: str) -> str:
    """LEFT JOIN `lc` (columns plan_id, loan_class): each plan's latest history row on or before the
    day. Computed once for the whole book (a join, not a probe per plan: on the first close the
    history is empty when the statement is planned and grows while it runs, which made a per-plan
    subquery quadratic)."""
    history = PlanClassification._meta.db_table
    return (f"LEFT JOIN (SELECT h.plan_id, h.loan_class FROM {history} h JOIN ("
            f"SELECT plan_id, MAX(business_date) AS latest FROM {history} WHERE business_date <= {_day_sql()} "
            f"GROUP BY plan_id) l ON l.plan_id = h.plan_id AND l.latest = h.business_date) lc ON lc.plan_id = {plan}.id")


def _params(day: date) -> dict:
    start = timezone.make_aware(datetime.combine(day, datetime.min.time()))
    return {"d": day.isoformat(), "day_end": connection.ops.adapt_datetimefield_value(start + timedelta(days=1))}


# --- Classification -----------------------------------------------------------------------------

def classify_book(day: date) -> int:
    """Classify the book on `day` in one statement: every live or written-off plan whose class differs
    from its latest history row (or that has none) gets a `PlanClassification` row dated `day` with its
    previous class, days past due and whether it is restructured. Idempotent (a second run finds every
    class unchanged); runs in the caller's transaction. Returns the rows inserted."""
    policy = classification_policy_on(day)
    plan, history = Plan._meta.db_table, PlanClassification._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"""
            INSERT INTO {history} (plan_id, business_date, loan_class, previous_class, days_past_due, restructured)
            SELECT c.plan_id, {_day_sql()}, c.loan_class, COALESCE(c.previous_class, ''), c.days_past_due,
                   c.restructured
            FROM (SELECT p.id AS plan_id, p.days_past_due, {_restructured_sql('p')} AS restructured,
                         {_class_sql('p', policy)} AS loan_class, lc.loan_class AS previous_class
                  FROM {plan} p {_latest_class_join('p')} WHERE p.state IN {_in(CLASSIFIED)}) c
            WHERE c.previous_class IS NULL OR c.previous_class <> c.loan_class
            ON CONFLICT (plan_id, business_date) DO NOTHING
        """, _params(day))
        return max(cursor.rowcount, 0)


# --- The book per plan, in cents ----------------------------------------------------------------

def _book_products() -> list[int]:
    """The products of the plans the provision concerns: live plans and plans with general-ledger balances."""
    plans = Plan.objects.filter(Q(state__in=LIVE) | Q(pk__in=PlanAccountBalance.objects.values("plan_id")))
    return sorted(set(plans.values_list("product_id", flat=True)))


def _book_sql(policy: ClassificationPolicy, product_ids: list[int]) -> str:
    """One row per plan that is live or holds a general-ledger balance: plan_id, product_id, state,
    loan_class, allowance_id, expense_id, and in whole cents principal_cents, interest_cents,
    held_cents (the allowance held, a positive number) and required_cents (0 for a plan no longer live).
    Raises DomainError (field `account`) when a product's accounts are missing or inactive."""
    mapping = accounts.mapping_sql(PROVISION_ROLES, product_ids)
    plan, balance = Plan._meta.db_table, PlanAccountBalance._meta.db_table

    def cents(condition: str) -> str:
        return f"CAST(ROUND(SUM(CASE WHEN {condition} THEN b.balance ELSE 0 END) * 100) AS BIGINT)"

    rates = " ".join(f"WHEN '{cls}' THEN {int(rate_for(cls, policy) * 10000)}" for cls in LOAN_CLASS_ORDER)
    return f"""
        SELECT k.*, CASE WHEN k.state IN {_in(LIVE)} AND k.principal_cents + k.interest_cents > 0
                         THEN ((CASE k.loan_class {rates} ELSE 0 END) * (k.principal_cents + k.interest_cents)
                               + 5000) / 10000
                         ELSE 0 END AS required_cents
        FROM (
            SELECT p.id AS plan_id, p.product_id, p.state, m.allowance AS allowance_id,
                   m.provision_expense AS expense_id,
                   COALESCE(lc.loan_class, {_class_sql('p', policy)}) AS loan_class,
                   COALESCE(g.principal_cents, 0) AS principal_cents, COALESCE(g.interest_cents, 0) AS interest_cents,
                   -COALESCE(g.allowance_cents, 0) AS held_cents
            FROM {plan} p
            JOIN ({mapping}) m ON m.product_id = p.product_id
            {_latest_class_join('p')}
            LEFT JOIN (
                SELECT b.plan_id, {cents('b.account_id = m.principal')} AS principal_cents,
                       {cents('b.account_id = m.interest_receivable AND m.interest_receivable <> m.principal')}
                           AS interest_cents,
                       {cents('b.account_id = m.allowance')} AS allowance_cents
                FROM {balance} b JOIN {plan} bp ON bp.id = b.plan_id JOIN ({mapping}) m ON m.product_id = bp.product_id
                GROUP BY b.plan_id) g ON g.plan_id = p.id
            WHERE p.state IN {_in(LIVE)} OR g.plan_id IS NOT NULL
        ) k
    """


# --- The month-end provision --------------------------------------------------------------------

@transaction.atomic
def provision_post(day: date, actor=None) -> JournalEntry | None:
    """Bring each plan's allowance for loan losses to what its class on `day` requires, in ONE entry
    (value date `day`, event PROVISION), set-based:

    required = ROUND_HALF_UP(rate(class) x (principal + interest receivable), 2) from the plan's
    general-ledger balances on the product's mapped accounts (0 for a plan no longer live); held =
    the credit balance of the plan's allowance account. Per plan with a difference, a line on the
    allowance account (credit when more is required, debit when some is released); per product one
    summary line on provision expense for the net. Nothing is posted (None) when every plan holds
    what it requires, so a second run for the same day posts nothing. A product whose accounts are
    missing or inactive is refused (DomainError naming `account`) before anything is written."""
    product_ids = _book_products()
    if not product_ids:
        return None
    book = _book_sql(classification_policy_on(day), product_ids)
    diffs = f"SELECT d.*, d.required_cents - d.held_cents AS diff FROM ({book}) d"
    lines_sql = f"""
        SELECT x.plan_id, x.product_id, x.allowance_id AS account_id,
               CASE WHEN x.diff < 0 THEN -x.diff / 100.0 ELSE 0 END AS debit,
               CASE WHEN x.diff > 0 THEN x.diff / 100.0 ELSE 0 END AS credit
        FROM ({diffs}) x WHERE x.diff <> 0
        UNION ALL
        SELECT NULL, x.product_id, x.expense_id,
               CASE WHEN SUM(x.diff) > 0 THEN SUM(x.diff) / 100.0 ELSE 0 END,
               CASE WHEN SUM(x.diff) < 0 THEN -SUM(x.diff) / 100.0 ELSE 0 END
        FROM ({diffs}) x GROUP BY x.product_id, x.expense_id HAVING SUM(x.diff) <> 0
    """
    return journal_post_bulk(value_date=day, event_type=EventType.PROVISION, lines_sql=lines_sql,
                             params=_params(day), memo=f"Provision for loan losses {day.isoformat()}",
                             actor=actor, source=("collections_app.provision", day.isoformat()))


# --- Questions for pages ------------------------------------------------------------------------

def _yuan(cents) -> Decimal:
    return (Decimal(int(cents or 0)) / 100).quantize(CENT)


@dataclass
class ClassRow:
    loan_class: str
    label: str
    plans: int = 0
    principal: Decimal = ZERO
    interest: Decimal = ZERO
    held: Decimal = ZERO
    required: Decimal = ZERO

    @property
    def exposure(self) -> Decimal:
        return self.principal + self.interest

    @property
    def coverage(self) -> Decimal | None:
        """Allowance held as a percentage of principal and interest receivable (None without exposure)."""
        if self.exposure <= 0:
            return None
        return (self.held * 100 / self.exposure).quantize(CENT)


@dataclass
class ClassificationSummary:
    on: date
    policy: ClassificationPolicy
    rows: list[ClassRow] = field(default_factory=list)
    total: ClassRow | None = None


def classification_summary(day: date) -> ClassificationSummary:
    """The live book on `day` by class (in the five tiers' order, every tier listed): plans, principal
    outstanding and interest receivable (from the general ledger), allowance held and allowance the
    policy in force requires. Raises DomainError (field `account`) when accounts are not set up."""
    policy = classification_policy_on(day)
    rows = {cls: ClassRow(cls, str(LoanClass(cls).label)) for cls in LOAN_CLASS_ORDER}
    product_ids = _book_products()
    if product_ids:
        with connection.cursor() as cursor:
            cursor.execute(f"""
                SELECT k.loan_class, COUNT(*), SUM(k.principal_cents), SUM(k.interest_cents), SUM(k.held_cents),
                       SUM(k.required_cents)
                FROM ({_book_sql(policy, product_ids)}) k WHERE k.state IN {_in(LIVE)} GROUP BY k.loan_class
            """, _params(day))
            for loan_class, plans, principal, interest, held, required in cursor.fetchall():
                row = rows[loan_class]
                row.plans, row.principal, row.interest = int(plans), _yuan(principal), _yuan(interest)
                row.held, row.required = _yuan(held), _yuan(required)
    total = ClassRow("", "")
    for row in rows.values():
        total.plans += row.plans
        total.principal += row.principal
        total.interest += row.interest
        total.held += row.held
        total.required += row.required
    return ClassificationSummary(on=day, policy=policy, rows=list(rows.values()), total=total)


@dataclass
class ProvisionMonth:
    value_date: date
    entry: JournalEntry
    added: Decimal  # credited to the allowance
    released: Decimal  # debited from the allowance
    expense: Decimal  # net charged to provision expense (negative: a release to income)
    allowance_after: Decimal  # the allowance held in total at the end of the value date


def provision_history(limit: int = 24) -> list[ProvisionMonth]:
    """The latest `limit` provision entries, newest first: what each added to and released from the
    allowance, the net provision expense and the allowance held (every allowance account, after
    write-offs too) at the end of its value date."""
    allowance_ids = set(AccountMapping.objects.filter(role=AccountRole.ALLOWANCE).values_list("account_id",
                                                                                               flat=True))
    expense_ids = set(AccountMapping.objects.filter(role=AccountRole.PROVISION_EXPENSE).values_list(
        "account_id", flat=True))
    entries = list(JournalEntry.objects.filter(event_type=EventType.PROVISION).order_by("-value_date", "-pk")[:limit])
    if not entries:
        return []
    sums = {row["entry_id"]: row for row in JournalLine.objects.filter(entry__in=entries).values("entry_id").annotate(
        added=Sum("credit", filter=Q(account_id__in=allowance_ids), default=ZERO),
        released=Sum("debit", filter=Q(account_id__in=allowance_ids), default=ZERO),
        expense_debits=Sum("debit", filter=Q(account_id__in=expense_ids), default=ZERO),
        expense_credits=Sum("credit", filter=Q(account_id__in=expense_ids), default=ZERO))}
    by_day = (JournalLine.objects.filter(account_id__in=allowance_ids, entry__value_date__lte=entries[0].value_date)
              .values("entry__value_date").annotate(credits=Sum("credit", default=ZERO),
                                                    debits=Sum("debit", default=ZERO))
              .order_by("entry__value_date"))
    balance_on: list[tuple[date, Decimal]] = []
    running = ZERO
    for row in by_day:
        running += row["credits"] - row["debits"]
        balance_on.append((row["entry__value_date"], running))
    months = []
    for entry in entries:
        row = sums.get(entry.pk, {})
        after = next((amount for on, amount in reversed(balance_on) if on <= entry.value_date), ZERO)
        months.append(ProvisionMonth(
            value_date=entry.value_date, entry=entry, added=row.get("added", ZERO),
            released=row.get("released", ZERO),
            expense=row.get("expense_debits", ZERO) - row.get("expense_credits", ZERO), allowance_after=after))
    return months


def plan_classification_history(plan: Plan) -> list[PlanClassification]:
    """The plan's classification history, newest first (the first row is its class now)."""
    return list(PlanClassification.objects.filter(plan=plan).order_by("-business_date", "-pk"))
