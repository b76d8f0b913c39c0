"""Browser: the merchant makes a basket on its portal and shows the QR code; the customer opens the
link on a phone (390x844), signs in and lands in the wizard with the basket's amount filled in."""

import pytest

from customers.roles import Role
from installments.merchants import services
from portal import services as portal_services
from tests.factories import TEST_PASSWORD, UserFactory, WorkbenchProductFactory
from tests.merchants.conftest import goods_of, onboard
from tests.portal.conftest import complete_profile

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


def test_merchant_basket_to_customer_phone(browser_page, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    product = WorkbenchProductFactory(code="pos-browser")
    manager = UserFactory(roles=[Role.MANAGER])
    merchant = onboard(manager, product)
    services.good_save(merchant=merchant, by=manager, name="Sofa", category="furniture", price="3999.00")
    keeper = merchant.users.get().user
    keeper.set_password(TEST_PASSWORD)
    keeper.save()
    customer = UserFactory(roles=[Role.CUSTOMER], email="phone.buyer@example.com")
    complete_profile(customer)
    draft = portal_services.draft_start(user=customer)
    draft.furthest_step, draft.current_step = 4, "request"  # the profile steps are done already
    draft.save()

    page, base = browser_page, browser_page.live_server_url
    page.goto(base + "/accounts/login/?next=/merchant/baskets/new/")
    page.fill("#id_username", keeper.email)
    page.fill("#id_password", TEST_PASSWORD)
    page.locator("form [type=submit]").last.click()
    page.wait_for_url("**/merchant/baskets/new/")
    page.fill(f"#id_qty_{goods_of(merchant)['Sofa']}", "2")
    page.fill("#id_down_payment", "998")
    page.click("#basket-submit")
    page.wait_for_url("**/merchant/baskets/*/")
    assert page.locator("#checkout-qr svg").count() == 1
    link = page.input_value("#checkout-link")
    assert "/merchant/checkout/" in link

    phone = page.context.browser.new_context(locale="en-US", viewport=PHONE, reduced_motion="reduce")
    try:
        mobile = phone.new_page()
        mobile.set_default_timeout(15000)
        mobile.goto(link)
        assert "7,000.00" in mobile.inner_text("#amount-financed")
        width = mobile.evaluate("() => document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"the checkout page is {width}px wide"
        mobile.click("#apply-link")
        mobile.wait_for_url("**/accounts/login/**")
        mobile.fill("#id_username", customer.email)
        mobile.fill("#id_password", TEST_PASSWORD)
        mobile.locator("form [type=submit]").last.click()
        mobile.wait_for_url("**/me/apply/request/")
        assert mobile.input_value("#id_amount") in ("7000.00", "7000")
        assert mobile.input_value("#id_purpose") == "furniture"
        assert merchant.baskets.get().draft_id == draft.pk
    finally:
        phone.close()
