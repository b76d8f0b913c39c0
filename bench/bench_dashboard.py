"""The manager's dashboard on a generated book: the summaries refresh, then the pages that read it.

The book (default 100,000 plans) is generated with INSERT ... SELECT generate_series in a database
of its own, `installments_bench_dashboard` on the server of DATABASE_URL (dropped and re-created;
the development database is never touched):

- 80 % as many customers as plans, each with a profile (age, occupation, employment type);
- one application per plan plus a third as many declined ones, all scored (grades A-G), submitted
  and decided over the last two years;
- plans disbursed over the last 730 days in two products: a tenth paid off, every twelfth overdue
  (1 to 150 days), one open installment each for the outstanding principal;
- a month-end close-of-business snapshot of every plan for every month it was on the book (the
  overdue ones rolling into arrears), a collection case for each overdue plan with a payment on
  half of them, and a satisfaction rating for every tenth plan.

Measured:
1. `dashboard_services.summaries_refresh`: loading the book into pandas, then every KPI snapshot
   and segment summary for 5 ranges x (2 products + all);
2. the dashboard pages as a manager sees them (Django test client, full request: middleware,
   summary rows, tables, template), each requested 5 times: median and worst. Goal: < 1 s.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/installments python bench/bench_dashboard.py [--plans N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.series import insert_series  # noqa: E402

BENCH_DB = "installments_bench_dashboard"


def bench_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        sys.exit("bench_dashboard needs PostgreSQL: set DATABASE_URL=postgres://...")
    return urlunsplit(parts._replace(path=f"/{BENCH_DB}"))


def _admin(url: str, statement: str) -> None:
    import psycopg2

    parts = urlsplit(url)
    admin = psycopg2.connect(host=parts.hostname, port=parts.port or 5432, user=parts.username,
                             password=parts.password, dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(statement)
    admin.close()


def recreate_database(url: str) -> None:
    _admin(url, f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
    _admin(url, f"CREATE DATABASE {BENCH_DB}")


def drop_database(url: str) -> None:
    _admin(url, f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")


def first_pk(model) -> int:
    return model.objects.order_by("pk").values_list("pk", flat=True).first()


def generate(plans: int, today) -> dict:
    from decimal import Decimal

    from django.db import connection, transaction
    from django.utils import timezone

    from collections_app.models import CobRun, CollectionCase, Payment, PlanSnapshot
    from customers.models import CustomerProfile, SatisfactionRating, User
    from installments.models import (
        Application,
        Contract,
        Installment,
        LoanProduct,
        Offer,
        Plan,
        ScheduleVersion,
    )
    from scoring.models import ScoreResult, ScoringModelVersion

    customers = max(int(plans * 0.8), 1)
    declined = plans // 3
    now = timezone.now()
    p = {"now": now, "day0": today.isoformat()}
    occupations = "(ARRAY['office_worker','teacher','factory_worker','sales_service','professional','driver_logistics',"\
                  "'trader','student','healthcare','construction'])"
    employment = "(ARRAY['salaried','salaried','salaried','self_employed','business_owner','student'])"
    purposes = "(ARRAY['appliances','furniture','education','car','travel','renovation','medical','business'])"
    with transaction.atomic(), connection.cursor() as cursor:
        products = [LoanProduct.objects.create(code=f"bench-{n}", name=f"Bench product {n}", min_amount=Decimal("100"),
                                               max_amount=Decimal("1000000"), max_apr=Decimal("24"))
                    for n in (1, 2)]
        version = ScoringModelVersion.objects.create(label="bench", source="bench", scorecard={},
                                                     data_fingerprint="0" * 64, training_rows=1, bad_rate=0.3)
        insert_series(cursor, User, customers, {
            "email": "'bench' || g || '@example.com'", "password": "'!'", "full_name": "'Bench ' || g",
            "date_joined": "%(now)s"}, p)
        user0 = first_pk(User)
        insert_series(cursor, CustomerProfile, customers, {
            "user_id": f"{user0} + g - 1", "full_name": "'Bench ' || g", "id_number_encrypted": "'x'",
            "id_number_hash": "md5(g::text)", "id_number_masked": "'1101**********0000'",
            "date_of_birth": "DATE '1960-01-01' + (g * 37) %% 15000", "phone": "'138' || lpad(g::text, 8, '0')",
            "email": "'bench' || g || '@example.com'", "occupation": f"{occupations}[1 + g %% 10]",
            "employment_type": f"{employment}[1 + g %% 6]", "created_at": "%(now)s", "updated_at": "%(now)s"}, p)
        # Applications 1..plans become plans; the rest are declined. Submitted 2 days before disbursement.
        total = plans + declined
        insert_series(cursor, Application, total, {
            "number": "'APP-B-' || lpad(g::text, 9, '0')", "customer_id": f"{user0} + g %% {customers}",
            "product_id": f"CASE WHEN g %% 3 = 0 THEN {products[1].pk} ELSE {products[0].pk} END",
            "amount": "3000 + (g %% 20) * 1000", "term_months": "(ARRAY[6, 12, 12, 24])[1 + g %% 4]",
            "purpose": f"{purposes}[1 + g %% 8]",
            "income_pattern": "CASE WHEN g %% 7 = 0 THEN 'seasonal' ELSE 'regular' END",
            "state": f"CASE WHEN g > {plans} THEN 'declined' WHEN g %% 10 = 0 THEN 'closed' ELSE 'active' END",
            "created_at": "%(now)s - make_interval(days => g %% 730 + 2)", "updated_at": "%(now)s",
            "submitted_at": "%(now)s - make_interval(days => g %% 730 + 2)",
            "decided_at": "%(now)s - make_interval(days => g %% 730 + 2) + make_interval(hours => 1 + g %% 47)"}, p)
        app0 = first_pk(Application)
        insert_series(cursor, ScoreResult, total, {
            "application_id": f"{app0} + g - 1", "model_version_id": str(version.pk), "score": "520 + g %% 160",
            "pd": "0.01 + (g %% 7) * 0.04", "grade": "(ARRAY['A','B','C','D','E','F','G'])[1 + g %% 7]",
            "duration_ms": "1", "created_at": "%(now)s", "scored_at": "%(now)s"}, p)
        insert_series(cursor, Offer, plans, {
            "application_id": f"{app0} + g - 1", "method": "(ARRAY['annuity','equal_principal','step_up'])[1 + g %% 3]",
            "amount": "3000 + (g %% 20) * 1000", "term_months": "(ARRAY[6, 12, 12, 24])[1 + g %% 4]",
            "annual_rate": "8 + g %% 12", "installment": "500", "total_interest": "300", "total_fees": "0",
            "total_payable": "3300", "apr": "8.5 + g %% 12", "effective_annual_rate": "9", "created_at": "%(now)s",
            "chosen_at": "%(now)s"}, p)
        offer0 = first_pk(Offer)
        insert_series(cursor, Contract, plans, {
            "application_id": f"{app0} + g - 1", "offer_id": f"{offer0} + g - 1", "content_html": "'-'",
            "content_sha256": "repeat('0', 64)", "created_at": "%(now)s", "accepted_at": "%(now)s"}, p)
        contract0 = first_pk(Contract)
        dpd = "(CASE WHEN g %% 12 = 0 THEN 1 + (g / 12) %% 150 ELSE 0 END)"
        bucket = (f"(CASE WHEN {dpd} = 0 THEN 'current' WHEN {dpd} <= 30 THEN '1-30' WHEN {dpd} <= 60 THEN '31-60' "
                  f"WHEN {dpd} <= 90 THEN '61-90' ELSE '90+' END)")
        insert_series(cursor, Plan, plans, {
            "number": "'PLN-B-' || lpad(g::text, 9, '0')", "application_id": f"{app0} + g - 1",
            "contract_id": f"{contract0} + g - 1", "customer_id": f"{user0} + g %% {customers}",
            "product_id": f"CASE WHEN g %% 3 = 0 THEN {products[1].pk} ELSE {products[0].pk} END",
            "method": "(ARRAY['annuity','equal_principal','step_up'])[1 + g %% 3]",
            "principal": "3000 + (g %% 20) * 1000", "annual_rate": "8 + g %% 12",
            "disbursement_date": "CAST(%(day0)s AS date) - g %% 730",
            "state": f"CASE WHEN g %% 10 = 0 THEN 'paid_off' WHEN {dpd} > 0 THEN 'overdue' ELSE 'active' END",
            "days_past_due": f"CASE WHEN g %% 10 = 0 THEN 0 ELSE {dpd} END",
            "bucket": f"CASE WHEN g %% 10 = 0 THEN 'current' ELSE {bucket} END",
            "closed_at": "CASE WHEN g %% 10 = 0 THEN %(now)s - make_interval(days => (g %% 730) / 3) END",
            "created_at": "%(now)s"}, p)
        plan0 = first_pk(Plan)
        insert_series(cursor, ScheduleVersion, plans, {
            "plan_id": f"{plan0} + g - 1", "version": "1", "reason": "'bench'", "created_at": "%(now)s"}, p)
        version0 = first_pk(ScheduleVersion)
        insert_series(cursor, Installment, plans, {
            "plan_id": f"{plan0} + g - 1", "version_id": f"{version0} + g - 1", "number": "1",
            "due_date": "CAST(%(day0)s AS date) + 20", "principal_due": "(3000 + (g %% 20) * 1000) / 2",
            "interest_due": "50", "status": "CASE WHEN g %% 10 = 0 THEN 'paid' ELSE 'pending' END",
            "principal_paid": "CASE WHEN g %% 10 = 0 THEN (3000 + (g %% 20) * 1000) / 2 ELSE 0 END",
            "interest_paid": "CASE WHEN g %% 10 = 0 THEN 50 ELSE 0 END"}, p)
        # Month-end snapshots: every month-end from disbursement to last month; an overdue plan was
        # (its DPD - 30 x months since) days past due then.
        month_end = "(date_trunc('month', p.disbursement_date) + make_interval(months => k + 1) - interval '1 day')::date"
        since = f"(EXTRACT(YEAR FROM AGE(CAST(%(day0)s AS date), {month_end})) * 12 " \
                f"+ EXTRACT(MONTH FROM AGE(CAST(%(day0)s AS date), {month_end})))"
        then = f"GREATEST(0, p.days_past_due - 30 * {since})::int"
        then_bucket = (f"CASE WHEN {then} = 0 THEN 'current' WHEN {then} <= 30 THEN '1-30' WHEN {then} <= 60 "
                       f"THEN '31-60' WHEN {then} <= 90 THEN '61-90' ELSE '90+' END")
        insert_series(cursor, PlanSnapshot, 0, {
            "plan_id": "p.id", "business_date": month_end,
            "state": f"CASE WHEN {then} > 0 THEN 'overdue' ELSE 'active' END", "days_past_due": then,
            "bucket": then_bucket, "term_class": "'current'", "principal_outstanding": "p.principal",
            "amount_overdue": "0"}, p,
            source=f"{Plan._meta.db_table} p CROSS JOIN generate_series(0, 24) AS k "
                   f"WHERE {month_end} < date_trunc('month', CAST(%(day0)s AS date)) "
                   f"AND (p.closed_at IS NULL OR {month_end} < p.closed_at::date)")
        cursor.execute(f"SELECT DISTINCT business_date FROM {PlanSnapshot._meta.db_table}")
        CobRun.objects.bulk_create([CobRun(business_date=row[0], status=CobRun.Status.DONE, counts={})
                                    for row in cursor.fetchall()])
        insert_series(cursor, CollectionCase, 0, {
            "plan_id": "p.id", "status": "'open'", "opened_on": "CAST(%(day0)s AS date) - p.days_past_due",
            "bucket": "p.bucket", "days_past_due": "p.days_past_due", "amount_overdue": "p.principal / 4"}, p,
            source=f"{Plan._meta.db_table} p WHERE p.state = 'overdue'")
        insert_series(cursor, Payment, 0, {
            "plan_id": "c.plan_id", "amount": "100", "received_on": "c.opened_on + 1", "channel": "'officer'",
            "idempotency_key": "'bench-' || c.id", "credited_amount": "100", "created_at": "%(now)s"}, p,
            source=f"{CollectionCase._meta.db_table} c WHERE c.id %% 2 = 0")
        insert_series(cursor, SatisfactionRating, 0, {
            "user_id": "a.customer_id", "application_id": "a.id", "moment": "'after_contract'",
            "rating": "1 + a.id %% 5", "comment": "CASE WHEN a.id %% 5 = 0 THEN 'Too slow to reach.' ELSE '' END",
            "created_at": "a.submitted_at + interval '3 days'"}, p,
            source=f"{Application._meta.db_table} a WHERE a.id %% 10 = 0 AND a.state <> 'declined'")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return {"plans": Plan.objects.count(), "applications": Application.objects.count(),
            "snapshots": PlanSnapshot.objects.count(), "cases": CollectionCase.objects.count(),
            "ratings": SatisfactionRating.objects.count()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plans", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5, help="requests per page")
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
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from customers.models import User
    from installments.analytics import portfolio as analytics
    from installments.analytics import services as dashboard_services
    from installments.models import LoanProduct

    try:
        print(f"database: {connection.settings_dict['NAME']} on {connection.settings_dict['HOST']}")
        started = time.perf_counter()
        call_command("migrate", verbosity=0)
        print(f"migrations: {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        counts = generate(args.plans, timezone.localdate())
        print(f"book: {counts['plans']:,} plans, {counts['applications']:,} applications, "
              f"{counts['snapshots']:,} month-end snapshots, {counts['cases']:,} collection cases, "
              f"{counts['ratings']:,} ratings (generated in {time.perf_counter() - started:.1f} s)")

        started = time.perf_counter()
        book = dashboard_services.book_load()
        loaded = time.perf_counter() - started
        started = time.perf_counter()
        analytics.plan_outcomes(book.plans, book.observations, today=book.today)
        print(f"\nload the book into pandas: {loaded:.2f} s ({len(book.observations):,} month-end observations); "
              f"plan outcomes: {time.perf_counter() - started:.2f} s")
        del book
        started = time.perf_counter()
        report = dashboard_services.summaries_refresh(triggered_by="bench")
        print(f"summaries refresh (load + {report.snapshots} KPI snapshots + {report.segments} segment summaries): "
              f"{time.perf_counter() - started:.2f} s")

        manager = User.objects.create_user(email="bench.manager@example.com", password=None)
        manager.groups.add(Group.objects.get_or_create(name="manager")[0])
        client = Client()
        client.force_login(manager, backend="customers.backends.ModelBackendWithRoles")
        # Managers pass the TOTP step (TWO_FACTOR_ROLES): the session is verified as django-otp's login() does.
        from django_otp import DEVICE_ID_SESSION_KEY
        from django_otp.plugins.otp_totp.models import TOTPDevice

        session = client.session
        session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.create(user=manager, name="Authenticator app",
                                                                   confirmed=True).persistent_id
        session.save()
        product = LoanProduct.objects.order_by("pk").first()
        pages = [("/manager/?range=12m", "overview, 12 months, all products"),
                 (f"/manager/?range=all&product={product.pk}", "overview, since the start, one product"),
                 ("/manager/?range=30d", "overview, 30 days"),
                 ("/manager/segments/?range=12m", "segments"),
                 ("/manager/satisfaction/?range=12m", "satisfaction (low ratings read live)"),
                 ("/manager/export/vintages.csv?range=all", "CSV export of the vintages")]
        print(f"\ndashboard pages ({args.repeat} requests each; goal < 1 s):")
        for path, label in pages:
            times = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                response = client.get(path)
                times.append(time.perf_counter() - started)
                assert response.status_code == 200, (path, response.status_code)
            print(f"  {label:45s} median {statistics.median(times) * 1000:7.1f} ms, worst {max(times) * 1000:7.1f} ms")
    finally:
        connection.close()
        if not args.keep:
            drop_database(url)


if __name__ == "__main__":
    main()
