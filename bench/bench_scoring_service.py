"""Scoring through the service, database included: online latency and batch rescoring rate.

Each figure is printed beside its floor in the same run: scikit-learn's `predict_proba` of the very
same logistic regression on already WOE-encoded rows (no database, no features, no rules).

- online: `installments.assessment.online.application_score` on submitted applications of customers with full
  profiles -- lock, profile summary, features, knock-out rules, scorecard, anomaly checks, the
  stored result, the audited state change. Goals: under 5 ms; under 15 ms as deployed, with
  installments' offer generation.
- batch: `installments.assessment.rescoring.book_rescore` over a book of stored results -- read the feature
  snapshots, validate, score, points and reason codes vectorised -- without and with writing the
  open applications' results back. Goals: >= 50,000 applicants per second for the scoring; >= 20,000
  a second end to end with the results written back (issue #18).

Runs on a throw-away database, never on the one DATABASE_URL names:
- BENCH_DATABASE_URL: an empty database you can spare (the bench migrates it and writes to it);
- else, when DATABASE_URL is PostgreSQL: a fresh database `<name>_bench_<pid>` created on that
  server for the run and dropped at the end (the figures that matter: production runs PostgreSQL);
- else a temporary SQLite file.
Prints figures only, with the number of SQL queries each online scoring ran.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/installments python bench/bench_scoring_service.py \
        [--applications 300] [--book 50000 (0: online only)] [--profile]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))



def _bench_database_url() -> tuple[str, str | None]:
    """(the URL the bench runs on, the name of a PostgreSQL database to create and drop, if any)."""
    if os.environ.get("BENCH_DATABASE_URL"):
        return os.environ["BENCH_DATABASE_URL"], None
    url = urlsplit(os.environ.get("DATABASE_URL", ""))
    if url.scheme in ("postgres", "postgresql", "pgsql", "psql"):
        name = f"{url.path.lstrip('/') or 'postgres'}_bench_{os.getpid()}"
        return urlunsplit(url._replace(path=f"/{name}")), name
    return f"sqlite:///{tempfile.mkdtemp(prefix='bench-scoring-')}/bench.sqlite3", None


os.environ["DATABASE_URL"], THROWAWAY_DATABASE = _bench_database_url()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "1")
os.environ.pop("REDIS_URL", None)  # tasks in-process; this measures the service, not the broker

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import F  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402


def same_regression(card) -> LogisticRegression:
    """The scorecard's regression as a fitted scikit-learn estimator (the floor)."""
    model = LogisticRegression()
    model.classes_ = np.array([0, 1])
    model.coef_ = np.array([[f.coefficient for f in card.features]])
    model.intercept_ = np.array([card.intercept])
    return model


def woe_matrix(card, frame) -> np.ndarray:
    return np.column_stack([f.binning.woe_values(frame[f.name]) for f in card.features])


def setup_book(n_customers: int):
    from datetime import date
    from decimal import Decimal

    from customers.models import StatementSummary, User
    from customers.national_id import make_resident_id
    from customers.services import finance_line_add, profile_create
    from installments.assessment import policy
    from installments.models import LoanProduct, PriceTier
    from scoring import registry

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    version = registry.model_version_train_default(label="bench", activate=True)  # the shipped default
    policy.policy_rules_ensure_defaults()
    product = LoanProduct.objects.create(code="bench", name="Bench", min_amount=Decimal("1000"),
                                         max_amount=Decimal("200000"))
    for grade, rate in zip("ABCDEFG", ("8", "10", "12", "14", "16", "20", "23.9"), strict=True):
        PriceTier.objects.create(product=product, grade=grade, annual_rate=Decimal(rate),
                                 max_amount=Decimal("200000"), max_term_months=36)
    rng = np.random.default_rng(0)
    occupations = ["office_worker", "teacher", "professional", "sales_service", "factory_worker"]
    customers = []
    for i in range(n_customers):
        user = User.objects.create_user(email=f"bench{i}@example.com", password="bench-pass-2026",
                                        full_name=f"Bench Customer {i}")
        profile = profile_create(user=user, data={
            "full_name": f"Bench Customer {i}", "id_type": "prc_resident_id", "id_number": make_resident_id(
                region_code="110101", birth_date=date(1970 + i % 30, 1 + i % 12, 1 + i % 28), sequence=i % 100,
                sex="male" if i % 2 else "female"),
            "phone": f"139{i:08d}", "province": "北京市", "city": "北京市", "district": "东城区", "street": "1 Road",
            "occupation": occupations[i % len(occupations)], "employment_type": "salaried",
            "years_in_job": Decimal(str(rng.integers(0, 15))), "education": "bachelor", "marital_status": "married",
            "dependants": int(rng.integers(0, 3)), "housing": ["own", "rent", "mortgage", "family"][i % 4],
        })
        income = Decimal(int(rng.integers(4000, 30000)))
        finance_line_add(profile=profile, line_type="income", data={"source": "salary", "monthly_amount": income},
                         by=user)
        finance_line_add(profile=profile, line_type="expense", data={"category": "food",
                                                                     "monthly_amount": income * Decimal("0.3")},
                         by=user)
        if i % 2 == 0:
            finance_line_add(profile=profile, line_type="asset", data={
                "kind": "property" if i % 4 == 0 else "savings", "value": Decimal(int(rng.integers(5, 50)) * 10000)},
                by=user)
            StatementSummary.objects.create(
                profile=profile, original_filename="s.csv", file_sha256=f"{i:064d}", period_start=date(2026, 1, 1),
                period_end=date(2026, 6, 30), months_covered=6, transaction_count=100, average_monthly_inflow=income,
                average_monthly_outflow=income * Decimal("0.8"), income_regularity=Decimal("1"),
                income_volatility=Decimal("0.1"), overdraft_days=int(i % 8 == 0),
                summary={"seasonal_high_months": [], "seasonal_low_months": []})
        if i % 3 == 0:
            finance_line_add(profile=profile, line_type="debt", data={
                "lender": "Bank", "kind": "consumer_loan", "outstanding_balance": Decimal("20000"),
                "monthly_payment": Decimal("1200")}, by=user)
        customers.append(user)
    from scoring.consumer_credit import load_consumer_credit

    features, _ = load_consumer_credit()  # the batch book is drawn from the default model's own data
    return version, product, customers, features


