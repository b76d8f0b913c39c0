"""Seed the load test's throwaway database (run by bench/bench_load.sh after migrate and seed_demo).

- APPLICANTS customers, each with a complete profile (income, expense, ID document, bank
  statement) and a draft application at the review step, already signed in: one session each,
  so the load measures submissions, not PBKDF2 log-ins;
- PAYERS active plans, each with an API token for its customer.

Writes {"applicants": [session keys], "payers": [{"plan", "token"}], officer credentials} to
$LOAD_ACCOUNTS; the reconciliation reads the plans from there too.
"""

import json
import os
import sys
import time
from importlib import import_module
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY  # noqa: E402
from knox.models import AuthToken  # noqa: E402

from customers.models import User  # noqa: E402
from customers.roles import Role  # noqa: E402
from tests.collections_app.factories import plan_active, staff_make  # noqa: E402
from tests.factories import UserFactory, WorkbenchProductFactory  # noqa: E402
from tests.portal.conftest import PORTAL_METHODS, complete_profile, ready_draft  # noqa: E402

APPLICANT_EMAIL = "load-applicant-{n}@example.com"


def seed(*, applicants: int, payers: int) -> dict:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # nobody logs in with these
    product = WorkbenchProductFactory(code="load-consumer", allowed_methods=PORTAL_METHODS)
    for n in range(applicants):
        user = UserFactory(roles=[Role.CUSTOMER], email=APPLICANT_EMAIL.format(n=n))
        complete_profile(user, n=2000 + n)
        ready_draft(user, product)
    # Stored as a log-in stores them (settings.SESSION_ENGINE: the database, and Redis when set).
    SessionStore = import_module(settings.SESSION_ENGINE).SessionStore  # noqa: N806
    sessions = []  # the session's auth hash is derived from the stored password hash, whatever its hasher
    for user in User.objects.filter(email__startswith="load-applicant-").order_by("pk"):
        store = SessionStore()
        store[SESSION_KEY], store[BACKEND_SESSION_KEY] = str(user.pk), "customers.backends.ModelBackendWithRoles"
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store.create()
        sessions.append(store.session_key)
    officer = staff_make(Role.LOAN_OFFICER)
    paying = []
    for _ in range(payers):
        plan = plan_active(amount="60000", term=12, by=officer)
        paying.append({"plan": plan.pk, "token": AuthToken.objects.create(user=plan.customer)[1]})
    return {"applicants": sessions, "payers": paying, "officer": "officer@example.com",
            "officer_password": "demo-pass-2026"}


if __name__ == "__main__":
    started = time.perf_counter()
    accounts = seed(applicants=int(os.environ.get("APPLICANTS", "600")), payers=int(os.environ.get("PAYERS", "20")))
    Path(os.environ["LOAD_ACCOUNTS"]).write_text(json.dumps(accounts))
    print(f"Seeded {len(accounts['applicants'])} applicants and {len(accounts['payers'])} paying plans "
          f"in {time.perf_counter() - started:.0f} s.")
