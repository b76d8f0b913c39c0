"""Idempotent demo data: one login per role, then each area's own demo data.

Areas add theirs by defining `seed_demo(stdout, customers)` in `<app>/demo.py`; this command calls
them in dependency order: the customers (drawn from the target population), the products, the
scoring model and the officers' queue, then a year of the book's history replayed through the
services and the close of business (collections_app.demo), so the manager's dashboard shows the
figures of that book. Running it twice changes nothing that the first run made.
"""

import importlib
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from customers.models import User
from customers.roles import Role
from customers.services import user_grant_role
from customers.two_factor import enrolment_links_for_new_staff

DEMO_PASSWORD = "demo-pass-2026"
DEMO_USERS = [
    ("customer@example.com", "Li Na (demo customer)", Role.CUSTOMER),
    ("officer@example.com", "Wang Wei (loan officer)", Role.LOAN_OFFICER),
    ("approver@example.com", "Zhang Min (approver)", Role.APPROVER),
    ("collector@example.com", "Chen Jie (collector)", Role.COLLECTOR),
    ("manager@example.com", "Liu Yang (manager)", Role.MANAGER),
    ("accountant@example.com", "Zhao Li (accountant)", Role.ACCOUNTANT),
    ("admin@example.com", "Admin", Role.ADMIN),
    ("merchant@example.com", "Sun Hua (merchant)", Role.MERCHANT),
]
AREA_SEEDERS = ["customers.demo", "installments.demo", "installments.assessment.demo", "collections_app.demo",
                "installments.merchants.demo"]


def ensure_demo_users() -> list[User]:
    users = []
    for email, name, role in DEMO_USERS:
        user = User.objects.filter(email=email).first()
        if user is None:
            is_admin = role == Role.ADMIN
            user = User.objects.create_user(
                email=email, password=DEMO_PASSWORD, full_name=name, is_staff=is_admin, is_superuser=is_admin
            )
        user_grant_role(user=user, role=role, by=None)
        users.append(user)
    return users


class Command(BaseCommand):
    help = "Load idempotent demo data (users for every role, customers, applications, plans) and print the logins."

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, default=None, help="How many demo customers (default per area).")

    def handle(self, *args, **options):
        started = time.monotonic()
        with transaction.atomic():
            users = ensure_demo_users()
        for module_name in AREA_SEEDERS:
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as error:
                if error.name == module_name:
                    continue
                raise
            module.seed_demo(stdout=self.stdout, customers=options["customers"])
        # The manager's dashboard reads summary tables (refreshed hourly by beat): fill them now.
        from installments.analytics.services import summaries_refresh

        report = summaries_refresh(triggered_by="seed_demo")
        self.stdout.write(f"Dashboard summaries: {report.snapshots} snapshots, {report.segments} segment rows.")
        self.stdout.write(f"Demo data ready in {time.monotonic() - started:.0f} s.")
        self.stdout.write(self.style.SUCCESS(f"Demo logins (password for all: {DEMO_PASSWORD}):"))
        for email, _name, role in DEMO_USERS:
            self.stdout.write(f"  {role.label:<14} {email}")
        # Staff enrol their authenticator app only with a one-time link (customers.two_factor).
        links = enrolment_links_for_new_staff(users)
        if links:
            self.stdout.write(self.style.SUCCESS(
                "Two-factor enrolment links for the demo staff (sign in, then open yours; each works once, "
                f"for {settings.TWO_FACTOR_ENROLMENT_LINK_TTL // 3600} h; seed_demo prints new ones):"))
            for user, link in links:
                self.stdout.write(f"  {user.email:<22} {link}")
