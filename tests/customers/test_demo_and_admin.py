"""Demo data (idempotent, valid by the same rules) and the admin (masked IDs, changes through services)."""

import io

import pytest
from django.urls import reverse

from customers.demo import seed_demo, tiny_pdf, tiny_png
from customers.models import AuditEvent, CustomerDocument, CustomerProfile, StatementSummary, User
from customers.services import _sniff
from tests.customers.conftest import LI_NA_ID

pytestmark = pytest.mark.django_db


def test_demo_seeding_is_idempotent_and_links_the_demo_login(make_user):
    from customers.roles import Role

    make_user(Role.CUSTOMER, email="customer@example.com")
    make_user(Role.LOAN_OFFICER, email="officer@example.com")
    out = io.StringIO()
    seed_demo(stdout=out, customers=12)
    assert "12 created" in out.getvalue()
    assert CustomerProfile.objects.count() == 13
    assert CustomerProfile.objects.filter(user__email="customer@example.com").exists()
    assert StatementSummary.objects.exists() and CustomerDocument.objects.exists()
    counts = (CustomerProfile.objects.count(), AuditEvent.objects.count(), User.objects.count())
    seed_demo(stdout=io.StringIO(), customers=12)
    assert (CustomerProfile.objects.count(), AuditEvent.objects.count(), User.objects.count()) == counts
    # Edge cases are there: no income at all and a seasonal earner with low months.
    assert CustomerProfile.objects.filter(incomes__isnull=True).exists()
    assert any(s.summary["seasonal_low_months"] for s in StatementSummary.objects.all())


def test_generated_files_pass_the_content_check():
    from django.core.files.base import ContentFile

    assert _sniff(ContentFile(tiny_pdf("x")))[0] == "application/pdf"
    assert _sniff(ContentFile(tiny_png(3)))[0] == "image/png"
    assert tiny_pdf("x").rstrip().endswith(b"%%EOF")


@pytest.fixture
def admin_client(client, make_user):
    user = make_user(is_staff=True, is_superuser=True)
    client.force_login(user, backend="customers.backends.ModelBackendWithRoles")
    return client


def test_every_customer_admin_page_opens_and_shows_the_id_masked(admin_client, profile):
    for model in ("customerprofile", "incomeline", "expenseline", "debtline", "assetline", "customerdocument",
                  "statementsummary", "spendingcategoryrule", "interviewnote", "consent"):
        response = admin_client.get(reverse(f"admin:customers_{model}_changelist"))
        assert response.status_code == 200, model
    html = admin_client.get(reverse("admin:customers_customerprofile_change", args=[profile.pk])).content.decode()
    assert profile.id_number_masked in html and LI_NA_ID not in html and profile.id_number_hash not in html


def test_admin_search_finds_an_exact_id_number(admin_client, profile, other_profile):
    response = admin_client.get(reverse("admin:customers_customerprofile_changelist"), {"q": LI_NA_ID})
    assert list(response.context["cl"].result_list) == [profile]


def test_admin_changes_go_through_the_service_and_its_rules(admin_client, profile):
    url = reverse("admin:customers_customerprofile_change", args=[profile.pk])
    form = admin_client.get(url).context["adminform"].form
    data = {name: ("" if value is None else value) for name, value in form.initial.items() if name in form.fields}
    for prefix in ("incomes", "expenses", "debts", "assets", "interview_notes"):
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    data.update({"incomes-TOTAL_FORMS": "1", "incomes-0-source": "salary", "incomes-0-monthly_amount": "7000",
                 "incomes-0-description": ""})

    response = admin_client.post(url, {**data, "date_of_birth": "1991-01-01"})
    assert response.status_code == 200 and "date_of_birth" in response.context["adminform"].form.errors

    response = admin_client.post(url, {**data, "housing": "own"})
    assert response.status_code == 302
    profile.refresh_from_db()
    assert profile.housing == "own" and profile.incomes.get().monthly_amount == 7000
    actions = set(AuditEvent.objects.filter(target_id=str(profile.pk)).values_list("action", flat=True))
    assert {"profile.update", "profile.income_line.add"} <= actions
