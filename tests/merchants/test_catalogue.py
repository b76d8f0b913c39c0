"""The merchant keeps its catalogue on its portal or imports it as CSV (all rows or none)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from installments.merchants.models import Good

pytestmark = pytest.mark.django_db


def upload(client, text: str):
    return client.post(reverse("merchants:goods_import"),
                       {"file": SimpleUploadedFile("goods.csv", text.encode(), content_type="text/csv")})


def test_the_merchant_adds_and_edits_goods(client_for, merchant, merchant_user):
    client = client_for(merchant_user)
    response = client.post(reverse("merchants:goods"), {"name": "Lamp", "category": "furniture", "price": "199.00",
                                                        "is_active": "on"})
    assert response.status_code == 302
    lamp = Good.objects.get(merchant=merchant, name="Lamp")
    response = client.post(reverse("merchants:good_edit", args=[lamp.pk]),
                           {"name": "Lamp", "category": "furniture", "price": "179.00"})
    lamp.refresh_from_db()
    assert response.status_code == 302 and str(lamp.price) == "179.00" and not lamp.is_active
    assert "Lamp" in client.get(reverse("merchants:goods")).content.decode()


def test_a_price_of_zero_is_refused(client_for, merchant, merchant_user):
    response = client_for(merchant_user).post(reverse("merchants:goods"),
                                              {"name": "Free", "category": "other", "price": "0"})
    assert response.status_code == 400 and "price" in response.context["form"].errors
    assert not Good.objects.filter(name="Free").exists()


def test_a_good_csv_is_imported_and_updates_by_name(client_for, merchant, merchant_user):
    client = client_for(merchant_user)
    response = upload(client, "name,category,price,active\nTV 55,appliances,3299.00,yes\nSofa,furniture,3799.00,no\n")
    assert response.status_code == 302
    assert Good.objects.get(merchant=merchant, name="TV 55").category == "appliances"
    sofa = Good.objects.get(merchant=merchant, name="Sofa")
    assert str(sofa.price) == "3799.00" and not sofa.is_active


@pytest.mark.parametrize("text, message", [
    ("name,category,price\nTV,appliances,3299\nRadio,appliances,0\n", "Row 3, price"),
    ("name,category,price\nTV,spaceships,3299\n", "Row 2, category"),
    ("name,category,price\n,appliances,10\n", "Row 2, name"),
    ("name,category,price\nTV,appliances,abc\n", "Row 2, price"),
    ("name,category,price\nTV,appliances,10\nTV,appliances,12\n", "Row 3, name"),
    ("name,price\nTV,10\n", "category"),
])
def test_a_bad_csv_names_the_row_and_field_and_stores_nothing(client_for, merchant, merchant_user, text, message):
    before = list(Good.objects.order_by("pk").values_list("name", "price"))
    response = upload(client_for(merchant_user), text)
    assert response.status_code == 400
    errors = response.context["import_form"].errors["file"]
    assert message in errors[0], errors
    assert list(Good.objects.order_by("pk").values_list("name", "price")) == before


def test_a_merchant_cannot_edit_another_merchants_good(client_for, merchant_user, other_merchant):
    bike = other_merchant.goods.get()
    client = client_for(merchant_user)
    assert client.get(reverse("merchants:good_edit", args=[bike.pk])).status_code == 404
    assert client.post(reverse("merchants:good_edit", args=[bike.pk]),
                       {"name": "Mine", "category": "other", "price": "1"}).status_code == 404
    assert other_merchant.goods.get().name == "Bike"