def _submitted(product, customers, n: int) -> list[int]:
    from decimal import Decimal

    from installments.models import Application
    from installments.origination.applications import application_create, application_transition

    ids = []
    for i in range(n):
        customer = customers[i % len(customers)]
        application = application_create(customer=customer, product=product, amount=Decimal(5000 + 100 * (i % 200)),
                                         term_months=12)
        ids.append(application_transition(application=application, to=Application.State.SUBMITTED, by=customer).pk)
    return ids


def bench_online(product, customers, n_applications: int, card, profile: bool = False) -> None:
    from unittest import mock

    import pandas as pd

    from installments.assessment import online
    from scoring.features import validate_frame
    from scoring.models import ScoreResult

    def run(ids):
        """Wall times and query counts of the scorings (the first ten, warming the caches, left out)."""
        timings, queries = [], []
        for application_id in ids:
            counter = QueryCounter()
            with connection.execute_wrapper(counter):
                start = time.perf_counter()
                online.application_score(application_id=application_id)
                timings.append(time.perf_counter() - start)
            queries.append(counter.count)
        return (timings[10:] or timings), (queries[10:] or queries)

    deployed, deployed_queries = run(_submitted(product, customers, n_applications))
    ids = _submitted(product, customers, n_applications)
    with mock.patch.object(online, "_generate_offers", lambda application, **known: None):
        if profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            alone, alone_queries = profiler.runcall(run, ids)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
        else:
            alone, alone_queries = run(ids)
    results = ScoreResult.objects.filter(application_id__in=ids)
    inside = statistics.median(results.values_list("duration_ms", flat=True))
    grades = sorted(results.values_list("grade", flat=True))
    mix = ", ".join(f"{g} {grades.count(g)}" for g in sorted(set(grades)))
    applicants = list(results.values_list("features", flat=True)[:500])
    woe_rows = [woe_matrix(card, validate_frame(pd.DataFrame([a]))).reshape(1, -1) for a in applicants]
    model = same_regression(card)
    one_floor = statistics.median(_timed(model.predict_proba, woe_rows))
    score_one = statistics.median(_timed(card.score_one, applicants))
    print(f"online application_score, as deployed (with installments' offer generation): p50 "
          f"{statistics.median(deployed) * 1e3:6.2f} ms, p95 {np.percentile(deployed, 95) * 1e3:6.2f} ms; "
          f"{_query_counts(deployed_queries)}")
    print(f"online application_score, scoring only (offer hook off): p50 {statistics.median(alone) * 1e3:6.2f} ms, "
          f"p95 {np.percentile(alone, 95) * 1e3:6.2f} ms over {len(alone)} applications   target < 5 ms; "
          f"{_query_counts(alone_queries)}")
    print(f"   of which reads + features + rules + scorecard + flags (before the writes): median {inside:6.2f} ms")
    print(f"   of which the scorecard (score_one with reasons): median {score_one * 1e3:6.3f} ms")
    print(f"   floor: sklearn predict_proba on one WOE row:       median {one_floor * 1e3:6.3f} ms")
    print(f"   floor: one durable write (UPDATE one row, COMMIT):  median {statistics.median(_durable_writes()) * 1e3:6.3f} ms"
          f" (the server's WAL flush; every scoring pays it once)")
    print(f"   grades of these applicants: {mix}")
    # (The bench's customers are one synthetic salaried profile with noise, not the target population:
    # the demo book's PSI against the training data is what tests/test_demo_realistic.py checks.)


