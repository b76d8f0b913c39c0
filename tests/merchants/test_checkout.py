"""Basket -> signed link + QR -> the customer's wizard starts prefilled -> the submitted application
is linked to the basket -> the merchant sees it pending, then the decision."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from customers.roles import Role
from installments.merchants import services
from installments.merchants.models import Basket, BasketLine
from installments.models import Application
from portal import services as portal_services
from tests.factories import UserFactory, WorkbenchProductFactory
from tests.merchants.conftest import goods_of
from tests.portal.conftest import complete_profile, ready_draft

pytestmark = pytest.mark.django_db


@pytest.fixture
def shopper(db):
    return UserFactory(roles=[Role.CUSTOMER], full_name="Wang Fang")


def make_basket(client, merchant, **extra):
    goods = goods_of(merchant)
    data = {f"qty_{goods['Sofa']}": "2", f"qty_{goods['Phone']}": "1", "down_payment": "1997.00", **extra}
    return client.post(reverse("merchants:basket_new"), data)


def checkout_path(response_basket_page) -> str:
    url = response_basket_page.context["url"]
    return url[url.index("/merchant/checkout/"):]


def test_the_whole_way_from_basket_to_decision(client, client_for, merchant, merchant_user, shopper, product,
                                               monkeypatch):
    WorkbenchProductFactory(code="not-at-this-shop")  # a product the merchant does not sell
    monkeypatch.setattr("installments.origination.applications.enqueue_scoring", lambda **kwargs: None)
    merchant_client = client_for(merchant_user)
    response = make_basket(merchant_client, merchant, reference="ORDER-1")
    basket = Basket.objects.get()
    assert response.status_code == 302 and response.url == reverse("merchants:basket", args=[basket.pk])
    assert (basket.total, basket.down_payment, basket.amount_financed) == (
        Decimal("12997.00"), Decimal("1997.00"), Decimal("11000.00"))
    assert basket.purpose == "furniture" and basket.discount_rate == Decimal("2.5")  # the sofas weigh most
    page = merchant_client.get(reverse("merchants:basket", args=[basket.pk]))
    content = page.content.decode()
    assert "<svg" in content and 'id="checkout-qr"' in content and page.context["status"] == "open"
    path = checkout_path(page)
    merchant_client.logout()

    # The customer's phone: the checkout page is public; applying asks them to sign in.
    landing = client.get(path)
    assert landing.status_code == 200 and "11,000.00" in landing.content.decode()
    apply_url = landing.context["apply_url"]
    assert client.get(apply_url).status_code == 302  # to the login page
    client.force_login(shopper, backend="customers.backends.ModelBackendWithRoles")
    complete_profile(shopper)
    response = client.get(apply_url, follow=True)
    assert "Bright Home Ltd" in response.content.decode()
    basket.refresh_from_db()
    draft = portal_services.draft_open(shopper)
    assert basket.draft_id == draft.pk and basket.opened_at is not None
    draft.furthest_step = 4
    draft.save()
    request_page = client.get(reverse("portal:apply_step", args=["request"]))
    form = request_page.context["form"]
    assert form.initial["amount"] == Decimal("11000.00") and form.initial["purpose"] == "furniture"
    assert form.initial["product"] == product.pk
    assert list(form.fields["product"].queryset) == [product]  # only the merchant's products

    # The request saved as prefilled, consents given, submitted: the basket records the application.
    portal_services.draft_request_save(draft=draft, by=shopper, product=product, amount=Decimal("11000.00"),
                                       term_months=12, purpose="furniture")
    ready_draft(shopper, product, amount="11000.00")
    response = client.post(reverse("portal:apply_step", args=["review"]), {"confirm": "on"})
    application = Application.objects.get(customer=shopper)
    assert response.status_code == 302 and application.state == "submitted"
    basket.refresh_from_db()
    assert basket.application == application and basket.state == "submitted"

    # The link is used up.
    assert client.get(path).status_code == 410
    # The merchant sees "pending", then the decision.
    client.logout()
    merchant_client = client_for(merchant_user)
    home = merchant_client.get(reverse("merchants:home"))
    assert home.context["baskets"][0]["status"] == "pending" and application.number in home.content.decode()
    for state, shown in (("approved", "approved"), ("declined", "declined"), ("withdrawn", "cancelled"),
                         ("active", "active")):
        Application.objects.filter(pk=application.pk).update(state=state)
        assert merchant_client.get(reverse("merchants:home")).context["baskets"][0]["status"] == shown
    # Never the customer's details.
    content = merchant_client.get(reverse("merchants:basket", args=[basket.pk])).content.decode()
    assert "Wang Fang" not in content and shopper.email not in content


def test_a_second_application_from_the_same_link_is_refused(merchant, merchant_user, product, monkeypatch):
    monkeypatch.setattr("installments.origination.applications.enqueue_scoring", lambda **kwargs: None)
    basket = services.basket_create(merchant=merchant, by=merchant_user, lines=[(goods_of(merchant)["Sofa"], 1)])
    token = services.basket_token(basket)
    first = UserFactory(roles=[Role.CUSTOMER])
    draft = ready_draft(first, product, amount=str(basket.amount_financed))
    services.basket_open(token=token, user=first, draft=draft)
    portal_services.draft_submit(draft=draft, by=first)
    second = UserFactory(roles=[Role.CUSTOMER])
    from config.errors import DomainError

    with pytest.raises(DomainError) as refused:
        services.basket_open(token=token, user=second, draft=portal_services.draft_start(user=second))
    assert refused.value.code == "link_used"


def test_the_amount_must_stay_the_baskets(merchant, merchant_user, product, monkeypatch):
    from config.errors import DomainError

    monkeypatch.setattr("installments.origination.applications.enqueue_scoring", lambda **kwargs: None)
    basket = services.basket_create(merchant=merchant, by=merchant_user, lines=[(goods_of(merchant)["Sofa"], 1)])
    customer = UserFactory(roles=[Role.CUSTOMER])
    draft = ready_draft(customer, product, amount="20000")
    services.basket_open(token=services.basket_token(basket), user=customer, draft=draft)
    with pytest.raises(DomainError) as refused:
        portal_services.draft_submit(draft=draft, by=customer)
    assert refused.value.field == "amount"
    assert Application.objects.get(customer=customer).state == "draft"
    basket.refresh_from_db()
    assert basket.application is None and basket.state == "open"


def test_an_expired_link_is_refused_clearly_and_nothing_is_attached(client, merchant, merchant_user, shopper):
    basket = services.basket_create(merchant=merchant, by=merchant_user, lines=[(goods_of(merchant)["Sofa"], 1)])
    token = services.basket_token(basket)
    Basket.objects.filter(pk=basket.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    response = client.get(reverse("merchants:checkout", args=[token]))
    assert response.status_code == 410 and "expired" in response.context["error"]
    client.force_login(shopper, backend="customers.backends.ModelBackendWithRoles")
    response = client.get(reverse("portal:apply") + "?basket=" + token, follow=True)
    assert "expired" in response.content.decode()
    basket.refresh_from_db()
    assert basket.draft is None


def test_a_tampered_link_is_refused(client):
    response = client.get(reverse("merchants:checkout", args=["nonsense:abc"]))
    assert response.status_code == 410 and "not valid" in response.context["error"]


def test_a_suspended_merchant_cannot_make_a_basket_nor_be_applied_for(client_for, merchant, merchant_user,
                                                                      merchant_manager, client):
    basket = services.basket_create(merchant=merchant, by=merchant_user, lines=[(goods_of(merchant)["Sofa"], 1)])
    services.merchant_set_status(merchant=merchant, status="suspended", by=merchant_manager)
    before = Basket.objects.count(), BasketLine.objects.count()
    response = make_basket(client_for(merchant_user), merchant)
    assert response.status_code == 400 and "suspended" in " ".join(response.context["form"].non_field_errors())
    assert (Basket.objects.count(), BasketLine.objects.count()) == before
    client.logout()
    response = client.get(reverse("merchants:checkout", args=[services.basket_token(basket)]))
    assert response.status_code == 410 and "suspended" in response.context["error"]


@pytest.mark.parametrize("extra, field", [({"down_payment": "12997.00"}, "down_payment"),
                                          ({"down_payment": "99999"}, "down_payment")])
def test_a_down_payment_not_below_the_total_is_refused(client_for, merchant, merchant_user, extra, field):
    response = make_basket(client_for(merchant_user), merchant, **extra)
    assert response.status_code == 400 and field in response.context["form"].errors
    assert not Basket.objects.exists()


def test_an_empty_basket_is_refused(client_for, merchant, merchant_user):
    response = client_for(merchant_user).post(reverse("merchants:basket_new"), {"down_payment": "0"})
    assert response.status_code == 400 and response.context["form"].non_field_errors()
    assert not Basket.objects.exists()


def test_a_cancelled_basket_link_stops_working(client_for, merchant, merchant_user, client):
    basket = services.basket_create(merchant=merchant, by=merchant_user, lines=[(goods_of(merchant)["Sofa"], 1)])
    merchant_client = client_for(merchant_user)
    assert merchant_client.post(reverse("merchants:basket_cancel", args=[basket.pk])).status_code == 302
    merchant_client.logout()
    response = client.get(reverse("merchants:checkout", args=[services.basket_token(basket)]))
    assert response.status_code == 410 and "cancelled" in response.context["error"]


def test_a_link_opened_by_one_customer_is_theirs_while_their_draft_is_open(merchant, merchant_user):
    from config.errors import DomainError

    basket = services.basket_create(merchant=merchant, by=merchant_user, lines=[(goods_of(merchant)["Sofa"], 1)])
    token = services.basket_token(basket)
    first, second = UserFactory(roles=[Role.CUSTOMER]), UserFactory(roles=[Role.CUSTOMER])
    first_draft = portal_services.draft_start(user=first)
    services.basket_open(token=token, user=first, draft=first_draft)
    with pytest.raises(DomainError) as refused:
        services.basket_open(token=token, user=second, draft=portal_services.draft_start(user=second))
    assert refused.value.code == "link_taken"
    portal_services.draft_discard(draft=first_draft, by=first)
    second_draft = portal_services.draft_open(second)
    assert services.basket_open(token=token, user=second, draft=second_draft).draft_id == second_draft.pk
