"""The pages: "My profile" for customers, the customer list and file for staff."""

from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from customers import services
from customers.models import AuditEvent, CustomerProfile
from tests.customers.conftest import LI_NA_ID
from tests.factories import resident_id

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def _identity(**overrides) -> dict:
    return {
        "full_name": "Guo Mei", "id_type": "prc_resident_id",
        "id_number": resident_id(9, birth_date=date(1988, 1, 2), sex="female", region_code="420102"),
        "date_of_birth": "", "sex": "", "phone": "13512345678", "email": "guo@example.com",
        "province": "湖北省", "city": "武汉市", "district": "江岸区", "street": "沿江大道 1 号", "postcode": "430010",
        **overrides,
    }


def test_a_customer_creates_the_profile_through_the_form(client_for, customer):
    client = client_for(customer)
    page = client.get(reverse("profile"))
    assert page.status_code == 200 and "identity_form" in page.context
    response = client.post(reverse("profile_identity"), _identity())
    assert response.status_code == 302
    profile = CustomerProfile.objects.get(user=customer)
    assert profile.date_of_birth == date(1988, 1, 2)
    page = client.get(reverse("profile")).content.decode()
    assert profile.id_number_masked in page and _identity()["id_number"] not in page


def test_an_error_is_shown_next_to_the_field(client_for, customer):
    number = _identity()["id_number"]
    response = client_for(customer).post(reverse("profile_identity"),
                                         _identity(id_number=number[:-1] + ("1" if number[-1] != "1" else "2")))
    assert response.status_code == 200
    assert "id_number" in response.context["identity_form"].errors
    html = response.content.decode()
    error_block = html[html.index('id="id_id_number_errors"'):][:300]
    assert "check digit" in error_block
    assert not CustomerProfile.objects.exists()


def test_a_mismatching_birth_date_is_shown_next_to_that_field(client_for, customer):
    response = client_for(customer).post(reverse("profile_identity"), _identity(date_of_birth="1988-01-03"))
    assert "date_of_birth" in response.context["identity_form"].errors
    assert 'id="id_date_of_birth_errors"' in response.content.decode()


def test_a_customer_edits_identity_keeping_the_id_and_background(client_for, profile, customer):
    client = client_for(customer)
    data = _identity(full_name="Li Na", id_number="", phone="13800009999", email="li@example.com")
    assert client.post(reverse("profile_identity"), data).status_code == 302
    profile.refresh_from_db()
    assert profile.phone == "13800009999" and profile.id_number_masked.startswith("3101")
    background = {"occupation": "other", "occupation_other": "", "employer": "", "employment_type": "salaried",
                  "years_in_job": "2.5", "education": "bachelor", "marital_status": "single", "dependants": "0",
                  "housing": "rent", "number_of_existing_credits": "1", "past_delinquencies": "0"}
    response = client.post(reverse("profile_background"), background)
    assert "occupation_other" in response.context["background_form"].errors
    background["occupation_other"] = "Tea farmer"
    assert client.post(reverse("profile_background"), background).status_code == 302
    profile.refresh_from_db()
    assert profile.occupation_label == "Tea farmer"


