"""Close of business: the daily run over the whole book, set-based in SQL (PostgreSQL and SQLite).

`run_cob(business_date)` closes every day from the one after the last closed day up to
`business_date`, each day in order and each in one transaction (a crash leaves no half-closed
day; the next run starts again at the first day not done). A `CobRun` row per day records status,
row counts and duration. Re-running a closed day changes nothing: the run is skipped, and even a
forced re-run finds nothing to do because every statement is guarded (`accrued_through`,
`late_fee_on`, "only rows whose value changes", `ON CONFLICT DO NOTHING`).

What one day D does, in this order (no Python loop over the book; every step is one statement
over the rows it concerns):

1. Credit balances pay what is due by D (per plan with credit: a handful, through the payment service).
2. Late-charge ledgers are opened for installments falling overdue (`InstallmentCharge`).
3. Late charges accrue: the product's flat late fee once per installment, and penalty interest
   day by day on the unpaid principal at min(product penalty rate, legal APR cap), both from the
   day the installment is more than the grace days late (then counted from the due date), none
   while an interest freeze applies.
4. Installments due before D and unpaid become overdue with days past due = D - due date, and
   their `penalty_due` is set to the charges within the cap (below); installments due on D are due.
5. Plans: days past due = the oldest overdue installment's; bucket from the configured buckets;
   active/restructured -> overdue when DPD > 0, overdue -> active when 0 (audited in bulk, actor
   = system).
6. Promises to pay whose date is D or earlier and which payments have not met are broken.
7. Collection cases: closed for cured / closed plans, opened for newly overdue plans and assigned
   by the bucket's rules, refreshed (DPD, bucket, amount overdue, broken promises, priority).
8. The customers' repayment record (profile) for delinquent customers.
9. A `PlanSnapshot` per live plan (and per plan closed on D): unique (plan, day).

The cap rule (legal maximum). The late charges of an installment never exceed what the product's
legal maximum APR would earn on the installment's arrears (unpaid principal + interest) over the
days it has been overdue:

    penalty_due <= arrears x max_apr / 100 x days_past_due / 365      (rounded to the cent)

so lateness can never cost more per year than the legal cap, whatever the flat fee and penalty rate
(after the due date the scheduled interest of an installment has been charged, so these charges are
the only cost on its arrears). Charges already booked are never reduced (a later partial payment
shrinks the arrears but not what was charged).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from collections_app.collections.buckets import Bucket, buckets
from collections_app.ledger import posting, provisioning
from collections_app.models import (
    AssignmentRule,
    CobRun,
    CollectionCase,
    InstallmentCharge,
    Payment,
    PlanSnapshot,
    PromiseToPay,
    ServicingPolicy,
    ServicingRequest,
)
from config.errors import DomainError
from customers.models import AuditEvent
from installments.models import Installment, LoanProduct, Plan

logger = logging.getLogger(__name__)

LIVE = tuple(str(s) for s in Plan.LIVE_STATES)
OPEN = ("pending", "due", "overdue")
MAX_CATCH_UP_DAYS = 400


@dataclass(frozen=True)
class _Tables:
    inst: str = Installment._meta.db_table
    plan: str = Plan._meta.db_table
    product: str = LoanProduct._meta.db_table
    charge: str = InstallmentCharge._meta.db_table
    request: str = ServicingRequest._meta.db_table
    case: str = CollectionCase._meta.db_table
    payment: str = Payment._meta.db_table
    promise: str = PromiseToPay._meta.db_table
    snapshot: str = PlanSnapshot._meta.db_table
    audit: str = AuditEvent._meta.db_table
    policy: str = ServicingPolicy._meta.db_table


T = _Tables()


class _Dialect:
    """The few places PostgreSQL and SQLite spell SQL differently."""

    def __init__(self, vendor: str):
        self.pg = vendor == "postgresql"

    def date(self, name: str = "d") -> str:
        """A named date parameter (ISO string)."""
        return f"CAST(%({name})s AS date)" if self.pg else f"%({name})s"

    def days(self, later: str, earlier: str) -> str:
        """Whole days from `earlier` to `later` (two date expressions)."""
        if self.pg:
            return f"({later} - {earlier})"
        return f"CAST(julianday({later}) - julianday({earlier}) AS INTEGER)"

    def greatest(self, a: str, b: str) -> str:
        return f"{'GREATEST' if self.pg else 'MAX'}({a}, {b})"

    def least(self, a: str, b: str) -> str:
        return f"{'LEAST' if self.pg else 'MIN'}({a}, {b})"

    def json(self, name: str) -> str:
        return f"CAST(%({name})s AS jsonb)" if self.pg else f"%({name})s"

    def text(self, expr: str) -> str:
        return f"CAST({expr} AS {'varchar' if self.pg else 'TEXT'})"


def _in(values) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"  # internal constants only, never user input


LIVE_IN = _in(LIVE)
OPEN_IN = _in(OPEN)


def _bucket_case(column: str, configured: tuple[Bucket, ...]) -> str:
    """CASE giving the bucket code of `column` days: the highest bucket whose lower bound it reaches."""
    whens = " ".join(f"WHEN {column} >= {int(b.min_days)} THEN '{_code(b.code)}'"
                     for b in sorted(configured, key=lambda b: -b.min_days))
    return f"(CASE {whens} ELSE '{_code(configured[0].code)}' END)"


def _term_class_case(column: str, configured: tuple[Bucket, ...]) -> str:
    whens = " ".join(f"WHEN '{_code(b.code)}' THEN '{_code(b.term_class)}'" for b in configured)
    return f"(CASE {column} {whens} ELSE 'current' END)"


def _code(value: str) -> str:
    return value.replace("'", "''")


def _assignment_case(table: str) -> str | None:
    """CASE choosing a collector by the case's bucket: keep a collector of the bucket, otherwise
    spread cases over the bucket's collectors by plan id. None when there are no rules."""
    by_bucket: dict[str, list[int]] = {}
    for rule in AssignmentRule.objects.filter(is_active=True, collector__is_active=True).order_by("collector_id"):
        by_bucket.setdefault(rule.bucket, []).append(int(rule.collector_id))
    if not by_bucket:
        return None
    whens = []
    for code, ids in sorted(by_bucket.items()):
        members = ", ".join(str(i) for i in ids)
        spread = " ".join(f"WHEN {n} THEN {cid}" for n, cid in enumerate(ids))
        whens.append(f"WHEN {table}.bucket = '{_code(code)}' AND {table}.assigned_to_id IN ({members}) "
                     f"THEN {table}.assigned_to_id")
        # `%%`: every statement here runs with parameters, so a literal percent sign is doubled.
        whens.append(f"WHEN {table}.bucket = '{_code(code)}' THEN (CASE {table}.plan_id %% {len(ids)} {spread} END)")
    return "(CASE " + " ".join(whens) + f" ELSE {table}.assigned_to_id END)"


