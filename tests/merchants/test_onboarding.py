"""Staff onboard merchants on the staff page (managers, admins) and in the admin."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from customers.roles import Role
from installments.merchants import services
from installments.merchants.models import Merchant
from tests.merchants.conftest import licence

pytestmark = pytest.mark.django_db


def form_data(product, **overrides) -> dict:
    data = {"legal_name": "Bright Home Ltd", "licence_number": licence(), "bank_name": "ICBC Shanghai",
            "account_number": "6222021001123456789", "products": [product.pk], "discount_rate": "2.5",
            "promo_max_term_months": "0", "user_email": "shop@example.com", "user_full_name": "Shop Keeper"}
    data.update(overrides)
    return data


def test_the_migration_made_the_merchant_group():
    assert Group.objects.filter(name="merchant").exists()


def test_a_manager_onboards_a_merchant_with_its_user(client_for, merchant_manager, product):
    client = client_for(merchant_manager)
    assert client.get(reverse("merchants:staff_new")).status_code == 200
    response = client.post(reverse("merchants:staff_new"), form_data(product))
    merchant = Merchant.objects.get()
    assert response.status_code == 302 and response.url == reverse("merchants:staff_detail", args=[merchant.pk])
    assert merchant.account_last4 == "6789" and merchant.licence_number == licence()
    assert list(merchant.products.all()) == [product] and merchant.discount_rate == Decimal("2.5")
    user = merchant.users.get().user
    assert user.email == "shop@example.com" and user.has_role(Role.MERCHANT) and not user.has_usable_password()
    page = client.get(reverse("merchants:staff_detail", args=[merchant.pk])).content.decode()
    assert "**** 6789" in page and "6222021001123456789" not in page
    assert "6222021001123456789" not in str(Merchant.objects.values().get())


def test_a_wrong_licence_number_is_refused_on_the_page_naming_the_field(client_for, merchant_manager, product):
    code = licence()
    wrong = code[:-1] + ("0" if code[-1] != "0" else "1")
    response = client_for(merchant_manager).post(reverse("merchants:staff_new"), form_data(product, licence_number=wrong))
    assert response.status_code == 400
    assert "check character" in response.context["form"].errors["licence_number"][0]
    assert not Merchant.objects.exists()


def test_a_promotion_needs_its_term_and_a_bad_account_is_refused(client_for, merchant_manager, product):
    client = client_for(merchant_manager)
    response = client.post(reverse("merchants:staff_new"), form_data(product, pays_interest="on"))
    assert "promo_max_term_months" in response.context["form"].errors
    response = client.post(reverse("merchants:staff_new"), form_data(product, account_number="12ab"))
    assert "account_number" in response.context["form"].errors
    assert not Merchant.objects.exists()


def test_status_and_secret_and_users(client_for, merchant_manager, merchant):
    client = client_for(merchant_manager)
    response = client.post(reverse("merchants:staff_status", args=[merchant.pk]), {"status": "suspended"})
    assert response.status_code == 302
    merchant.refresh_from_db()
    assert merchant.status == "suspended"
    response = client.post(reverse("merchants:staff_secret", args=[merchant.pk]))
    secret = response.context["secret"]
    assert len(secret) == 64 and secret in response.content.decode()
    merchant.refresh_from_db()
    assert secret not in merchant.api_secret_encrypted
    # an account with another role cannot become a merchant user
    response = client.post(reverse("merchants:staff_user_add", args=[merchant.pk]),
                           {"user_email": merchant_manager.email})
    assert "user_email" in response.context["user_form"].errors


def test_officers_and_customers_cannot_onboard(client_for, make_user, product):
    for role in (Role.LOAN_OFFICER, Role.CUSTOMER, Role.MERCHANT):
        client = client_for(make_user(role))
        assert client.get(reverse("merchants:staff_list")).status_code == 403
        assert client.post(reverse("merchants:staff_new"), form_data(product)).status_code == 403
    assert not Merchant.objects.exists()


def test_the_admin_onboards_through_the_service(client_for, admin_user, product):
    client = client_for(admin_user)
    data = {"legal_name": "Admin Shop", "licence_number": licence(), "bank_name": "BOC", "account_number": "12345678901",
            "products": [product.pk], "discount_rate": "1", "promo_max_term_months": "0", "status": "active",
            "users-TOTAL_FORMS": "0", "users-INITIAL_FORMS": "0", "goods-TOTAL_FORMS": "0", "goods-INITIAL_FORMS": "0"}
    response = client.post(reverse("admin:installments_merchant_add"), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    merchant = Merchant.objects.get()
    assert merchant.account_last4 == "8901" and list(merchant.products.all()) == [product]
    code = licence()
    data["licence_number"] = code[:-1] + ("0" if code[-1] != "0" else "1")
    response = client.post(reverse("admin:installments_merchant_change", args=[merchant.pk]), data)
    assert response.status_code == 200 and "licence_number" in response.context["adminform"].form.errors


def test_onboarding_service_refuses_a_duplicate_licence(merchant, merchant_manager, product):
    from config.errors import DomainError

    with pytest.raises(DomainError) as refused:
        services.merchant_onboard(by=merchant_manager, legal_name="Copy", licence_number=merchant.licence_number,
                                  bank_name="B", account_number="1234567890", products=[product])
    assert refused.value.field == "licence_number"
