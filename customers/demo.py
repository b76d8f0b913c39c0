"""Demo customers: profiles with varied finances, documents, bank statements, notes and consents.

Called by `manage.py seed_demo` after the demo logins exist. Idempotent: customer i always has the
e-mail `demo.customer.<i>@example.com`, and customers that already have a profile are skipped.
Everything goes through the services, so the demo data passes the same rules as real data.

The mix (by customer number i): every 10th has no income at all, the next one seasonal income
(farmers and traders), the next one heavy debt; the rest are ordinary salaried, self-employed or
retired customers. Every 4th (from customer 1) imports a 12-month bank statement, so every kind of
customer has some; every 3rd uploads documents.
"""

import random
import struct
import time
import zlib
from datetime import date, timedelta
from decimal import Decimal

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from faker import Faker

from customers import services
from customers.models import CustomerProfile, DocumentKind, ReviewState, User
from customers.national_id import make_resident_id
from customers.roles import Role

DEFAULT_CUSTOMERS = 300
DEMO_EMAIL = "demo.customer.{:03d}@example.com"
DEMO_PASSWORD = "demo-pass-2026"  # the same as the staff demo logins (seed_demo prints it)
REGION_CODES = ["110105", "310115", "440305", "330106", "510104", "420102", "320102", "370202", "500103", "610113"]
BATCH = 50
D = Decimal


# --- Tiny but valid files ----------------------------------------------------------------------------

