"""The customers API: own profile only, staff list and detail, uploads, errors naming the field."""

from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from customers.models import AuditEvent, CustomerProfile
from customers.roles import Role
from tests.customers.conftest import LI_NA_ID
from tests.factories import CustomerProfileFactory, resident_id

pytestmark = pytest.mark.django_db

PROFILE = reverse("api-profile")
CUSTOMERS = reverse("api-customers")


def _body(**overrides) -> dict:
    return {
        "full_name": "Chen Jing", "id_type": "prc_resident_id",
        "id_number": resident_id(7, birth_date=date(1992, 8, 15), sex="female", region_code="510104"),
        "phone": "13612345678", "province": "四川省", "city": "成都市", "district": "锦江区", "street": "春熙路 8 号",
        "employment_type": "salaried", "housing": "rent",
        "incomes": [{"source": "salary", "monthly_amount": "9000.00"}],
        "expenses": [{"category": "housing", "monthly_amount": "2500.00"}],
        "debts": [{"lender": "CMB", "kind": "credit_card", "outstanding_balance": "6000.00", "monthly_payment": "600.00"}],
        "assets": [{"kind": "savings", "value": "20000.00"}],
        **overrides,
    }


def test_first_put_creates_the_profile_with_lines_and_derived_figures(api_client, customer):
    api_client.force_authenticate(customer)
    assert api_client.get(PROFILE).status_code == 404
    response = api_client.put(PROFILE, _body(), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["id_number_masked"].startswith("5101**********") and "id_number" not in body
    assert body["date_of_birth"] == "1992-08-15" and body["sex"] == "female"
    assert body["finances"] == {
        "total_monthly_income": "9000.00", "total_monthly_expenses": "2500.00", "debt_monthly_payment": "600.00",
        "debt_balance": "6000.00", "disposable_income": "5900.00", "debt_to_income": "0.0667",
        "debt_service_ratio": "0.3444", "total_assets": "20000.00", "savings": "20000.00",
    }
    assert body["currency"] == "CNY" and len(body["incomes"]) == 1
    assert CustomerProfile.objects.get(user=customer).full_name == "Chen Jing"


def test_patch_changes_own_fields_and_replaces_a_line_collection(api_client, profile, customer):
    api_client.force_authenticate(customer)
    response = api_client.patch(PROFILE, {"housing": "mortgage", "incomes": [
        {"source": "salary", "monthly_amount": "10000"}, {"source": "rental", "monthly_amount": "2000"}]},
        format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["housing"] == "mortgage"
    assert response.json()["finances"]["total_monthly_income"] == "12000.00"
    assert AuditEvent.objects.filter(action="profile.update", target_id=str(profile.pk)).exists()


@pytest.mark.parametrize(("change", "field"), [
    ({"id_number": "110101199003074515"}, "id_number"),
    ({"date_of_birth": "1991-01-01"}, "date_of_birth"),
    ({"phone": "12"}, "phone"),
    ({"employment_type": "astronaut"}, "employment_type"),
    ({"incomes": [{"source": "salary", "monthly_amount": "-5"}]}, "incomes"),
])
def test_errors_are_json_naming_the_field(api_client, profile, customer, change, field):
    api_client.force_authenticate(customer)
    response = api_client.patch(PROFILE, change, format="json")
    assert response.status_code == 400
    assert field in response.json()


def test_a_duplicate_id_number_is_refused(api_client, profile, make_user):
    api_client.force_authenticate(make_user(Role.CUSTOMER))
    response = api_client.put(PROFILE, _body(id_number=LI_NA_ID), format="json")
    assert response.status_code == 400
    assert "already registered" in response.json()["id_number"][0]


def test_a_customer_reads_and_edits_only_their_own_profile(api_client, profile, other_profile):
    api_client.force_authenticate(other_profile.user)
    body = api_client.get(PROFILE).json()
    assert body["id"] == other_profile.pk and body["full_name"] == "Zhou Qiang"
    api_client.patch(PROFILE, {"full_name": "Changed"}, format="json")
    profile.refresh_from_db()
    assert profile.full_name == "Li Na"
    assert api_client.get(reverse("api-customer-detail", args=[profile.pk])).status_code == 403


def test_customers_get_403_on_the_staff_list_and_staff_get_403_on_the_customer_api(
        api_client, profile, customer, officer, collector):
    api_client.force_authenticate(customer)
    assert api_client.get(CUSTOMERS).status_code == 403
    api_client.force_authenticate(collector)
    assert api_client.get(CUSTOMERS).status_code == 403
    api_client.force_authenticate(officer)
    assert api_client.get(PROFILE).status_code == 403
    api_client.force_authenticate(None)
    assert api_client.get(CUSTOMERS).status_code in (401, 403)


def test_staff_list_paginates_filters_and_searches(api_client, profile, other_profile, officer):
    CustomerProfileFactory(employment_type="retired", full_name="Old Wu")
    api_client.force_authenticate(officer)
    body = api_client.get(CUSTOMERS).json()
    assert body["count"] == 3 and {"next", "previous", "results"} <= set(body)
    row = next(r for r in body["results"] if r["id"] == profile.pk)
    assert row["id_number_masked"] == profile.id_number_masked and LI_NA_ID not in str(body)

    assert [r["full_name"] for r in api_client.get(CUSTOMERS, {"employment_type": "retired"}).json()["results"]] == [
        "Old Wu"]
    assert [r["id"] for r in api_client.get(CUSTOMERS, {"q": "zhou"}).json()["results"]] == [other_profile.pk]
    assert [r["id"] for r in api_client.get(CUSTOMERS, {"q": profile.phone}).json()["results"]] == [profile.pk]
    # By ID number only through the keyed hash (POST /customers/find-by-id/): the number in `q` finds nobody.
    found = api_client.post(reverse("api-customers-find-by-id"), {"id_number": LI_NA_ID.lower()}, format="json").json()
    assert [r["id"] for r in found["results"]] == [profile.pk]
    assert [r["id"] for r in api_client.get(CUSTOMERS, {"id_hash": found["id_hash"]}).json()["results"]] == [profile.pk]
    assert api_client.get(CUSTOMERS, {"q": LI_NA_ID.lower()}).json()["count"] == 0
    assert api_client.get(CUSTOMERS, {"q": LI_NA_ID[:10]}).json()["count"] == 0
    assert api_client.get(CUSTOMERS, {"employment_type": "astronaut"}).status_code == 400


def test_staff_read_any_customer(api_client, profile, manager):
    api_client.force_authenticate(manager)
    body = api_client.get(reverse("api-customer-detail", args=[profile.pk])).json()
    assert body["full_name"] == "Li Na" and body["documents"] == [] and body["latest_statement"] is None
    assert api_client.get(reverse("api-customer-detail", args=[999999])).status_code == 404


def test_document_upload_and_list(api_client, profile, customer):
    api_client.force_authenticate(customer)
    url = reverse("api-profile-documents")
    bad = api_client.post(url, {"kind": "id_front", "file": SimpleUploadedFile("id.pdf", b"MZ\x90\x00")},
                          format="multipart")
    assert bad.status_code == 400 and "file" in bad.json()
    good = api_client.post(url, {"kind": "id_front", "file": SimpleUploadedFile("id.png", b"\x89PNG\r\n\x1a\n..")},
                           format="multipart")
    assert good.status_code == 201, good.json()
    assert good.json()["review_state"] == "pending"
    assert good.json()["download_url"] == reverse("document_download", args=[good.json()["id"]])
    listing = api_client.get(url).json()
    assert listing["count"] == 1 and listing["results"][0]["original_filename"] == "id.png"


def test_statement_upload_returns_the_summary_or_the_line_at_fault(api_client, profile, customer):
    api_client.force_authenticate(customer)
    url = reverse("api-profile-statements")
    csv = "日期,摘要,金额,余额\n2025-01-05,工资,9000,9000\n2025-02-05,工资,9000,18000\n2025-02-06,超市,-500,17500\n"
    response = api_client.post(url, {"file": SimpleUploadedFile("s.csv", csv.encode("gbk"))}, format="multipart")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["months_covered"] == 2 and body["average_monthly_inflow"] == "9000.00"
    assert body["summary"]["category_shares"] == {"groceries": "1.0000"}
    broken = api_client.post(url, {"file": SimpleUploadedFile("b.csv", b"date,description,amount,balance\n"
                                                                      b"2025-01-01,x,oops,1\n")}, format="multipart")
    assert broken.status_code == 400 and "Line 2" in broken.json()["file"][0]


def test_the_schema_describes_the_customer_endpoints(client):
    response = client.get(reverse("api-schema"))
    assert response.status_code == 200
    text = response.content.decode()
    for path in ("/api/v1/profile/", "/api/v1/customers/", "/api/v1/profile/statements/"):
        assert path in text