def _pd_sql(plan_alias: str) -> str:
    """The application's probability of default, when scoring is installed."""
    try:
        model = apps.get_model("scoring", "ScoreResult")
        model._meta.get_field("pd")
    except (LookupError, FieldDoesNotExist):
        return "NULL"
    return f"(SELECT s.pd FROM {model._meta.db_table} s WHERE s.application_id = {plan_alias}.application_id)"


# --- One day ------------------------------------------------------------------------------------

def close_day(day: date, *, timings: dict[str, float] | None = None) -> dict[str, int]:
    """Close business day `day` over the whole book (see the module docstring). The caller holds the
    transaction. Returns the rows each step changed; `timings`, when given, receives each step's
    milliseconds (for the benchmark)."""
    from collections_app.servicing import payments, record

    counts: dict[str, int] = {}
    previous = CobRun.objects.filter(status=CobRun.Status.DONE, business_date__lte=day).order_by(
        "-business_date").values_list("business_date", flat=True).first()
    sql = _Dialect(connection.vendor)
    d = day.isoformat()
    D = sql.date()  # noqa: N806 - the business date placeholder, as in the SQL
    configured = buckets()
    default_grace = int(ServicingPolicy.objects.filter(product__isnull=True).values_list(
        "late_fee_grace_days", flat=True).first() or 0)
    live_plans = f"(SELECT id FROM {T.plan} WHERE state IN {LIVE_IN})"

    # 1. Credit balances pay what falls due (few plans hold credit; each goes through the payment service).
    with_credit = Plan.objects.filter(state__in=LIVE, credit_balance__gt=0).filter(Exists(
        Installment.objects.filter(plan=OuterRef("pk"), status__in=OPEN, due_date__lte=day)))
    applied = 0
    for plan in with_credit.order_by("pk"):
        applied += payments.plan_apply_credit(plan=plan, on_date=day) is not None
    counts["credit_applied"] = applied

    with connection.cursor() as cursor:
        if sql.pg:
            # The snapshot's and the aggregates' hash tables (one entry per plan) fit in memory.
            cursor.execute("SET LOCAL work_mem = '64MB'")
            # The day's statements run once over temporary tables without statistics: compiling them
            # (JIT) costs more than it saves.
            cursor.execute("SET LOCAL jit = off")

        def run(name: str | None, statement: str, *, more: bool = False, **params) -> int:
            """Execute one statement; record its rows under `name` (added to them when `more`)."""
            started = time.perf_counter()
            cursor.execute(statement, {"d": d, **params})
            rows = max(cursor.rowcount, 0)
            if timings is not None:
                key = name or "other"
                timings[key] = timings.get(key, 0.0) + (time.perf_counter() - started) * 1000
            if name:
                counts[name] = counts.get(name, 0) + rows if more else rows
            return rows

        # 2. Ledgers for installments falling overdue on products that charge for lateness.
        run("charges_opened", f"""
            INSERT INTO {T.charge} (installment_id, plan_id, late_fee_amount, penalty_rate, cap_rate, grace_days,
                                    late_fee_charged, late_fee_on, penalty_interest, accrued_through, waived)
            SELECT i.id, i.plan_id, pr.late_fee_flat,
                   CASE WHEN pr.penalty_rate < pr.max_apr THEN pr.penalty_rate ELSE pr.max_apr END, pr.max_apr,
                   COALESCE((SELECT pol.late_fee_grace_days FROM {T.policy} pol WHERE pol.product_id = pr.id),
                            %(grace)s),
                   0, NULL, 0, i.due_date, 0
            FROM {T.inst} i JOIN {T.plan} p ON p.id = i.plan_id JOIN {T.product} pr ON pr.id = p.product_id
            WHERE i.status IN {OPEN_IN} AND i.due_date < {D} AND p.state IN {LIVE_IN}
              AND (pr.late_fee_flat > 0 OR pr.penalty_rate > 0)
              AND NOT EXISTS (SELECT 1 FROM {T.charge} c WHERE c.installment_id = i.id)
        """, grace=default_grace)

        # 3. Accrue: the flat fee once, penalty interest for the days since the last accrual.
        frozen = (f"EXISTS (SELECT 1 FROM {T.request} r WHERE r.plan_id = {T.charge}.plan_id "
                  f"AND r.kind = 'interest_freeze' AND r.status = 'applied' AND r.starts_on <= {D} "
                  f"AND r.ends_on >= {D})")
        run("charges_accrued", f"""
            UPDATE {T.charge} SET
              late_fee_charged = CASE WHEN {T.charge}.late_fee_on IS NULL AND NOT {frozen}
                                      THEN {T.charge}.late_fee_amount ELSE {T.charge}.late_fee_charged END,
              late_fee_on = CASE WHEN {T.charge}.late_fee_on IS NULL AND NOT {frozen}
                                 THEN {D} ELSE {T.charge}.late_fee_on END,
              penalty_interest = {T.charge}.penalty_interest + CASE WHEN {frozen} THEN 0 ELSE
                  {T.charge}.penalty_rate * (i.principal_due - i.principal_paid)
                  * {sql.days(D, f"{T.charge}.accrued_through")} / 36500.0 END,
              accrued_through = {D}
            FROM {T.inst} i
            WHERE i.id = {T.charge}.installment_id AND {T.charge}.accrued_through < {D}
              AND i.status IN {OPEN_IN} AND i.due_date < {D}
              AND {sql.days(D, "i.due_date")} > {T.charge}.grace_days
              AND i.plan_id IN {live_plans}
        """)

        posting.accrue_prepare(day, sql, T, run)  # the late charges before step 4 (see 4b)

        # 4. Overdue: DPD, and late charges within the legal cap (never reduced).
        I = T.inst  # noqa: N806, E741
        arrears = f"({I}.principal_due - {I}.principal_paid + {I}.interest_due - {I}.interest_paid)"
        # Waivers (ChargeWaiver) come off what the ledger would charge, so a waived cent is never charged again.
        capped = sql.greatest(f"{I}.penalty_due", sql.least(
            "ROUND(c.late_fee_charged + c.penalty_interest, 2)",
            f"ROUND(c.cap_rate * {arrears} * {sql.days(D, f'{I}.due_date')} / 36500.0, 2)") + " - c.waived")
        run("installments_overdue", f"""
            UPDATE {I} SET status = 'overdue',
              days_past_due = {sql.days(D, f"{I}.due_date")},
              penalty_due = COALESCE((SELECT {capped} FROM {T.charge} c WHERE c.installment_id = {I}.id),
                                     {I}.penalty_due)
            WHERE {I}.status IN {OPEN_IN} AND {I}.due_date < {D} AND {I}.plan_id IN {live_plans}
        """)
        run("installments_due", f"""
            UPDATE {I} SET status = 'due', days_past_due = 0
            WHERE status = 'pending' AND due_date = {D} AND plan_id IN {live_plans}
        """)

        # 4b. The books: interest earned, fees fallen due and late charges charged on D, posted to the
        # general ledger (one entry per kind, a line per plan; see ledger.posting).
        started = time.perf_counter()
        counts.update(posting.accrue(day, previous, sql, T, run))
        if timings is not None:
            timings["books_accrual"] = (time.perf_counter() - started) * 1000

        # 5. Plans: DPD of the oldest overdue installment, bucket, state.
        P = T.plan  # noqa: N806
        # Joins against one aggregate of the overdue rows, not a probe per plan: the overdue rows
        # were just marked in this transaction, so the planner's statistics cannot be trusted here.
        overdue_rows = f"(SELECT plan_id FROM {I} WHERE status = 'overdue')"
        run("plans_dpd", f"""
            UPDATE {P} SET days_past_due = a.dpd
            FROM (SELECT plan_id, MAX(days_past_due) AS dpd FROM {I} WHERE status = 'overdue' GROUP BY plan_id) a
            WHERE a.plan_id = {P}.id AND {P}.state IN {LIVE_IN} AND {P}.days_past_due <> a.dpd
        """)
        run("plans_dpd", f"""
            UPDATE {P} SET days_past_due = 0
            WHERE state IN {LIVE_IN} AND days_past_due > 0 AND id NOT IN {overdue_rows}
        """, more=True)
        bucket_case = _bucket_case("days_past_due", configured)
        run("plans_bucket", f"""
            UPDATE {P} SET bucket = {bucket_case} WHERE state IN {LIVE_IN} AND bucket <> {bucket_case}
        """)
        plan_type = ContentType.objects.get_for_model(Plan).pk
        now = timezone.now()
        for name, from_states, to_state, condition in (
            ("plans_to_overdue", ("active", "restructured"), "overdue", "days_past_due > 0"),
            ("plans_to_active", ("overdue",), "active", "days_past_due = 0"),
        ):
            where = f"state IN {_in(from_states)} AND {condition}"
            data = json.dumps({"business_date": d, "by": "close of business"})
            run(None, f"""
                INSERT INTO {T.audit} (created_at, actor_id, action, target_type_id, target_id, target_repr,
                                       from_state, to_state, reason, data, ip_address)
                SELECT %(now)s, NULL, 'plan.state', %(plan_type)s, {sql.text('id')}, number, state, '{to_state}',
                       %(reason)s, {sql.json('data')}, NULL
                FROM {P} WHERE {where}
            """, now=now, plan_type=plan_type, reason=f"close of business {d}", data=data)
            run(name, f"UPDATE {P} SET state = '{to_state}' WHERE {where}")

        # 5b. Loan classification (five tiers) from the plans' DPD; at month-end the loan-loss provision.
        started = time.perf_counter()
        counts["plans_classified"] = provisioning.classify_book(day)
        if (day + timedelta(days=1)).month != day.month:
            entry = provisioning.provision_post(day)
            counts["provision_lines"] = entry.lines.count() if entry is not None else 0
        if timings is not None:
            timings["classification"] = (time.perf_counter() - started) * 1000

        # 6. Promises whose date has come without the money.
        paid_since = (f"COALESCE((SELECT SUM(pm.amount) FROM {T.payment} pm WHERE pm.plan_id = {T.promise}.plan_id "
                      f"AND pm.state = 'posted' AND pm.channel <> 'credit' AND pm.received_on >= {T.promise}.created_on "
                      f"AND pm.received_on <= {T.promise}.promised_date), 0)")
        run("promises_kept", f"""
            UPDATE {T.promise} SET state = 'kept', resolved_on = {D}
            WHERE state = 'open' AND {paid_since} >= amount
        """)
        run("promises_broken", f"""
            UPDATE {T.promise} SET state = 'broken', resolved_on = {D}
            WHERE state = 'open' AND promised_date <= {D} AND {paid_since} < amount
        """)

        # 7. Collection cases.
        C = T.case  # noqa: N806
        run("cases_closed", f"""
            UPDATE {C} SET status = 'closed', closed_on = {D},
              close_reason = (SELECT CASE WHEN p.state IN {LIVE_IN} THEN 'cured' ELSE p.state END
                              FROM {P} p WHERE p.id = {C}.plan_id)
            WHERE status = 'open' AND plan_id IN (
                SELECT id FROM {P} WHERE state NOT IN {LIVE_IN} OR (days_past_due = 0 AND state <> 'in_legal'))
        """)
        run(None, f"""
            UPDATE {T.promise} SET state = 'cancelled', resolved_on = {D}
            WHERE state = 'open' AND case_id IN (SELECT id FROM {C} WHERE status = 'closed')
        """)
        run("cases_opened", f"""
            INSERT INTO {C} (plan_id, status, opened_on, closed_on, close_reason, bucket, days_past_due,
                             amount_overdue, broken_promises, risk_pd, priority, assigned_to_id, assignment_locked,
                             last_contact_at, legal_reference)
            SELECT p.id, 'open', {D}, NULL, '', p.bucket, p.days_past_due, 0, 0, {_pd_sql('p')}, 0, NULL,
                   %(no)s, NULL, ''
            FROM {P} p
            WHERE p.state IN {LIVE_IN} AND p.days_past_due > 0
              AND NOT EXISTS (SELECT 1 FROM {C} c WHERE c.plan_id = p.id AND c.status = 'open')
        """, no=False)
        run("cases_refreshed", f"""
            UPDATE {C} SET days_past_due = p.days_past_due, bucket = p.bucket
            FROM {P} p
            WHERE p.id = {C}.plan_id AND {C}.status = 'open'
              AND ({C}.days_past_due <> p.days_past_due OR {C}.bucket <> p.bucket)
        """)
        run("cases_refreshed", f"""
            UPDATE {C} SET amount_overdue = a.amount
            FROM (SELECT plan_id, SUM(principal_due - principal_paid + interest_due - interest_paid + fee_due
                                      - fee_paid + penalty_due - penalty_paid) AS amount
                  FROM {I} WHERE status = 'overdue' GROUP BY plan_id) a
            WHERE a.plan_id = {C}.plan_id AND {C}.status = 'open' AND {C}.amount_overdue <> a.amount
        """, more=True)
        run("cases_refreshed", f"""
            UPDATE {C} SET amount_overdue = 0
            WHERE status = 'open' AND amount_overdue <> 0 AND plan_id NOT IN {overdue_rows}
        """, more=True)
        run("cases_refreshed", f"""
            UPDATE {C} SET broken_promises = b.broken
            FROM (SELECT case_id, COUNT(*) AS broken FROM {T.promise} WHERE state = 'broken' GROUP BY case_id) b
            WHERE b.case_id = {C}.id AND {C}.status = 'open' AND {C}.broken_promises <> b.broken
        """, more=True)
        assign = _assignment_case(C)
        assign_sql = f", assigned_to_id = CASE WHEN assignment_locked THEN assigned_to_id ELSE {assign} END" if assign else ""
        run("cases_prioritised", f"""
            UPDATE {C} SET priority = ROUND(amount_overdue / 100.0 + days_past_due * 2 + broken_promises * 25
                                            + COALESCE(risk_pd, 0) * 100, 2){assign_sql}
            WHERE status = 'open'
        """)

    # 8. The repayment record of delinquent customers (one UPDATE, see servicing.record).
    started = time.perf_counter()
    counts["profiles_updated"] = record.repayment_record_refresh(delinquent_only=True)
    if timings is not None:
        timings["profiles_updated"] = (time.perf_counter() - started) * 1000
        started = time.perf_counter()

    # 9. Snapshots.
    start = timezone.make_aware(datetime.combine(day, datetime.min.time()))
    with connection.cursor() as cursor:
        cursor.execute(f"""
            INSERT INTO {T.snapshot} (plan_id, business_date, state, days_past_due, bucket, term_class,
                                      principal_outstanding, amount_overdue)
            SELECT p.id, {D}, p.state, p.days_past_due, p.bucket, {_term_class_case('p.bucket', configured)},
                   COALESCE(a.principal, 0), COALESCE(a.overdue, 0)
            FROM {P} p LEFT JOIN (
                SELECT i.plan_id, SUM(i.principal_due - i.principal_paid) AS principal,
                       SUM(CASE WHEN i.status = 'overdue' THEN i.principal_due - i.principal_paid + i.interest_due
                           - i.interest_paid + i.fee_due - i.fee_paid + i.penalty_due - i.penalty_paid ELSE 0 END)
                           AS overdue
                FROM {I} i WHERE i.status IN {OPEN_IN} GROUP BY i.plan_id) a ON a.plan_id = p.id
            WHERE p.state IN {LIVE_IN} OR (p.closed_at >= %(start)s AND p.closed_at < %(end)s)
            ON CONFLICT (plan_id, business_date) DO NOTHING
        """, {"d": d, "start": start, "end": start + timedelta(days=1)})
        counts["snapshots"] = max(cursor.rowcount, 0)
    if timings is not None:
        timings["snapshots"] = (time.perf_counter() - started) * 1000
    return counts


