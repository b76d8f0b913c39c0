"""PreparedQuery (SQL compiled once per process) against the plain ORM, on a realistic request mix.

The same requests run twice, interleaved customer by customer: once with `config.prepared.PreparedQuery`
active, once with config.prepared's ORM path (every prepared query's queryset built with the call's
values and iterated, as on an untested Django version or with PREPARED_QUERIES=0).

Figures that decided to keep config.prepared (PostgreSQL on 127.0.0.1, Django 5.2.19, DEBUG=1, a
shared 2-core host whose speed varied by 2x between runs; five runs of 60-80 customers per mode;
p50 of prepared against the ORM): the whole mix -11 to -13 % (sum of the per-request medians), -9 to
-16 % (per customer); sign-in -7 to +5 %, account page -10 to +2 %, staff home -14 to -40 % (under
1 ms: the user with roles), workbench queue and application -2 to -7 %, score page -9 to -18 %, wizard
review -30 to -36 %, submission -31 to -37 %, online scoring -20 to -25 % (5-16 ms).

The mix, through Django's test Client (full request: middleware, sessions, axes, templates):
- a customer signs in (POST /accounts/login/), loads the account page (/me/), the wizard's review
  step (GET /me/apply/review/) and submits (POST /me/apply/review/);
- the online scoring of that application (`installments.assessment.online.application_score`, what the task runs
  after the submission commits), timed on its own;
- a loan officer's pages: staff home, the workbench queue, the application, its score page.

Runs on a throw-away database: with DATABASE_URL PostgreSQL, `installments_bench` on that server
(re-created); otherwise a temporary SQLite file. Prints per-request median / p95 of each mode and
the relative difference.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/installments_bench DEBUG=1 \
        .venv/bin/python bench/bench_prepared.py [--customers 60]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BENCH_DB = "installments_bench"


def _bench_database_url() -> tuple[str, str | None]:
    url = urlsplit(os.environ.get("DATABASE_URL", ""))
    if url.scheme in ("postgres", "postgresql", "pgsql", "psql"):
        return urlunsplit(url._replace(path=f"/{BENCH_DB}")), BENCH_DB
    return f"sqlite:///{tempfile.mkdtemp(prefix='bench-prepared-')}/bench.sqlite3", None


os.environ["DATABASE_URL"], PG_DATABASE = _bench_database_url()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "1")
os.environ.pop("REDIS_URL", None)
os.environ["MEDIA_ROOT"] = tempfile.mkdtemp(prefix="bench-prepared-media-")


def _recreate_pg(url: str, name: str) -> None:
    import psycopg2

    parts = urlsplit(url)
    admin = psycopg2.connect(host=parts.hostname, port=parts.port or 5432, user=parts.username,
                             password=parts.password, dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        cursor.execute(f"CREATE DATABASE {name}")
    admin.close()


if PG_DATABASE:
    _recreate_pg(os.environ["DATABASE_URL"], PG_DATABASE)

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

PASSWORD = "bench-pass-2026"

from config import prepared  # noqa: E402
from installments.assessment import online, policy  # noqa: E402
from scoring import registry  # noqa: E402


def _verify_two_factor(client: Client, user) -> None:
    """Mark the client's session verified by a confirmed TOTP device, as django-otp's login() does."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()


@contextmanager
def plain_orm():
    """Every PreparedQuery runs its queryset through the ORM on each call (config.prepared's own
    fallback, as on an untested Django version or with PREPARED_QUERIES=0)."""
    prepared.ENABLED = False
    try:
        yield
    finally:
        prepared.ENABLED = True


@contextmanager
def as_deployed():
    yield


