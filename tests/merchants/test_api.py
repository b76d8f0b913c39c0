"""The signed API for online stores: HMAC-SHA256 over timestamp, method, path and body."""

import json
import time

import pytest
from django.urls import reverse

from installments.merchants import services
from installments.merchants.models import Basket
from tests.merchants.conftest import goods_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def secret(merchant, merchant_manager):
    return services.merchant_api_secret_rotate(merchant=merchant, by=merchant_manager)


def signed(client, merchant, secret, method: str, path: str, payload=None, *, signature=None, timestamp=None):
    body = json.dumps(payload).encode() if payload is not None else b""
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = signature or services.signature_for(secret=secret, timestamp=timestamp, method=method, path=path,
                                                    body=body)
    headers = {"HTTP_X_MERCHANT_ID": str(merchant.pk), "HTTP_X_TIMESTAMP": timestamp, "HTTP_X_SIGNATURE": signature}
    if method == "POST":
        return client.post(path, body, content_type="application/json", **headers)
    return client.get(path, **headers)


def test_a_signed_request_creates_a_basket_and_reads_its_status(client, merchant, secret):
    path = reverse("api-merchant-baskets")
    payload = {"lines": [{"good": goods_of(merchant)["Phone"], "quantity": 2}], "down_payment": "998.00",
               "reference": "WEB-42"}
    response = signed(client, merchant, secret, "POST", path, payload)
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["amount_financed"] == "9000.00" and data["status"] == "open" and data["reference"] == "WEB-42"
    assert "/merchant/checkout/" in data["checkout_url"]
    basket = Basket.objects.get()
    assert basket.created_by is None and str(basket.public_id) == data["id"]
    # the same reference again answers the same basket
    again = signed(client, merchant, secret, "POST", path, payload)
    assert again.status_code == 200 and again.json()["id"] == data["id"] and Basket.objects.count() == 1
    status_path = reverse("api-merchant-basket", args=[data["id"]])
    response = signed(client, merchant, secret, "GET", status_path)
    assert response.status_code == 200 and response.json()["status"] == "open"
    # the checkout link works for the customer
    link = data["checkout_url"]
    assert client.get(link[link.index("/merchant/"):]).status_code == 200


def test_a_bad_signature_is_refused_and_nothing_is_stored(client, merchant, secret):
    path = reverse("api-merchant-baskets")
    payload = {"lines": [{"good": goods_of(merchant)["Phone"], "quantity": 1}]}
    for kwargs in ({"signature": "0" * 64}, {"timestamp": int(time.time()) - 3600}):
        response = signed(client, merchant, secret, "POST", path, payload, **kwargs)
        assert response.status_code == 401 and "signature" in response.json()
    response = signed(client, merchant, "another-secret", "POST", path, payload)
    assert response.status_code == 401
    assert client.post(path, payload, content_type="application/json").status_code == 401
    assert not Basket.objects.exists()


def test_a_signature_for_one_path_does_not_open_another(client, merchant, secret, merchant_user):
    basket = services.basket_create(merchant=merchant, by=merchant_user, lines=[(goods_of(merchant)["Sofa"], 1)])
    timestamp = str(int(time.time()))
    signature = services.signature_for(secret=secret, timestamp=timestamp, method="GET",
                                       path=reverse("api-merchant-baskets"), body=b"")
    response = signed(client, merchant, secret, "GET", reverse("api-merchant-basket", args=[basket.public_id]),
                      signature=signature, timestamp=timestamp)
    assert response.status_code == 401


@pytest.mark.parametrize("payload, field", [
    ({"lines": []}, "lines"),
    ({"lines": [{"good": 1, "quantity": 0}]}, "lines"),
    ({"lines": [{"good": "x", "quantity": 1}]}, "lines"),
    ({"lines": "nope"}, "lines"),
    ({"down_payment": "-1", "lines": [{"good": 1, "quantity": 1}]}, "down_payment"),
])
def test_bad_fields_are_named(client, merchant, secret, payload, field):
    response = signed(client, merchant, secret, "POST", reverse("api-merchant-baskets"), payload)
    assert response.status_code == 400 and field in response.json()
    assert not Basket.objects.exists()


def test_domain_refusals_name_the_field(client, merchant, secret, other_merchant, merchant_manager):
    path = reverse("api-merchant-baskets")
    phone = goods_of(merchant)["Phone"]
    response = signed(client, merchant, secret, "POST", path, {"lines": [{"good": phone, "quantity": 1}],
                                                               "down_payment": "4999.00"})
    assert response.status_code == 400 and "down_payment" in response.json()
    bike = goods_of(other_merchant)["Bike"]  # another merchant's good
    response = signed(client, merchant, secret, "POST", path, {"lines": [{"good": bike, "quantity": 1}]})
    assert response.status_code == 400 and "lines" in response.json()
    services.merchant_set_status(merchant=merchant, status="suspended", by=merchant_manager)
    response = signed(client, merchant, secret, "POST", path, {"lines": [{"good": phone, "quantity": 1}]})
    assert response.status_code == 400 and "suspended" in response.json()["merchant"][0]
    assert not Basket.objects.exists()


def test_a_merchant_reads_only_its_own_baskets(client, merchant, secret, other_merchant, merchant_manager):
    bike = goods_of(other_merchant)["Bike"]
    theirs = services.basket_create(merchant=other_merchant, by=None, lines=[(bike, 1)])
    response = signed(client, merchant, secret, "GET", reverse("api-merchant-basket", args=[theirs.public_id]))
    assert response.status_code == 404