def tiny_pdf(text: str) -> bytes:
    """A one-page PDF with a line of (ASCII) text and a correct cross-reference table."""
    safe = text.encode("ascii", "replace").decode().replace("\\", "").replace("(", "").replace(")", "")
    stream = f"BT /F1 14 Tf 72 720 Td ({safe}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> "
        b"/Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def tiny_png(seed: int, size: int = 16) -> bytes:
    """A small RGB PNG (a flat colour from `seed`)."""
    colour = bytes(((seed * 67) % 256, (seed * 131) % 256, (seed * 29) % 256))
    raw = b"".join(b"\x00" + colour * size for _ in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


# --- One customer's story ----------------------------------------------------------------------------

def _archetype(i: int) -> str:
    return {0: "no_income", 1: "seasonal", 2: "heavy_debt"}.get(i % 10, "ordinary")


def _money(rng: random.Random, low: int, high: int, step: int = 100) -> Decimal:
    return D(rng.randrange(low, high + 1, step)).quantize(D("0.01"))


def _profile_data(i: int, rng: random.Random, fake_zh: Faker, fake_en: Faker) -> dict:
    archetype = _archetype(i)
    fake = fake_en if i % 4 == 3 else fake_zh
    sex = rng.choice(["female", "male"])
    age = rng.randint(20, 35) if archetype == "no_income" else rng.randint(23, 66)
    birth = date(timezone.localdate().year - age, rng.randint(1, 12), rng.randint(1, 28))
    region = REGION_CODES[(i // 100) % len(REGION_CODES)]
    if archetype == "no_income":
        employment, occupation = rng.choice([("unemployed", "other"), ("student", "student")])
    elif archetype == "seasonal":
        employment, occupation = rng.choice([("self_employed", "farmer"), ("business_owner", "trader")])
    elif age >= 60:
        employment, occupation = "retired", "retired"
    else:
        employment = rng.choices(["salaried", "self_employed", "business_owner"], weights=[7, 2, 1])[0]
        occupation = rng.choice(["office_worker", "teacher", "professional", "healthcare", "sales_service",
                                 "factory_worker", "driver_logistics", "civil_servant", "construction"])
    return {
        "full_name": fake.name(),
        "id_type": "prc_resident_id",
        "id_number": make_resident_id(region_code=region, birth_date=birth, sequence=i % 100, sex=sex),
        "phone": f"1{rng.choice('3456789')}{rng.randint(0, 999_999_999):09d}",
        "email": DEMO_EMAIL.format(i),
        "province": fake_zh.province(),
        "city": fake_zh.city(),
        "district": fake_zh.district() + "区",
        "street": fake_zh.street_address(),
        "postcode": fake_zh.postcode(),
        "occupation": occupation,
        "occupation_other": "自由职业" if occupation == "other" else "",
        "employer": "" if employment in ("unemployed", "student", "retired") else fake.company()[:150],
        "employment_type": employment,
        "years_in_job": D(rng.randint(0, min(30, max(age - 20, 0)) * 2)) / 2 if employment != "unemployed" else None,
        "education": rng.choice(["primary", "secondary", "vocational", "bachelor", "bachelor", "postgraduate"]),
        "marital_status": rng.choice(["single", "married", "married", "divorced"] + (["widowed"] if age > 55 else [])),
        "dependants": rng.choice([0, 0, 1, 1, 2, 3]),
        "housing": rng.choice(["own", "mortgage", "rent", "rent", "family"]),
        "number_of_existing_credits": 0,
        "past_delinquencies": rng.choice([0, 0, 0, 0, 1, 2]),
    }


def _lines(i: int, rng: random.Random, data: dict) -> dict[str, list[dict]]:
    archetype = _archetype(i)
    incomes, expenses, debts, assets = [], [], [], []
    if archetype == "no_income":
        pass
    elif archetype == "seasonal":
        incomes.append({"source": "business", "monthly_amount": _money(rng, 4000, 12000),
                        "description": "平均月收入，收获季节较高"})
    elif data["employment_type"] == "retired":
        incomes.append({"source": "pension", "monthly_amount": _money(rng, 2500, 7000)})
    else:
        source = "salary" if data["employment_type"] == "salaried" else "business"
        incomes.append({"source": source, "monthly_amount": _money(rng, 4500, 30000)})
    if incomes and rng.random() < 0.25:
        incomes.append({"source": rng.choice(["rental", "investment", "other"]), "monthly_amount": _money(rng, 500, 4000)})

    if data["housing"] == "rent":
        expenses.append({"category": "housing", "monthly_amount": _money(rng, 1500, 6000)})
    expenses.append({"category": "food", "monthly_amount": _money(rng, 800, 3500)})
    expenses.append({"category": "utilities", "monthly_amount": _money(rng, 150, 600, 10)})
    if rng.random() < 0.6:
        expenses.append({"category": "transport", "monthly_amount": _money(rng, 100, 1500)})
    if data["dependants"]:
        expenses.append({"category": "education", "monthly_amount": _money(rng, 500, 3000)})

    if data["housing"] == "mortgage":
        debts.append({"lender": rng.choice(["中国建设银行", "中国工商银行", "招商银行"]), "kind": "mortgage",
                      "outstanding_balance": _money(rng, 300000, 1500000, 1000),
                      "monthly_payment": _money(rng, 2500, 9000)})
    heavy = archetype == "heavy_debt"
    for _ in range(rng.randint(2, 4) if heavy else rng.choice([0, 0, 1, 1, 2])):
        kind = rng.choice(["credit_card", "consumer_loan", "car_loan"])
        balance = _money(rng, 5000, 150000 if kind == "car_loan" else 60000)
        debts.append({"lender": rng.choice(["招商银行信用卡", "花呗", "平安普惠", "Bank of China", "微粒贷"]),
                      "kind": kind, "outstanding_balance": balance,
                      "monthly_payment": (balance / rng.choice([12, 18, 24] if heavy else [24, 36])).quantize(D("0.01"))})

    assets.append({"kind": "savings", "value": _money(rng, 0, 200000, 500)})
    if data["housing"] in ("own", "mortgage"):
        assets.append({"kind": "property", "value": _money(rng, 800000, 5000000, 10000)})
    if rng.random() < 0.3:
        assets.append({"kind": "vehicle", "value": _money(rng, 30000, 300000, 1000)})
    return {"incomes": incomes, "expenses": expenses, "debts": debts, "assets": assets}


def statement_csv(rng: random.Random, *, archetype: str, monthly_income: Decimal, rent: Decimal,
                  chinese: bool, months: int = 12) -> bytes:
    """A plausible bank statement for the last `months` whole months: GBK with Chinese headers or
    UTF-8 with English ones."""
    first = (timezone.localdate().replace(day=1) - timedelta(days=1)).replace(day=1)
    for _ in range(months - 1):
        first = (first - timedelta(days=1)).replace(day=1)
    balance = _money(rng, 0, 8000)
    rows = []
    spending = [("超市购物 supermarket", 200, 900), ("美团外卖", 30, 120), ("滴滴出行", 15, 80), ("淘宝", 50, 600),
                ("电费 electricity", 80, 300), ("中国移动话费", 50, 150), ("药房", 20, 200), ("转账", 100, 1000)]
    month_start = first
    for _ in range(months):
        m = month_start.month
        if archetype == "seasonal":  # harvest in September-October, nothing in the winter months
            factor = {9: D("2.6"), 10: D("2.2"), 11: D("1.2"), 1: D("0.2"), 2: D("0.1"), 12: D("0.4")}.get(m, D("0.8"))
            income = (monthly_income * factor).quantize(D("0.01"))
            income_text = "货款收入"
        elif archetype == "no_income":
            income = _money(rng, 0, 1200) if rng.random() < 0.5 else D("0.00")
            income_text = "家人转账"
        else:
            income = (monthly_income * D(rng.uniform(0.95, 1.05))).quantize(D("0.01"))
            income_text = "代发工资 salary"
        entries = []
        if income:
            entries.append((month_start.replace(day=rng.randint(5, 12)), income_text, income))
        if rent:
            entries.append((month_start.replace(day=1), "房租 rent", -rent))
        for _ in range(rng.randint(6, 12)):
            text, low, high = rng.choice(spending)
            entries.append((month_start.replace(day=rng.randint(1, 28)), text, -_money(rng, low, high, 1)))
        for when, text, amount in sorted(entries, key=lambda e: e[0]):
            balance += amount
            rows.append((when, text, amount, balance))
        month_start = (month_start + timedelta(days=32)).replace(day=1)
    header = ("日期", "摘要", "金额", "余额") if chinese else ("date", "description", "amount", "balance")
    lines = [",".join(header)] + [f"{w:%Y-%m-%d},{t},{a},{b}" for w, t, a, b in rows]
    text = "\n".join(lines) + "\n"
    return text.encode("gbk") if chinese else text.encode("utf-8")


# --- Seeding ------------------------------------------------------------------------------------------

def _customer_user(email: str, name: str, password_hash: str, group: Group) -> User:
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create(email=email, full_name=name, password=password_hash)
    user.groups.add(group)
    return user


def _extras(i: int, rng: random.Random, profile: CustomerProfile, lines: dict, officer: User | None) -> dict[str, int]:
    """Consents for everyone; documents, statements and interview notes for some."""
    counts = {"documents": 0, "statements": 0}
    user = profile.user
    for kind in ("data_processing", "credit_check") + (("marketing",) if i % 3 == 0 else ()):
        services.consent_record(user=user, kind=kind, ip_address=f"10.0.{i // 250}.{i % 250 + 1}")
    if i % 3 == 0:
        uploads = [(DocumentKind.ID_FRONT, "身份证正面.png", tiny_png(i)),
                   (DocumentKind.INCOME_PROOF, "income-proof.pdf", tiny_pdf(f"Income certificate, customer {i}"))]
        for position, (kind, name, content) in enumerate(uploads):
            document = services.document_upload(profile=profile, kind=kind, file=ContentFile(content, name=name),
                                                 by=user)
            counts["documents"] += 1
            if officer is not None and (i + position) % 4 == 0:
                services.document_review(document=document, to=ReviewState.VERIFIED, by=officer)
            elif officer is not None and (i + position) % 4 == 1:
                services.document_review(document=document, to=ReviewState.REJECTED, by=officer,
                                         reason="图片不清晰，请重新上传 / The scan is unreadable, please upload again.")
    if i % 4 == 1:
        income = sum((line["monthly_amount"] for line in lines["incomes"]), D("0"))
        rent = next((line["monthly_amount"] for line in lines["expenses"] if line["category"] == "housing"), D("0"))
        raw = statement_csv(rng, archetype=_archetype(i), monthly_income=income, rent=rent, chinese=i % 2 == 0)
        services.statement_import(profile=profile, file=ContentFile(raw, name=f"statement-{i:03d}.csv"), by=user)
        counts["statements"] += 1
    if officer is not None and i % 7 == 0:
        services.interview_note_add(profile=profile, author=officer, text=rng.choice([
            "工作稳定，收入来源清楚，借款用途合理。", "Explained the seasonal income clearly; prefers lower winter payments.",
            "负债较多，建议缩短期限并降低额度。", "Recently changed jobs; income verified by payslips.",
        ]), stability_rating=rng.randint(2, 5), willingness_rating=rng.randint(3, 5))
    return counts


def _seed_customer(i: int, *, fake_zh: Faker, fake_en: Faker, password_hash: str, group: Group,
                   officer: User | None) -> dict[str, int] | None:
    email = DEMO_EMAIL.format(i)
    if CustomerProfile.objects.filter(user__email=email).exists():
        return None
    rng = random.Random(i)
    fake_zh.seed_instance(i)
    fake_en.seed_instance(i)
    data = _profile_data(i, rng, fake_zh, fake_en)
    lines = _lines(i, rng, data)
    data["number_of_existing_credits"] = len(lines["debts"])
    user = _customer_user(email, data["full_name"], password_hash, group)
    profile = services.profile_create(user=user, data=data, lines=lines)
    return _extras(i, rng, profile, lines, officer)


def _seed_demo_login(officer: User | None, group: Group) -> None:
    """The demo login customer@example.com gets a complete profile (if that login exists)."""
    user = User.objects.filter(email="customer@example.com").first()
    if user is None or CustomerProfile.objects.filter(user=user).exists():
        return
    user.groups.add(group)
    data = {
        "full_name": "李娜 Li Na", "id_type": "prc_resident_id",
        "id_number": make_resident_id(region_code="310104", birth_date=date(1990, 3, 7), sequence=42, sex="female"),
        "phone": "13800138000", "email": user.email, "province": "上海市", "city": "上海市", "district": "徐汇区",
        "street": "漕溪北路 88 号 1201 室", "postcode": "200030", "occupation": "office_worker",
        "employer": "上海示例科技有限公司", "employment_type": "salaried", "years_in_job": D("4.5"),
        "education": "bachelor", "marital_status": "married", "dependants": 1, "housing": "mortgage",
        "number_of_existing_credits": 2, "past_delinquencies": 0,
    }
    lines = {
        "incomes": [{"source": "salary", "monthly_amount": D("15000.00"), "description": "税后工资"},
                    {"source": "rental", "monthly_amount": D("2000.00"), "description": "车位出租"}],
        "expenses": [{"category": "food", "monthly_amount": D("2500.00")},
                     {"category": "utilities", "monthly_amount": D("400.00")},
                     {"category": "education", "monthly_amount": D("1800.00"), "description": "幼儿园"},
                     {"category": "transport", "monthly_amount": D("600.00")}],
        "debts": [{"lender": "中国建设银行", "kind": "mortgage", "outstanding_balance": D("820000.00"),
                   "monthly_payment": D("4300.00")},
                  {"lender": "招商银行信用卡", "kind": "credit_card", "outstanding_balance": D("6200.00"),
                   "monthly_payment": D("1200.00")}],
        "assets": [{"kind": "savings", "value": D("86000.00")}, {"kind": "property", "value": D("3200000.00")}],
    }
    profile = services.profile_create(user=user, data=data, lines=lines)
    for kind in ("data_processing", "credit_check"):
        services.consent_record(user=user, kind=kind, ip_address="127.0.0.1")
    for kind, name, content in [(DocumentKind.ID_FRONT, "身份证正面.png", tiny_png(1)),
                                (DocumentKind.ID_BACK, "身份证反面.png", tiny_png(2)),
                                (DocumentKind.INCOME_PROOF, "收入证明.pdf", tiny_pdf("Income certificate: Li Na"))]:
        document = services.document_upload(profile=profile, kind=kind, file=ContentFile(content, name=name), by=user)
        if officer is not None and kind != DocumentKind.INCOME_PROOF:
            services.document_review(document=document, to=ReviewState.VERIFIED, by=officer)
    raw = statement_csv(random.Random(42), archetype="ordinary", monthly_income=D("17000"), rent=D("0"), chinese=True)
    services.statement_import(profile=profile, file=ContentFile(raw, name="招商银行流水.csv"), by=user)
    if officer is not None:
        services.interview_note_add(profile=profile, author=officer, stability_rating=5, willingness_rating=4,
                                    text="在同一公司工作四年多，有房贷但按时还款。希望月供不超过3000元。")


def seed_demo(*, stdout, customers: int | None = None) -> None:
    """Create `customers` demo customers (default 300) and the demo login's profile; skip what exists."""
    started = time.monotonic()
    count = DEFAULT_CUSTOMERS if customers is None else customers
    group, _ = Group.objects.get_or_create(name=str(Role.CUSTOMER))
    officer = User.objects.filter(email="officer@example.com").first()
    password_hash = make_password(DEMO_PASSWORD)  # hashed once: hashing per user would take minutes
    fake_zh, fake_en = Faker("zh_CN"), Faker("en_US")
    totals = {"created": 0, "skipped": 0, "documents": 0, "statements": 0}
    with transaction.atomic():
        _seed_demo_login(officer, group)
    for start in range(0, count, BATCH):
        with transaction.atomic():
            for i in range(start, min(start + BATCH, count)):
                counts = _seed_customer(i, fake_zh=fake_zh, fake_en=fake_en, password_hash=password_hash,
                                        group=group, officer=officer)
                if counts is None:
                    totals["skipped"] += 1
                    continue
                totals["created"] += 1
                totals["documents"] += counts["documents"]
                totals["statements"] += counts["statements"]
    stdout.write(
        f"Customers: {totals['created']} created, {totals['skipped']} already there; "
        f"{totals['documents']} documents, {totals['statements']} statements ({time.monotonic() - started:.1f}s)."
    )