def test_finance_lines_are_added_and_removed_with_htmx_partials(client_for, profile, customer):
    client = client_for(customer)
    response = client.post(reverse("profile_line_add", args=["income"]),
                           {"income-source": "salary", "income-monthly_amount": "8000", "income-description": ""},
                           **HTMX)
    assert response.status_code == 200
    assert [t.name for t in response.templates][0] == "customers/_finances.html"
    assert "8,000.00" in response.content.decode()
    line = profile.incomes.get()

    response = client.post(reverse("profile_line_add", args=["debt"]),
                           {"debt-lender": "", "debt-kind": "car_loan", "debt-outstanding_balance": "-1",
                            "debt-monthly_payment": "100"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and 'id="id_debt-lender_errors"' in html
    assert 'id="id_debt-outstanding_balance_errors"' in html

    response = client.post(reverse("profile_line_remove", args=["income", line.pk]), **HTMX)
    assert response.status_code == 200 and not profile.incomes.exists()


def test_another_customers_line_cannot_be_removed(client_for, profile, other_profile):
    line = services.finance_line_add(profile=profile, line_type="asset", data={"kind": "vehicle", "value": "50000"},
                                     by=profile.user)
    response = client_for(other_profile.user).post(reverse("profile_line_remove", args=["asset", line.pk]))
    assert response.status_code == 404 and profile.assets.exists()


def test_document_and_statement_uploads_from_the_page(client_for, profile, customer):
    client = client_for(customer)
    bad = client.post(reverse("profile_document_upload"),
                      {"kind": "id_front", "file": SimpleUploadedFile("id.pdf", b"MZ\x90\x00fake")})
    assert "file" in bad.context["document_form"].errors
    good = client.post(reverse("profile_document_upload"),
                       {"kind": "id_front", "file": SimpleUploadedFile("id.pdf", b"%PDF-1.4 tiny")})
    assert good.status_code == 302
    csv = "date,description,amount,balance\n2025-01-05,salary,9000,9000\n2025-01-09,supermarket,-300,8700\n"
    assert client.post(reverse("profile_statement_upload"),
                       {"file": SimpleUploadedFile("s.csv", csv.encode())}).status_code == 302
    page = client.get(reverse("profile")).content.decode()
    assert "id.pdf" in page and "Awaiting review" in page and "9,000.00" in page


def test_customer_pages_are_for_customers_and_staff_pages_for_staff(client_for, profile, customer, officer,
                                                                    collector):
    assert client_for(customer).get(reverse("staff_customer_list")).status_code == 403
    assert client_for(customer).get(reverse("staff_customer_detail", args=[profile.pk])).status_code == 403
    assert client_for(collector).get(reverse("staff_customer_list")).status_code == 403
    assert client_for(officer).get(reverse("profile")).status_code == 403


def test_navigation_links(client_for, customer, officer, collector):
    assert reverse("profile") in client_for(customer).get(reverse("home")).content.decode()
    staff_home = client_for(officer).get(reverse("staff_home")).content.decode()
    assert reverse("staff_customer_list") in staff_home
    assert reverse("staff_customer_list") not in client_for(collector).get(reverse("staff_home")).content.decode()


def test_staff_list_searches_and_the_detail_masks_the_id(client_for, profile, other_profile, officer):
    client = client_for(officer)
    page = client.post(reverse("staff_customer_find_by_id"), {"id_number": LI_NA_ID}, follow=True)
    assert list(page.context["page"]) == [profile] and LI_NA_ID not in page.redirect_chain[-1][0]
    assert list(client.get(reverse("staff_customer_list"), {"q": "li na"}).context["page"]) == [profile]
    detail = client.get(reverse("staff_customer_detail", args=[profile.pk]))
    html = detail.content.decode()
    assert detail.status_code == 200 and profile.id_number_masked in html and LI_NA_ID not in html
    assert not AuditEvent.objects.filter(action="pii.view_full_id").exists()


def test_show_full_id_is_an_audited_staff_action(client_for, profile, officer):
    response = client_for(officer).post(reverse("staff_reveal_id", args=[profile.pk]), {"reason": "call"}, **HTMX)
    assert response.status_code == 200 and LI_NA_ID in response.content.decode()
    assert response["Cache-Control"] == "private, no-store"
    event = AuditEvent.objects.get(action="pii.view_full_id")
    assert event.actor == officer and event.reason == "call" and event.target_id == str(profile.pk)


def test_staff_review_documents_reason_required_to_reject(client_for, profile, officer):
    document = services.document_upload(profile=profile, kind="income_proof", by=profile.user,
                                        file=SimpleUploadedFile("p.pdf", b"%PDF-1.7 x"))
    client = client_for(officer)
    url = reverse("staff_document_review", args=[document.pk])
    response = client.post(url, {"to": "rejected", "reason": ""}, **HTMX)
    assert "reason" in response.content.decode().lower() and response.context["review_error"]
    document.refresh_from_db()
    assert document.review_state == "pending"
    response = client.post(url, {"to": "rejected", "reason": "Blurred"}, **HTMX)
    assert "Blurred" in response.content.decode()
    document.refresh_from_db()
    assert (document.review_state, document.review_reason) == ("rejected", "Blurred")


def test_staff_add_interview_notes_and_see_the_history(client_for, profile, officer):
    client = client_for(officer)
    response = client.post(reverse("staff_interview_note_add", args=[profile.pk]),
                           {"text": "Runs a stable family shop.", "stability_rating": "4", "willingness_rating": "5"},
                           **HTMX)
    assert response.status_code == 200 and "Runs a stable family shop." in response.content.decode()
    html = client.get(reverse("staff_customer_detail", args=[profile.pk])).content.decode()
    assert "profile.interview_note" in html and "profile.create" in html