def setup(n_customers: int):
    from decimal import Decimal

    from django.core.files.base import ContentFile
    from django.core.files.uploadedfile import SimpleUploadedFile

    from customers import services as customer_services
    from customers.models import ConsentKind
    from customers.roles import Role
    from portal import services as portal_services
    from tests.factories import TINY_PNG, CustomerProfileFactory, UserFactory, WorkbenchProductFactory, resident_id
    from tests.portal.conftest import PORTAL_METHODS, statement_csv

    registry.model_version_train_default(label="bench", activate=True)  # the shipped default
    policy.policy_rules_ensure_defaults()
    product = WorkbenchProductFactory(code="bench-consumer", allowed_methods=PORTAL_METHODS)
    officer = UserFactory(email="officer@example.com", roles=[Role.LOAN_OFFICER])
    officer.set_password(PASSWORD)
    officer.save()
    occupations = ["office_worker", "teacher", "professional", "sales_service", "factory_worker"]
    customers = []
    for i in range(n_customers):
        user = UserFactory(email=f"bench{i}@example.com", roles=[Role.CUSTOMER], full_name=f"Bench Customer {i}")
        user.set_password(PASSWORD)
        user.save()
        profile = CustomerProfileFactory(user=user, id_number=resident_id(1000 + i), full_name=f"Bench Customer {i}",
                                         occupation=occupations[i % len(occupations)])
        income = Decimal(8000 + 250 * (i % 40))
        customer_services.finance_line_add(profile=profile, line_type="income",
                                           data={"source": "salary", "monthly_amount": income}, by=user)
        customer_services.finance_line_add(profile=profile, line_type="expense",
                                           data={"category": "food", "monthly_amount": Decimal("3000")}, by=user)
        if i % 3 == 0:
            customer_services.finance_line_add(profile=profile, line_type="debt", data={
                "lender": "Bank", "kind": "consumer_loan", "outstanding_balance": Decimal("20000"),
                "monthly_payment": Decimal("900")}, by=user)
        customer_services.document_upload(profile=profile, kind="id_front",
                                          file=ContentFile(TINY_PNG, name="id.png"), by=user)
        customer_services.statement_import(profile=profile, by=user, file=SimpleUploadedFile(
            "statement.csv", statement_csv(salary=f"{income:.2f}")))
        draft = portal_services.draft_start(user=user)
        portal_services.draft_request_save(draft=draft, by=user, product=product, amount=Decimal("20000"),
                                           term_months=12, purpose="furniture")
        for kind in (ConsentKind.CREDIT_CHECK, ConsentKind.DATA_PROCESSING):
            customer_services.consent_record(user=user, kind=kind)
        draft.furthest_step = len(portal_services.STEPS) - 1
        draft.current_step = "review"
        draft.save()
        customers.append(user)
    return officer, customers


class Recorder:
    def __init__(self) -> None:
        self.times: dict[tuple[str, str], list[float]] = defaultdict(list)
        self.mix: dict[str, list[float]] = defaultdict(list)  # the whole mix of one customer, per mode

    def timed(self, mode: str, name: str, call, *, expect=(200,)):
        start = time.perf_counter()
        response = call()
        self.times[mode, name].append(time.perf_counter() - start)
        status = getattr(response, "status_code", None)
        if status is not None and status not in expect:
            raise SystemExit(f"{name}: HTTP {status} ({mode})")
        return response


