"""Close of business over a generated book on PostgreSQL, beside a bare SQL UPDATE of the same rows.

The book (default 100,000 plans x 10 installments = 1,000,000 installments) is generated with
INSERT ... SELECT generate_series in a database of its own, `installments_bench` on the server of
DATABASE_URL (dropped and re-created; the development database is never touched). Plans are
disbursed over the last ~290 days, one installment every 30 days; every twelfth plan stopped
paying after its first few installments, so about 8% of the book is overdue across every bucket.
The generated book bypasses the services, so before the first close its opening balances are posted
to the general ledger as one set-based entry (bench/opening_balances.py: every plan's balance-sheet
accounts set to its sub-ledger as of the day before, retained earnings 3101 per product against them),
as a lender migrating from a previous system would; otherwise the close's reconciliation breaks.

Measured in the same run:
1. the first close of business (yesterday): marks the whole book's history (every overdue
   installment, late-charge ledgers, cases, snapshots);
2. the bare UPDATE: `SET days_past_due = days_past_due` on the installment rows the daily close
   updates (open, due on or before the day, live plans) plus every live plan row (the close
   reads each one for its snapshot) -- the floor for touching those rows at all;
3. the daily close of business (today): the steady-state run, with each statement's time, the books'
   steps (books_accrual, classification, reconciliation) and the journal lines it posted.
Goal: the daily run under 60 s and within 3x the bare update, accrual entries included. Prints
figures, asserts nothing.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/installments python bench/bench_cob.py [--plans N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.series import insert_series  # noqa: E402

BENCH_DB = "installments_bench"


def bench_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        sys.exit("bench_cob needs PostgreSQL: set DATABASE_URL=postgres://...")
    return urlunsplit(parts._replace(path=f"/{BENCH_DB}"))


def recreate_database(url: str) -> None:
    import psycopg2

    parts = urlsplit(url)
    admin = psycopg2.connect(host=parts.hostname, port=parts.port or 5432, user=parts.username,
                             password=parts.password, dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        cursor.execute(f"CREATE DATABASE {BENCH_DB}")
    admin.close()


def drop_database(url: str) -> None:
    import psycopg2

    parts = urlsplit(url)
    admin = psycopg2.connect(host=parts.hostname, port=parts.port or 5432, user=parts.username,
                             password=parts.password, dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
    admin.close()


def generate(plans: int, per_plan: int, today) -> None:
    from decimal import Decimal

    from django.db import connection, transaction
    from django.utils import timezone

    from customers.models import User
    from installments.models import Application, Contract, Installment, LoanProduct, Offer, Plan, ScheduleVersion

    customers = max(plans // 5, 1)
    now = timezone.now()
    day0 = today.isoformat()
    with transaction.atomic(), connection.cursor() as cursor:
        product = LoanProduct.objects.create(code="bench", name="Bench", min_amount=Decimal("100"),
                                             max_amount=Decimal("1000000"), late_fee_flat=Decimal("30"),
                                             penalty_rate=Decimal("18"), max_apr=Decimal("24"))
        insert_series(cursor, User, customers, {
            "email": "'bench' || g || '@example.com'", "password": "'!'", "full_name": "'Bench ' || g",
            "date_joined": "%(now)s"}, {"now": now})
        user0 = User.objects.order_by("pk").values_list("pk", flat=True).first()
        insert_series(cursor, Application, plans, {
            "number": "'APP-B-' || lpad(g::text, 9, '0')", "customer_id": f"{user0} + g %% {customers}",
            "product_id": str(product.pk), "amount": "10500", "term_months": str(per_plan), "state": "'active'",
            "created_at": "%(now)s", "updated_at": "%(now)s"}, {"now": now})
        app0 = Application.objects.order_by("pk").values_list("pk", flat=True).first()
        insert_series(cursor, Offer, plans, {
            "application_id": f"{app0} + g - 1", "method": "'annuity'", "amount": "10500",
            "term_months": str(per_plan), "annual_rate": "12", "installment": "1050", "total_interest": "500",
            "total_fees": "0", "total_payable": "11000", "apr": "12", "effective_annual_rate": "12.68",
            "created_at": "%(now)s"}, {"now": now})
        offer0 = Offer.objects.order_by("pk").values_list("pk", flat=True).first()
        insert_series(cursor, Contract, plans, {
            "application_id": f"{app0} + g - 1", "offer_id": f"{offer0} + g - 1", "content_html": "'-'",
            "content_sha256": "repeat('0', 64)", "created_at": "%(now)s", "accepted_at": "%(now)s"}, {"now": now})
        contract0 = Contract.objects.order_by("pk").values_list("pk", flat=True).first()
        insert_series(cursor, Plan, plans, {
            "number": "'PLN-B-' || lpad(g::text, 9, '0')", "application_id": f"{app0} + g - 1",
            "contract_id": f"{contract0} + g - 1", "customer_id": f"{user0} + g %% {customers}",
            "product_id": str(product.pk), "method": "'annuity'", "principal": f"{1000 * per_plan}",
            "annual_rate": "12", "disbursement_date": "CAST(%(day0)s AS date) - (g %% 290)", "state": "'active'",
            "current_version": "1", "days_past_due": "0", "bucket": "'current'", "credit_balance": "0",
            "created_at": "%(now)s"}, {"now": now, "day0": day0})
        plan0 = Plan.objects.order_by("pk").values_list("pk", flat=True).first()
        insert_series(cursor, ScheduleVersion, plans, {
            "plan_id": f"{plan0} + g - 1", "version": "1", "reason": "'bench'", "created_at": "%(now)s"},
            {"now": now})
        # Installment k of plan p is due 30k days after disbursement. Paid when due before yesterday,
        # except every twelfth plan, which stopped after 1 to 4 installments.
        cursor.execute(f"""
            INSERT INTO {Installment._meta.db_table} (plan_id, version_id, number, due_date, principal_due,
                interest_due, fee_due, penalty_due, principal_paid, interest_paid, fee_paid, penalty_paid, status,
                days_past_due, paid_at)
            SELECT p.id, v.id, k, p.disbursement_date + 30 * k, 1000, 50, 0, 0,
                   CASE WHEN pay THEN 1000 ELSE 0 END, CASE WHEN pay THEN 50 ELSE 0 END, 0, 0,
                   CASE WHEN pay THEN 'paid' ELSE 'pending' END, 0, CASE WHEN pay THEN %(now)s END
            FROM {Plan._meta.db_table} p
            JOIN {ScheduleVersion._meta.db_table} v ON v.plan_id = p.id
            CROSS JOIN generate_series(1, {int(per_plan)}) AS k
            CROSS JOIN LATERAL (SELECT p.disbursement_date + 30 * k < CAST(%(day0)s AS date) - 1
                                   AND NOT (p.id %% 12 = 0 AND k > 1 + (p.id / 12) %% 4) AS pay) AS paid
        """, {"now": now, "day0": day0})
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def timed(work) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plans", type=int, default=100_000)
    parser.add_argument("--installments", type=int, default=10, help="installments per plan")
    parser.add_argument("--keep", action="store_true", help=f"keep the {BENCH_DB} database afterwards")
    args = parser.parse_args()

    url = bench_url(os.environ.get("DATABASE_URL", ""))
    recreate_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.db.models import Count
    from django.utils import timezone

    from collections_app.collections import cob
    from installments.models import Installment, Plan

    try:
        print(f"database: {connection.settings_dict['NAME']} on {connection.settings_dict['HOST']}")
        took = timed(lambda: call_command("migrate", verbosity=0))
        print(f"migrations: {took:.1f} s")
        today = timezone.localdate()
        took = timed(lambda: generate(args.plans, args.installments, today))
        print(f"book: {Plan.objects.count():,} plans, {Installment.objects.count():,} installments "
              f"(generated in {took:.1f} s)")

        # The generated book bypassed the services: post its opening balances (sub-ledger as of the day
        # before the first close) as one set-based entry, like a lender migrating from a previous system.
        from bench.opening_balances import ensure_books_defaults, post_opening_balances
        from collections_app.ledger.models import JournalLine

        ensure_books_defaults()
        opening = {}
        took = timed(lambda: opening.setdefault("entry", post_opening_balances(today - timedelta(days=2))))
        entry = opening["entry"]
        print(f"opening balances as of {today - timedelta(days=2)} (recorded as the last closed day): "
              f"{entry.lines.count() if entry is not None else 0:,} journal lines in one entry ({took:.1f} s)")
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")

        first = {}
        took = timed(lambda: cob.run_cob(today - timedelta(days=1), timings=first))
        run = cob.CobRun.objects.get(business_date=today - timedelta(days=1))
        print(f"\nfirst close of business ({run.business_date}, marks the whole history): {took:.2f} s")
        print("  rows: " + json.dumps({k: v for k, v in run.counts.items() if v}))
        print("  ms per step: " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(first.items(), key=lambda kv: -kv[1])))
        print(f"  reconciliation: {'ok' if run.reconciliation.get('ok') else 'BREAK'}")
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")

        d = today.isoformat()
        inst, plan = Installment._meta.db_table, Plan._meta.db_table
        live = "('active', 'overdue', 'restructured', 'in_legal')"
        with connection.cursor() as cursor:
            cursor.execute(f"""SELECT COUNT(*) FROM {inst} WHERE status IN ('pending', 'due', 'overdue')
                               AND due_date <= %s AND plan_id IN (SELECT id FROM {plan} WHERE state IN {live})""",
                           [d])
            touched_installments = cursor.fetchone()[0]
            cursor.execute(f"SELECT COUNT(*) FROM {plan} WHERE state IN {live}")
            touched_plans = cursor.fetchone()[0]

        def bare():
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"""UPDATE {inst} SET days_past_due = days_past_due
                                   WHERE status IN ('pending', 'due', 'overdue') AND due_date <= %s
                                   AND plan_id IN (SELECT id FROM {plan} WHERE state IN {live})""", [d])
                cursor.execute(f"UPDATE {plan} SET days_past_due = days_past_due WHERE state IN {live}")

        bare_times = []
        for _ in range(2):
            bare_times.append(timed(bare))
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE")
        bare_time = min(bare_times)
        print(f"\nbare UPDATE of the same rows ({touched_installments:,} installments + {touched_plans:,} plans): "
              f"{bare_time:.2f} s (best of {len(bare_times)})")

        daily = {}
        last_line = JournalLine.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        took = timed(lambda: cob.run_cob(today, timings=daily))
        run = cob.CobRun.objects.get(business_date=today)
        ratio = took / bare_time
        print(f"\ndaily close of business ({run.business_date}): {took:.2f} s "
              f"= {ratio:.1f}x the bare update  (goal: < 60 s and <= 3x, accrual entries included)")
        print(f"  total {took:.2f} s, bare UPDATE {bare_time:.2f} s, ratio daily/bare {ratio:.2f}: "
              f"{'under' if took < 60 else 'OVER'} 60 s, {'within' if ratio <= 3 else 'OVER'} 3x")
        print("  rows: " + json.dumps({k: v for k, v in run.counts.items() if v}))
        print("  ms per step: " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(daily.items(), key=lambda kv: -kv[1])))
        nested = {"books_accrual_plans"}  # inside books_accrual
        outside = took * 1000 - sum(v for k, v in daily.items() if k not in nested)
        print(f"  not in any step: {outside:.0f} ms (COMMIT with its deferred foreign-key checks, the run's bookkeeping)")
        print("  the books (ms): " + ", ".join(f"{k} {daily.get(k, 0):.0f}" for k in (
            "books_accrual", "books_accrual_plans", "classification", "reconciliation"))
              + "  (books_accrual includes books_accrual_plans)")
        posted = JournalLine.objects.filter(pk__gt=last_line)
        by_event = dict(posted.values_list("entry__event_type").annotate(n=Count("pk")).order_by("entry__event_type"))
        print(f"  journal lines posted: {posted.count():,} " + json.dumps(by_event))
        print(f"  reconciliation: {'ok' if run.reconciliation.get('ok') else 'BREAK'}")
        took = timed(lambda: cob.run_cob(today, force=True))
        print(f"\nre-run of the same day (idempotent, changes nothing): {took:.2f} s")
    finally:
        connection.close()
        if not args.keep:
            drop_database(url)


if __name__ == "__main__":
    main()
