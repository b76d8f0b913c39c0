"""Where a request of the load mix spends its time, in process (no gunicorn, no locust): for each
request type, the median CPU ms, wall ms and SQL queries per request over the seeded accounts,
with PROFILE=<name> the top functions of a cProfile of that request type, and with SQL=<name> the
queries of its last request (SORT=tottime and TOP=N shape the cProfile listing). Run by
`MODE=profile bash bench/bench_load.sh` after the same seeding as the load test.

    python bench/load/request_costs.py ACCOUNTS_JSON

The figures say what one request costs the server; the load test says what the machine does
with 50 users at once. Requests: review step (GET), submit application (POST), quote, payment,
staff queue.
"""

import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import time
import uuid
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

REPEAT = int(os.environ.get("REPEAT", "40"))


def measure(name: str, calls, check) -> dict:
    """Run each call (a zero-argument function returning a response), check it, and collect the figures."""
    cpu, wall, queries = [], [], []
    profiler = cProfile.Profile() if os.environ.get("PROFILE") == name else None
    for call in calls:
        with CaptureQueriesContext(connection) as captured:
            started_cpu, started = time.process_time(), time.perf_counter()
            if profiler:
                profiler.enable()
            response = call()
            if profiler:
                profiler.disable()
            cpu.append((time.process_time() - started_cpu) * 1000)
            wall.append((time.perf_counter() - started) * 1000)
        check(response)
        queries.append(len(captured))
    if os.environ.get("SQL") == name:
        for query in captured.captured_queries:
            print(f"{query['time']}s  {query['sql'][:400]}")
    if profiler:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).sort_stats(os.environ.get("SORT", "cumulative"))
        stats.print_stats(int(os.environ.get("TOP", "45")))
        print(out.getvalue())
    return {"name": name, "n": len(cpu), "cpu": statistics.median(cpu), "wall": statistics.median(wall),
            "queries": statistics.median(queries), "max_queries": max(queries)}


def expect(status: int, contains: str = ""):
    def check(response):
        body = response.content.decode(errors="replace")
        if response.status_code != status or (contains and contains not in body):
            raise SystemExit(f"unexpected response {response.status_code}: {body[:300]}")
    return check


def main(accounts_path: str) -> None:
    accounts = json.loads(Path(accounts_path).read_text())
    sessions = accounts["applicants"][:REPEAT]
    if len(sessions) < REPEAT:
        raise SystemExit(f"need {REPEAT} seeded applicants, have {len(sessions)} (APPLICANTS=...)")
    # As behind the TLS-terminating proxy of production settings (SECURE_PROXY_SSL_HEADER).
    host = {"HTTP_HOST": "127.0.0.1", "HTTP_X_FORWARDED_PROTO": "https"}
    results = []

    # Warm up: the first request of a process compiles templates, URL patterns and queries.
    warm = Client(**host)
    warm.cookies[settings.SESSION_COOKIE_NAME] = sessions[-1]
    warm.get("/me/apply/review/")
    body = {"amount": "20000.00", "annual_interest_rate": "12", "term_months": 12, "method": "annuity",
            "disbursement_date": date.today().isoformat(), "upfront_fee": "200.00"}
    warm.post("/api/v1/quotes/", body, content_type="application/json")

    clients = []
    for session in sessions[:-1]:
        client = Client(**host)
        client.cookies[settings.SESSION_COOKIE_NAME] = session
        clients.append(client)
    results.append(measure("review", [lambda c=c: c.get("/me/apply/review/") for c in clients],
                           expect(200, "csrfmiddlewaretoken")))
    # The test client does not enforce CSRF; the load test sends the token like a browser.
    results.append(measure("submit", [lambda c=c: c.post("/me/apply/review/", {"confirm": "on"}) for c in clients],
                           expect(302)))

    visitor = Client(**host)
    results.append(measure("quote", [lambda: visitor.post("/api/v1/quotes/", body, content_type="application/json")]
                           * REPEAT, expect(200, "installments")))

    payer = accounts["payers"][0]
    payer_client = Client(**host)
    results.append(measure("payment", [
        lambda: payer_client.post(f"/api/v1/plans/{payer['plan']}/payment-intents/",
                                  {"amount": "1.00", "card_number": "4111111111111111"},
                                  content_type="application/json", HTTP_AUTHORIZATION=f"Token {payer['token']}",
                                  HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))] * REPEAT, expect(201, "authorised")))

    officer = Client(**host)
    # Through the real login view: django-axes needs the request.
    officer.post("/accounts/login/", {"username": accounts["officer"], "password": accounts["officer_password"]})
    results.append(measure("staff queue", [lambda: officer.get("/staff/applications/")] * REPEAT,
                           expect(200, "queue-row")))

    print(f"{'request':14} {'n':>4} {'cpu ms':>8} {'wall ms':>8} {'queries':>8} {'max q':>6}   (medians)")
    for r in results:
        print(f"{r['name']:14} {r['n']:>4} {r['cpu']:8.1f} {r['wall']:8.1f} {r['queries']:8.0f} {r['max_queries']:>6}")


if __name__ == "__main__":
    main(sys.argv[1])