# --- Runs -------------------------------------------------------------------------------------------

def _close_one(day: date, *, triggered_by: str, force: bool, timings: dict | None = None) -> CobRun:
    started = time.perf_counter()
    try:
        with transaction.atomic():
            run, _ = CobRun.objects.get_or_create(business_date=day, defaults={"triggered_by": triggered_by})
            run = CobRun.objects.select_for_update().get(pk=run.pk)
            if run.status == CobRun.Status.DONE and not force:
                run.skipped = True
                return run
            counts = close_day(day, timings=timings)
            started_reconcile = time.perf_counter()
            report = posting.reconcile(day, _Dialect(connection.vendor), T)
            if timings is not None:
                timings["reconciliation"] = (time.perf_counter() - started_reconcile) * 1000
            if not report["ok"]:
                raise posting.ReconciliationBreak(report)
            run.status, run.counts, run.error = CobRun.Status.DONE, counts, ""
            run.reconciliation = report
            run.attempts += 1
            run.finished_at = timezone.now()
            run.duration_ms = int((time.perf_counter() - started) * 1000)
            run.triggered_by = triggered_by or run.triggered_by
            run.save()
    except Exception as error:
        logger.exception("Close of business %s failed", day)
        run, _ = CobRun.objects.get_or_create(business_date=day, defaults={"triggered_by": triggered_by})
        CobRun.objects.filter(pk=run.pk).exclude(status=CobRun.Status.DONE).update(
            status=CobRun.Status.FAILED, error=f"{type(error).__name__}: {error}"[:2000], attempts=F("attempts") + 1,
            finished_at=timezone.now(), duration_ms=int((time.perf_counter() - started) * 1000),
            reconciliation=getattr(error, "report", {}))
        raise
    run.skipped = False
    logger.info("Close of business %s done in %s ms: %s", day, run.duration_ms, run.counts)
    return run


