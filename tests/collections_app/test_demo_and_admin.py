"""The demo book (idempotent) and the admin pages of servicing."""

import io

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from collections_app import demo
from collections_app.models import CobRun, CollectionCase, ContactLog, Payment
from customers.models import User
from customers.roles import Role
from installments.models import Plan

pytestmark = pytest.mark.django_db


def test_seed_demo_builds_a_varied_book_once():
    customer = User.objects.create_user(email="customer@example.com", password="demo-pass-2026")
    customer.groups.add(Group.objects.get_or_create(name=Role.CUSTOMER)[0])
    collector = User.objects.create_user(email="collector@example.com", password="demo-pass-2026")
    collector.groups.add(Group.objects.get_or_create(name=Role.COLLECTOR)[0])
    officer = User.objects.create_user(email="officer@example.com", password="demo-pass-2026")
    officer.groups.add(Group.objects.get_or_create(name=Role.LOAN_OFFICER)[0])
    out = io.StringIO()
    demo.seed_demo(stdout=out, customers=4)
    states = set(Plan.objects.values_list("state", flat=True))
    assert {"active", "overdue", "paid_off"} <= states
    mine = Plan.objects.filter(customer=customer)
    assert sorted(mine.values_list("state", flat=True)) == ["active", "overdue"]
    buckets = set(Plan.objects.filter(state="overdue").values_list("bucket", flat=True))
    assert len(buckets) >= 3
    assert CobRun.objects.filter(status="done").exists()
    assert CollectionCase.objects.filter(status="open", assigned_to=collector).exists()
    assert ContactLog.objects.exists() and Payment.objects.exists()
    counts = (Plan.objects.count(), Payment.objects.count(), ContactLog.objects.count())
    demo.seed_demo(stdout=io.StringIO(), customers=4)
    assert (Plan.objects.count(), Payment.objects.count(), ContactLog.objects.count()) == counts
    assert "demo plans created" in out.getvalue()


def test_admin_pages_open(admin_client):
    demo.seed_demo(stdout=io.StringIO(), customers=2)
    for model in ("payment", "collectioncase", "reminderrule", "servicingpolicy", "delinquencybucket", "cobrun",
                  "plansnapshot", "servicingrequest", "promisetopay", "assignmentrule", "installmentcharge"):
        assert admin_client.get(reverse(f"admin:collections_app_{model}_changelist")).status_code == 200, model
    case = CollectionCase.objects.first()
    assert admin_client.get(reverse("admin:collections_app_collectioncase_change", args=[case.pk])).status_code == 200