class QueryCounter:
    """`connection.execute_wrapper` counting the statements sent (an executemany counts once)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def _query_counts(counts: list[int]) -> str:
    if not counts:
        return "queries not counted"
    return f"queries per application: median {statistics.median(counts):g}, max {max(counts)}"


def _durable_writes(n: int = 100) -> list[float]:
    """Wall times of the smallest durable transaction: one row updated (an application's
    updated_at set to itself) and committed."""
    from django.db import transaction

    from installments.models import Application

    pk = Application.objects.order_by("pk").values_list("pk", flat=True).first()
    timings = []
    for _ in range(n):
        start = time.perf_counter()
        with transaction.atomic():
            Application.objects.filter(pk=pk).update(updated_at=F("updated_at"))
        timings.append(time.perf_counter() - start)
    return timings


def _timed(call, arguments) -> list[float]:
    timings = []
    for argument in arguments:
        start = time.perf_counter()
        call(argument)
        timings.append(time.perf_counter() - start)
    return timings


def bench_batch(version, product, customers, features, book_rows: int, card) -> None:
    from decimal import Decimal

    import pandas as pd
    from django.utils import timezone

    from installments.assessment import rescoring
    from installments.models import Application
    from scoring.features import validate_frame
    from scoring.models import ScoreResult

    rng = np.random.default_rng(1)
    sample = features.iloc[rng.integers(0, len(features), book_rows)].reset_index(drop=True)
    snapshots = [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
                 for row in sample.to_dict("records")]
    start = time.perf_counter()
    now = timezone.now()
    applications = Application.objects.bulk_create([
        Application(number=f"BENCH-{i:08d}", customer=customers[i % len(customers)], product=product,
                    amount=Decimal("10000"), term_months=12, state=Application.State.IN_REVIEW, created_at=now)
        for i in range(book_rows)], batch_size=2000)
    ScoreResult.objects.bulk_create([
        ScoreResult(application=a, model_version=version, score=0, pd=Decimal("0.5"), grade="G", duration_ms=0,
                    features=f) for a, f in zip(applications, snapshots, strict=True)], batch_size=2000)
    print(f"book of {book_rows:,} stored results created in {time.perf_counter() - start:.1f} s")

    dry = rescoring.book_rescore(write=False)
    print(f"batch book_rescore (no writes): {dry.rows:,} rows; scoring {dry.rows_per_second:12,.0f} rows/s "
          f"({dry.scoring_seconds * 1e3:7.1f} ms), with the database read {dry.rows / dry.total_seconds:10,.0f} rows/s"
          f"   target >= 50,000 rows/s")
    written = rescoring.book_rescore(write=True)
    print(f"batch book_rescore (writing {written.written:,} open results back): end to end "
          f"{written.rows / written.total_seconds:10,.0f} rows/s ({written.total_seconds:.1f} s)   target >= 20,000 rows/s")
    frame = pd.DataFrame.from_records(snapshots)
    validated = validate_frame(frame)
    matrix = woe_matrix(card, validated)
    model = same_regression(card)
    best = min(_timed(lambda _: model.predict_proba(matrix), range(5)))
    print(f"   floor: sklearn predict_proba on the WOE matrix:  {book_rows / best:12,.0f} rows/s ({best * 1e3:7.1f} ms)")
    best = min(_timed(lambda _: card.score_frame(validated), range(5)))
    print(f"   floor: Scorecard.score_frame on the snapshots:   {book_rows / best:12,.0f} rows/s ({best * 1e3:7.1f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--applications", type=int, default=300)
    parser.add_argument("--customers", type=int, default=100)
    parser.add_argument("--book", type=int, default=50_000)
    parser.add_argument("--profile", action="store_true", help="print cProfile's top calls of the online scoring")
    args = parser.parse_args()

    for name in ("scoring", "installments"):  # one INFO line per application otherwise
        logging.getLogger(name).setLevel(logging.WARNING)
    if THROWAWAY_DATABASE:
        _create_database(THROWAWAY_DATABASE)
    try:
        run(args)
    finally:
        if THROWAWAY_DATABASE:
            connection.close()
            _drop_database(THROWAWAY_DATABASE)


def _create_database(name: str) -> None:
    with connection._nodb_cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {connection.ops.quote_name(name)}")


def _drop_database(name: str) -> None:
    with connection._nodb_cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {connection.ops.quote_name(name)}")


def run(args: argparse.Namespace) -> None:
    vendor = connection.vendor
    where = settings.DATABASES["default"]["NAME"]
    print(f"database: {vendor} {connection.display_name} ({where}"
          f"{', created for this run' if THROWAWAY_DATABASE else ''}); Django {django.get_version()}")
    start = time.perf_counter()
    call_command("migrate", verbosity=0)
    from scoring import registry

    version, product, customers, features = setup_book(args.customers)
    card = registry.model_version_scorecard(version)
    print(f"set up (migrate, train the default model, {args.customers} customers) in {time.perf_counter() - start:.1f} s; "
          f"model {version.label}, CV AUC {version.cv_auc:.3f}, {len(card.features)} characteristics")
    bench_online(product, customers, args.applications, card, profile=args.profile)
    if args.book > 0:
        bench_batch(version, product, customers, features, args.book, card)


if __name__ == "__main__":
    main()