def last_closed_day() -> date | None:
    return CobRun.objects.filter(status=CobRun.Status.DONE).order_by("-business_date").values_list(
        "business_date", flat=True).first()


def run_cob(business_date: date | None = None, *, start: date | None = None, triggered_by: str = "",
            force: bool = False, timings: dict | None = None) -> list[CobRun]:
    """Close the books through `business_date` (default: yesterday, the last day that has ended).

    Days run in order from the day after the last closed one (or from `start`, or just
    `business_date` when nothing was ever closed); closed days are skipped. A day before the last
    closed day is refused: days are closed in order. `force` re-runs a closed day (it changes nothing,
    the statements being idempotent) and is allowed only for the last closed day.
    """
    target = business_date or timezone.localdate() - timedelta(days=1)
    if target > timezone.localdate():
        raise DomainError("A day that has not started cannot be closed.", field="business_date")
    last = last_closed_day()
    if start is not None and start > target:
        raise DomainError("The first day is after the last.", field="from")
    if last is not None and target < last and not CobRun.objects.filter(business_date=target,
                                                                         status=CobRun.Status.DONE).exists():
        raise DomainError(f"Days are closed in order; {last} is already closed.", field="business_date")
    if force:
        if target != last:
            raise DomainError("Only the last closed day can be re-run.", field="business_date")
        return [_close_one(target, triggered_by=triggered_by, force=True, timings=timings)]
    first = start or (last + timedelta(days=1) if last else target)
    if last is not None and first <= last:
        first = last + timedelta(days=1)
    if (target - first).days > MAX_CATCH_UP_DAYS:
        raise DomainError(f"More than {MAX_CATCH_UP_DAYS} days to catch up; give --from.", field="from")
    runs = []
    day = first
    while day <= target:
        runs.append(_close_one(day, triggered_by=triggered_by, force=False, timings=timings))
        day += timedelta(days=1)
    if not runs:
        done = CobRun.objects.filter(business_date=target).first()
        if done is not None:
            done.skipped = True
            runs.append(done)
    return runs


def plans_frozen_on(day: date):
    """Plans under an interest freeze on `day` (for pages)."""
    return ServicingRequest.objects.filter(kind=ServicingRequest.Kind.INTEREST_FREEZE,
                                           status=ServicingRequest.Status.APPLIED, starts_on__lte=day,
                                           ends_on__gte=day).values("plan_id")


