"""Who may open the merchant portal, and what a merchant may not see."""

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from customers.roles import Role
from installments.merchants import services
from tests.factories import UserFactory, workbench_case
from tests.merchants.conftest import goods_of

pytestmark = pytest.mark.django_db
PORTAL_PAGES = ["merchants:home", "merchants:basket_new", "merchants:goods"]


def test_a_merchant_sees_only_its_own_baskets(client_for, merchant, merchant_user, other_merchant):
    mine = services.basket_create(merchant=merchant, by=merchant_user, lines=[(goods_of(merchant)["Sofa"], 1)])
    theirs = services.basket_create(merchant=other_merchant, by=None, lines=[(goods_of(other_merchant)["Bike"], 1)])
    client = client_for(merchant_user)
    listed = [row["basket"].pk for row in client.get(reverse("merchants:home")).context["baskets"]]
    assert listed == [mine.pk]
    assert client.get(reverse("merchants:basket", args=[mine.pk])).status_code == 200
    assert client.get(reverse("merchants:basket", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("merchants:basket_cancel", args=[theirs.pk])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.state == "open"


@pytest.mark.parametrize("role", [Role.CUSTOMER, Role.LOAN_OFFICER, Role.APPROVER, Role.MANAGER])
def test_customers_and_staff_cannot_open_the_merchant_portal(client_for, make_user, role):
    client = client_for(make_user(role))
    for name in PORTAL_PAGES:
        assert client.get(reverse(name)).status_code == 403, name


def test_anonymous_visitors_are_sent_to_log_in(client):
    for name in PORTAL_PAGES:
        response = client.get(reverse(name))
        assert response.status_code == 302 and "/accounts/login/" in response.url


def test_a_merchant_role_without_a_merchant_is_refused(client_for, make_user):
    assert client_for(make_user(Role.MERCHANT)).get(reverse("merchants:home")).status_code == 403


def test_the_merchant_cannot_see_the_application_page_or_the_customer_file(client_for, merchant_user):
    application = workbench_case(customer=UserFactory(roles=[Role.CUSTOMER]), amount="6000")
    client = client_for(merchant_user)
    for url in (reverse("workbench_application", args=[application.pk]),
                reverse("portal:application", args=[application.pk]),
                reverse("workbench_queue"), reverse("merchants:staff_list")):
        assert client.get(url).status_code in (403, 404), url


def test_the_merchant_role_needs_two_factor_when_the_operator_lists_it(merchant_user, settings):
    """Not listed by default (see README); an operator adds it to TWO_FACTOR_ROLES and the TOTP step applies."""
    client = Client()  # the plain client: force_login does not pass the second factor
    assert client_without_2fa_sees_home(merchant_user)
    with override_settings(TWO_FACTOR_ROLES=[*settings.TWO_FACTOR_ROLES, "merchant"]):
        client.force_login(merchant_user, backend="customers.backends.ModelBackendWithRoles")
        response = client.get(reverse("merchants:home"))
        assert response.status_code == 302 and "/accounts/two-factor/" in response.url


def client_without_2fa_sees_home(user) -> bool:
    client = Client()
    client.force_login(user, backend="customers.backends.ModelBackendWithRoles")
    return client.get(reverse("merchants:home")).status_code == 200
