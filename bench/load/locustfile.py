"""Mixed load on 127.0.0.1 only: public quotes, application submissions through the portal,
payments through the API, and the officers' work queue. Run by bench/bench_load.sh, which seeds
the throwaway database (bench/load/seed.py), writes the accounts to $LOAD_ACCOUNTS and reconciles
afterwards (bench/load/reconcile.py).

Every accepted submission (the application id from the redirect) and payment (its Idempotency-Key)
is written to $LOAD_ACCEPTED with the time of the first and last one, so the reconciliation can
prove each is in the database exactly once and report submissions/s and payments/s over the time
they were being made.

The server runs the production settings behind an imagined TLS-terminating proxy: every request
says X-Forwarded-Proto: https (and a same-origin Referer, which Django's CSRF check requires on
secure requests); the Secure cookies it sets are sent back over the plain loopback connection.

Every user is a FastHttpUser: the load generator shares the machine's two cores with the server,
and it costs a fraction of the CPU of the requests-based HttpUser (the portal and staff users keep
their session and CSRF cookies in its cookie jar).
"""

import json
import os
import re
import threading
import time
import uuid
from datetime import date
from urllib.parse import urlencode, urlparse

from locust import FastHttpUser, between, events, task
from requests.cookies import create_cookie

ACCOUNTS = json.loads(open(os.environ["LOAD_ACCOUNTS"]).read())
ACCEPTED = {"submissions": [], "payments": [], "window": {"submissions": [], "payments": []}}
_lock = threading.Lock()
_customers = list(ACCOUNTS["applicants"])
_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@events.init.add_listener
def _only_loopback(environment, **kwargs):
    host = urlparse(environment.host or "").hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"refusing to load {host!r}: this load test only targets 127.0.0.1")


@events.quitting.add_listener
def _write_accepted(environment, **kwargs):
    with open(os.environ["LOAD_ACCEPTED"], "w") as out:
        json.dump(ACCEPTED, out)


def _accept(kind: str, value) -> None:
    now = time.time()
    with _lock:
        ACCEPTED[kind].append(value)
        window = ACCEPTED["window"][kind]
        if not window:
            window.extend([now, now])
        window[1] = now


PROXY_HEADERS = {"X-Forwarded-Proto": "https"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class BrowserLike(FastHttpUser):
    """A signed-in person's browser behind the TLS proxy: requests marked https with a same-origin
    Referer (Django's CSRF check wants one on secure requests), and the cookies the server marks
    Secure sent back over the plain loopback leg."""

    abstract = True

    def on_start(self):
        self.headers = {**PROXY_HEADERS, "Referer": "https://" + urlparse(self.host).netloc + "/"}

    def keep_cookies(self) -> None:
        for cookie in self.client.cookiejar:
            cookie.secure = False

    def set_cookie(self, name: str, value: str) -> None:
        self.client.cookiejar.set_cookie(create_cookie(name, value, domain=urlparse(self.host).hostname))

    def get(self, path: str, **kwargs):
        return self.client.get(path, headers=self.headers, **kwargs)

    def post_form(self, path: str, fields: dict, **kwargs):
        return self.client.post(path, data=urlencode(fields), headers={**self.headers, **FORM}, **kwargs)

    def log_in(self, email: str, password: str) -> None:
        page = self.get("/accounts/login/", name="login page")
        self.keep_cookies()
        token = _CSRF.search(page.text or "")
        self.post_form("/accounts/login/", {"username": email, "password": password,
                                            "csrfmiddlewaretoken": token.group(1) if token else ""},
                       name="login", allow_redirects=False)
        self.keep_cookies()


class Visitor(FastHttpUser):
    """Anyone comparing plans: the public quote API."""

    weight = 4
    wait_time = between(0.05, 0.2)

    default_headers = PROXY_HEADERS

    @task
    def quote(self):
        with self.client.post("/api/v1/quotes/", json={
            "amount": "20000.00", "annual_interest_rate": "12", "term_months": 12, "method": "annuity",
            "disbursement_date": date.today().isoformat(), "upfront_fee": "200.00"}, name="quote",
                catch_response=True) as response:
            if response.status_code != 200 or "installments" not in (response.text or ""):
                response.failure(f"{response.status_code}: {(response.text or '')[:200]}")


class Applicant(BrowserLike):
    """A signed-in customer whose application is ready at the review step submits it (once per account)."""

    weight = 3
    wait_time = between(0.05, 0.2)

    @task
    def submit(self):
        with _lock:
            if not _customers:
                self.stop()
                return
            session_id = _customers.pop()
        self.client.cookiejar.clear()
        self.set_cookie("sessionid", session_id)
        with self.get("/me/apply/review/", name="review step", catch_response=True) as page:
            token = _CSRF.search(page.text or "")
            if page.status_code != 200 or not token:
                page.failure(f"no review form: {page.status_code}")
                return
        self.keep_cookies()
        with self.post_form("/me/apply/review/", {"confirm": "on", "csrfmiddlewaretoken": token.group(1)},
                            name="submit application", allow_redirects=False, catch_response=True) as response:
            match = re.search(r"/me/applications/(\d+)/", response.headers.get("Location") or "")
            if response.status_code == 302 and match:
                _accept("submissions", int(match.group(1)))
                response.success()
            else:
                response.failure(f"not submitted: {response.status_code} {response.headers.get('Location') or ''}")


class Payer(FastHttpUser):
    """A customer paying a small amount on their plan through the API (token auth, Idempotency-Key)."""

    weight = 2
    wait_time = between(0.05, 0.2)

    default_headers = PROXY_HEADERS

    def on_start(self):
        self.account = ACCOUNTS["payers"][uuid.uuid4().int % len(ACCOUNTS["payers"])]

    @task
    def pay(self):
        key = str(uuid.uuid4())
        # Customers pay through the payment provider (the simulator in test mode): a payment intent.
        with self.client.post(f"/api/v1/plans/{self.account['plan']}/payment-intents/",
                              json={"amount": "1.00", "card_number": "4111111111111111"},
                              headers={"Authorization": f"Token {self.account['token']}", "Idempotency-Key": key},
                              name="payment", catch_response=True) as response:
            if response.status_code == 201 and response.json().get("status") == "authorised":
                _accept("payments", key)
                response.success()
            else:
                response.failure(f"{response.status_code}: {(response.text or '')[:200]}")


class Officer(BrowserLike):
    """A loan officer working the application queue."""

    weight = 1
    wait_time = between(0.1, 0.5)

    def on_start(self):
        super().on_start()
        self.log_in(ACCOUNTS["officer"], ACCOUNTS["officer_password"])  # a failed log-in fails the queue

    @task
    def queue(self):
        with self.get("/staff/applications/", name="staff queue", allow_redirects=False,
                      catch_response=True) as response:
            if response.status_code != 200 or 'id="queue-table"' not in (response.text or ""):
                response.failure(f"not the queue: {response.status_code} {response.headers.get('Location') or ''}")
        self.keep_cookies()  # the session cookie comes back (Secure) with every staff page