def one_customer(rec: Recorder, mode: str, user, officer_client: Client, queued: list[int]) -> None:
    from installments.models import Application

    client = Client()
    rec.timed(mode, "sign-in (POST /accounts/login/)", lambda: client.post(
        "/accounts/login/", {"username": user.email, "password": PASSWORD}), expect=(302,))
    rec.timed(mode, "account page (/me/)", lambda: client.get("/me/"))
    rec.timed(mode, "wizard review (GET /me/apply/review/)", lambda: client.get("/me/apply/review/"))
    rec.timed(mode, "submission (POST /me/apply/review/)",
              lambda: client.post("/me/apply/review/", {"confirm": "on"}), expect=(302,))
    application_id = queued.pop()
    rec.timed(mode, "online scoring (application_score)",
              lambda: online.application_score(application_id=application_id))
    assert Application.objects.get(pk=application_id).state != Application.State.SUBMITTED
    rec.timed(mode, "staff home (/staff/)", lambda: officer_client.get("/staff/"))
    rec.timed(mode, "workbench queue (/staff/applications/)", lambda: officer_client.get("/staff/applications/"))
    rec.timed(mode, "workbench application", lambda: officer_client.get(f"/staff/applications/{application_id}/"))
    rec.timed(mode, "score page (/scoring/applications/<pk>/)",
              lambda: officer_client.get(f"/scoring/applications/{application_id}/"))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(rec: Recorder, modes: list[str], warmup: int) -> None:
    names = list(dict.fromkeys(name for _, name in rec.times))
    head = f"{'request':44s}" + "".join(f" {m + ' p50':>14s} {m + ' p95':>14s}" for m in modes)
    if len(modes) == 2:
        head += f" {'p50 diff':>9s}"
    print(head)
    totals = {m: 0.0 for m in modes}
    for name in names:
        row = f"{name:44s}"
        medians = []
        for mode in modes:
            values = rec.times[mode, name][warmup:]
            median = statistics.median(values)
            totals[mode] += median
            medians.append(median)
            row += f" {median * 1e3:11.2f} ms {pct(values, 0.95) * 1e3:11.2f} ms"
        if len(modes) == 2:
            row += f" {(medians[0] - medians[1]) / medians[1] * 100:+8.1f}%"
        print(row)
    row = f"{'whole mix (sum of the medians above)':44s}"
    for mode in modes:
        row += f" {totals[mode] * 1e3:11.2f} ms {'':>14s}"
    if len(modes) == 2:
        a, b = (totals[m] for m in modes)
        row += f" {(a - b) / b * 100:+8.1f}%"
    print(row)
    row = f"{'whole mix per customer (9 steps)':44s}"
    medians = []
    for mode in modes:
        values = rec.mix[mode][warmup:]
        medians.append(statistics.median(values))
        row += f" {medians[-1] * 1e3:11.2f} ms {pct(values, 0.95) * 1e3:11.2f} ms"
    if len(modes) == 2:
        row += f" {(medians[0] - medians[1]) / medians[1] * 100:+8.1f}%"
    print(row)
    if len(modes) == 2:
        print(f"(p50 diff: ({modes[0]} - {modes[1]}) / {modes[1]}; negative = {modes[0]} faster)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=60, help="customers per mode (each signs in and submits)")
    parser.add_argument("--warmup", type=int, default=5, help="first runs of each mode left out of the figures")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    setup_test_environment()  # the test Client's template rendering hooks, as the tests run
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.ALLOWED_HOSTS = ["*"]
    print(f"database: {connection.vendor} {connection.display_name} ({settings.DATABASES['default']['NAME']}); "
          f"Django {django.get_version()}")
    start = time.perf_counter()
    call_command("migrate", verbosity=0)
    modes = {"prepared": as_deployed, "orm": plain_orm}
    if not prepared.active():
        sys.exit(f"config.prepared is not active here (Django {django.get_version()}, PREPARED_QUERIES): "
                 "nothing to compare")
    officer, customers = setup(args.customers * len(modes))
    print(f"set up (migrate, model, {len(customers)} customers with a draft at review) in "
          f"{time.perf_counter() - start:.1f} s")

    import installments.origination.applications as origination

    queued: list[int] = []
    origination.enqueue_scoring = lambda *, application_id: queued.append(application_id) or True
    officer_client = Client()
    officer_client.force_login(officer, backend="customers.backends.ModelBackendWithRoles")
    _verify_two_factor(officer_client, officer)  # loan officers pass the TOTP step (TWO_FACTOR_ROLES)
    rec = Recorder()
    names = list(modes)
    for i, user in enumerate(customers):
        mode = names[i % len(names)]
        before = {name: len(values) for (m, name), values in rec.times.items() if m == mode}
        with modes[mode]():
            one_customer(rec, mode, user, officer_client, queued)
        rec.mix[mode].append(sum(sum(values[before.get(name, 0):])
                                 for (m, name), values in rec.times.items() if m == mode))
    print(f"{args.customers} customers per mode, interleaved; the first {args.warmup} of each mode left out")
    report(rec, names, args.warmup)
    connection.close()


if __name__ == "__main__":
    main()
