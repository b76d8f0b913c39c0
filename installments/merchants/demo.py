"""Demo merchant for seed_demo: a shop with a small catalogue, selling on the demo products, and its
user merchant@example.com (made by seed_demo with the other demo logins). Idempotent."""

from decimal import Decimal

from customers.models import User
from installments.merchants.models import Good, Merchant, MerchantUser
from installments.merchants.uscc import uscc_check_char
from installments.models import LoanProduct

DEMO_LICENCE = "91310000MA1FL8E7D"
DEMO_GOODS = [("Phone X 128 GB", "appliances", "4999.00"), ("Laptop Pro 14", "appliances", "8999.00"),
              ("Sofa, three seats", "furniture", "3999.00"), ("Dining table", "furniture", "2599.00")]


def seed_demo(*, stdout, customers=None) -> None:
    licence = DEMO_LICENCE + uscc_check_char(DEMO_LICENCE)
    merchant, _ = Merchant.objects.get_or_create(licence_number=licence, defaults={
        "legal_name": "Demo Electronics & Home Co., Ltd.", "bank_name": "Demo Bank Shanghai", "account_last4": "6789",
        "discount_rate": Decimal("2.5")})
    if not merchant.products.exists():
        merchant.products.set(LoanProduct.objects.filter(is_active=True))
    for name, category, price in DEMO_GOODS:
        Good.objects.get_or_create(merchant=merchant, name=name,
                                   defaults={"category": category, "price": Decimal(price)})
    user = User.objects.filter(email="merchant@example.com").first()
    if user is not None:
        MerchantUser.objects.get_or_create(user=user, defaults={"merchant": merchant})
    stdout.write(f"Demo merchant: {merchant.legal_name} ({merchant.goods.count()} goods).")
