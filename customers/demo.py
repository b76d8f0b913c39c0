"""Demo customers: profiles with varied finances, documents, bank statements, notes and consents.

Called by `manage.py seed_demo` after the demo logins exist. Idempotent: customer i always has the
e-mail `demo.customer.<i>@example.com`, and customers that already have a profile are skipped.
Everything goes through the services, so the demo data passes the same rules as real data.

Who the customers are is drawn (numpy `default_rng([SEED, i])`, so customer i is the same on every
run) from the population the products target: pay by occupation and city tier, expenses, debts,
assets, housing, marriage and age as described at "One customer's story" below. Fixed story lines
make every run show each kind: every 20th has no income at all, every 10th (from 1) seasonal income
(farmers and traders), every 10th (from 2) heavy debt. Every 4th (from customer 1) imports a
12-month bank statement, so some customers of every kind have one and most have none; every 3rd
uploads documents.

`demo_clock()` lets the other areas' demos replay past business through the real services (which
stamp times with `django.utils.timezone.now`) at the times it happened.
"""

import random
import struct
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal

import numpy as np
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

DEFAULT_CUSTOMERS = 200
DEMO_EMAIL = "demo.customer.{:03d}@example.com"
DEMO_PASSWORD = "demo-pass-2026"  # the same as the staff demo logins (seed_demo prints it)
BATCH = 50
D = Decimal


# --- The demo clock ------------------------------------------------------------------------------------

class DemoClock:
    """The time `django.utils.timezone.now()` answers inside `demo_clock()`: set `now` (aware)."""

    def __init__(self, now: datetime):
        self.now = now

    def set(self, moment: datetime) -> datetime:
        """Move to `moment` (aware; never backwards, as time does not); returns the time now."""
        if moment > self.now:
            self.now = moment
        return self.now


_REAL_DATETIME = datetime


class _AnyDatetime(type):
    # Keeps isinstance(x, datetime) true for real datetimes while the module's name points here.
    def __instancecheck__(cls, instance) -> bool:
        return isinstance(instance, _REAL_DATETIME)


@contextmanager
def demo_clock(start: datetime) -> Iterator[DemoClock]:
    """Run the block with `timezone.now()` (and so `localdate()`, `auto_now` and every
    `default=timezone.now`) reading a `DemoClock` that starts at `start`.

    The demos replay a year of business through the same services the product uses, which take the
    time from `timezone.now()`; this is the one place that time is moved. `timezone.now` reads the
    module's `datetime.now`, so swapping that name covers callers that hold `timezone.now` itself
    (model field defaults). Single-threaded use only (manage.py seed_demo); always restored.
    """
    from django.utils import timezone as django_timezone

    clock = DemoClock(start)

    class ClockDatetime(_REAL_DATETIME, metaclass=_AnyDatetime):
        @classmethod
        def now(cls, tz=None):
            return clock.now.astimezone(tz) if tz is not None else timezone.make_naive(clock.now)

    saved = django_timezone.datetime
    django_timezone.datetime = ClockDatetime
    try:
        yield clock
    finally:
        django_timezone.datetime = saved


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
#
# The applicants are drawn from the population the products target (numbers for 2025-26, CNY):
# after-tax monthly pay is log-normal, its median set by city tier and occupation (7,500 for an
# office worker in a tier-2 city, about 1.45 times that in tier 1 and 0.7 times in tiers 3-4);
# business owners vary most, students earn little (part-time), pensions are lower and narrow.
# Expenses, debts and assets follow income and housing; one latent "stability" per person moves pay,
# years in the job, home, savings and past arrears together. The shares (past arrears about one in
# six, married about two in three, no income about one in twelve) and the money ratios follow the
# consumer-credit book the default model is trained on (scoring.consumer_credit), so the demo
# applicants score like its training rows (PSI of their scores against training ~0.05).

SEED = 20_260_101  # numpy default_rng([SEED, i]): customer i is the same on every run and machine
# (region code, province, city, district) by city tier.
CITIES = {
    1: [("110105", "北京市", "北京市", "朝阳区"), ("310115", "上海市", "上海市", "浦东新区"),
        ("440305", "广东省", "深圳市", "南山区"), ("440106", "广东省", "广州市", "天河区")],
    2: [("330106", "浙江省", "杭州市", "西湖区"), ("510104", "四川省", "成都市", "锦江区"),
        ("420102", "湖北省", "武汉市", "江岸区"), ("320102", "江苏省", "南京市", "玄武区"),
        ("370202", "山东省", "青岛市", "市南区"), ("610113", "陕西省", "西安市", "雁塔区"),
        ("500103", "重庆市", "重庆市", "渝中区")],
    3: [("411302", "河南省", "南阳市", "宛城区"), ("430602", "湖南省", "岳阳市", "岳阳楼区"),
        ("341302", "安徽省", "宿州市", "埇桥区"), ("360502", "江西省", "新余市", "渝水区"),
        ("450202", "广西壮族自治区", "柳州市", "城中区")],
}
TIER_SHARES = {1: 0.25, 2: 0.42, 3: 0.33}  # tier 3 stands for tiers 3 and 4
TIER_INCOME = {1: 1.45, 2: 1.0, 3: 0.7}
TIER_PROPERTY = {1: 4_500_000, 2: 1_600_000, 3: 650_000}  # median value of a home
TIER_RENT = {1: 3_800, 2: 2_000, 3: 1_100}  # median monthly rent
# Median monthly pay (tier 2) and log-normal sigma by occupation.
OCCUPATION_PAY = {
    "office_worker": (7_500, 0.38), "civil_servant": (8_000, 0.3), "professional": (11_000, 0.45),
    "teacher": (7_200, 0.3), "healthcare": (8_200, 0.38), "sales_service": (6_000, 0.42),
    "factory_worker": (5_600, 0.3), "construction": (6_400, 0.35), "driver_logistics": (6_800, 0.35),
}
SALARIED_OCCUPATIONS = list(OCCUPATION_PAY)
SALARIED_WEIGHTS = [0.24, 0.07, 0.12, 0.08, 0.08, 0.15, 0.12, 0.06, 0.08]
# (employment, share): the mix of the target population beyond the fixed archetypes.
EMPLOYMENT_MIX = [("salaried", 0.64), ("self_employed", 0.18), ("business_owner", 0.07), ("student", 0.04),
                  ("retired", 0.05), ("unemployed", 0.02)]
DEBT_LENDERS = {"credit_card": ["招商银行信用卡", "中国银行信用卡", "花呗"], "consumer_loan": ["平安普惠", "微粒贷", "招联金融"],
                "car_loan": ["上汽通用汽车金融", "中国工商银行"]}


def _archetype(i: int) -> str:
    """Fixed story lines so every run shows each kind: no income (1 in 20), seasonal income
    (farmers and traders, 1 in 10), heavy debt (1 in 10); the rest are drawn (`EMPLOYMENT_MIX`)."""
    if i % 20 == 0:
        return "no_income"
    return {1: "seasonal", 2: "heavy_debt"}.get(i % 10, "ordinary")


def _money(rng: random.Random, low: int, high: int, step: int = 100) -> Decimal:
    return D(rng.randrange(low, high + 1, step)).quantize(D("0.01"))


def _cny(value: float, step: int = 100) -> Decimal:
    """A drawn amount rounded to `step` yuan, as people state them."""
    return D(max(int(round(value / step)) * step, 0)).quantize(D("0.01"))


def _lognormal(g: np.random.Generator, median: float, sigma: float) -> float:
    return float(median * np.exp(sigma * g.standard_normal()))


def _choice(g: np.random.Generator, options: list, weights: list[float]):
    weights = np.asarray(weights, dtype="float64")
    return options[int(g.choice(len(options), p=weights / weights.sum()))]


def _applicant(i: int, g: np.random.Generator) -> dict:
    """Who customer i is: tier, city, employment, occupation, age, pay (before extra incomes)."""
    archetype = _archetype(i)
    tier = _choice(g, list(TIER_SHARES), list(TIER_SHARES.values()))
    if archetype == "seasonal":
        tier = 3
    city = CITIES[tier][int(g.integers(len(CITIES[tier])))]
    if archetype == "no_income":
        employment = _choice(g, ["unemployed", "student"], [0.6, 0.4])
    elif archetype == "seasonal":
        employment = _choice(g, ["self_employed", "business_owner"], [0.7, 0.3])
    else:
        employment = _choice(g, [e for e, _ in EMPLOYMENT_MIX], [w for _, w in EMPLOYMENT_MIX])
    if employment == "student":
        age = int(g.integers(18, 25))
    elif employment == "retired":
        age = int(g.integers(56, 66))
    else:  # working ages: median about 36, as the applicants of consumer credit are
        age = int(np.clip(21 + g.gamma(2.6, 6.0), 21, 64))
    # One latent "stability" per person moves pay, tenure, home, savings and arrears together, as they
    # go together in real books (without it the features would be independent and the scores too alike).
    stability = float(g.standard_normal())
    factor = TIER_INCOME[tier] * float(np.exp(0.2 * stability))
    if archetype == "seasonal":
        occupation = "farmer" if employment == "self_employed" else "trader"
        pay = _lognormal(g, 5_200 * factor / 0.7, 0.45)
    elif employment == "salaried":
        occupation = _choice(g, SALARIED_OCCUPATIONS, SALARIED_WEIGHTS)
        median, sigma = OCCUPATION_PAY[occupation]
        pay = _lognormal(g, median * factor * (0.85 if age < 25 else 1.0), sigma)
    elif employment == "self_employed":
        occupation = _choice(g, ["trader", "driver_logistics", "sales_service", "professional", "construction"],
                             [0.4, 0.25, 0.15, 0.1, 0.1])
        pay = _lognormal(g, 7_000 * factor, 0.55)
    elif employment == "business_owner":
        occupation = _choice(g, ["trader", "professional", "other"], [0.6, 0.2, 0.2])
        pay = _lognormal(g, 11_000 * factor, 0.75)
    elif employment == "student":
        occupation = "student"
        pay = _lognormal(g, 1_500, 0.5) if archetype != "no_income" and g.random() < 0.5 else 0.0
    elif employment == "retired":
        occupation = "retired"
        pay = _lognormal(g, 3_800 * (factor ** 0.5), 0.3)
    else:
        occupation = "other"
        pay = 0.0
    return {"archetype": archetype, "tier": tier, "city": city, "employment": employment, "stability": stability,
            "occupation": occupation, "age": age, "pay": pay}


def _profile_data(i: int, g: np.random.Generator, who: dict, fake_zh: Faker, fake_en: Faker) -> dict:
    fake = fake_en if i % 4 == 3 else fake_zh
    age, employment = who["age"], who["employment"]
    sex = _choice(g, ["female", "male"], [0.5, 0.5])
    birth = date(timezone.localdate().year - age, int(g.integers(1, 13)), int(g.integers(1, 29)))
    region, province, city, district = who["city"]
    # Marriage by age (China: most are married by their early thirties).
    married_share = 0.05 if age < 23 else 0.35 if age < 28 else 0.7 if age < 33 else 0.85
    marital = _choice(g, ["single", "married", "divorced", "widowed"],
                      [1 - married_share, married_share * 0.93, married_share * 0.06 if age >= 28 else 0,
                       married_share * 0.06 if age >= 55 else married_share * 0.01])
    dependants = int(g.choice([0, 1, 1, 2, 2, 3])) if marital != "single" else int(g.random() < 0.05)
    if employment == "student":
        housing = _choice(g, ["family", "rent"], [0.7, 0.3])
    elif age < 28 and marital == "single":
        housing = _choice(g, ["family", "rent", "own"], [0.45, 0.45, 0.1])
    else:
        s = who["stability"]
        housing = _choice(g, ["own", "mortgage", "rent", "family"],
                          [0.3 * np.exp(0.6 * s), 0.26 * np.exp(0.3 * s), 0.3 * np.exp(-0.6 * s), 0.14])
    if employment in ("unemployed",):
        years = None
    elif employment == "retired":
        years = None  # no current job to count years in
    elif employment == "student":
        years = D("0")
    else:  # years with the current employer or in the current trade: median about 5, 1 in 8 new
        s = who["stability"]
        drawn = 0.0 if g.random() < 0.1 * np.exp(-0.7 * s) else g.gamma(1.5, 6.0 * np.exp(0.45 * s))
        years = D(round(min(drawn, max(age - 18, 0)) * 2) / 2)
    education = {"student": ["bachelor", "vocational"], "retired": ["primary", "secondary", "secondary"],
                 "professional": ["bachelor", "postgraduate"], "civil_servant": ["bachelor", "bachelor", "postgraduate"],
                 "factory_worker": ["secondary", "vocational"], "construction": ["primary", "secondary"],
                 "farmer": ["primary", "secondary"]}.get(
        who["occupation"], ["secondary", "vocational", "bachelor", "bachelor"])
    # Past arrears elsewhere (as declared / on the credit report): about 17 %, more on thin incomes.
    p_late = (0.09 * np.exp(-0.9 * who["stability"]) + (0.08 if who["pay"] < 4_000 else 0)
              + (0.1 if who["archetype"] == "heavy_debt" else 0))
    delinquencies = int(_choice(g, [1, 2, 3], [0.7, 0.22, 0.08])) if g.random() < p_late else 0
    return {
        "full_name": fake.name(),
        "id_type": "prc_resident_id",
        "id_number": make_resident_id(region_code=region, birth_date=birth, sequence=i % 100, sex=sex),
        "phone": f"1{_choice(g, list('3456789'), [1] * 7)}{int(g.integers(0, 1_000_000_000)):09d}",
        "email": DEMO_EMAIL.format(i),
        "province": province,
        "city": city,
        "district": district,
        "street": fake_zh.street_address(),
        "postcode": fake_zh.postcode(),
        "occupation": who["occupation"],
        "occupation_other": "自由职业" if who["occupation"] == "other" else "",
        "employer": "" if employment in ("unemployed", "student", "retired") else fake.company()[:150],
        "employment_type": employment,
        "years_in_job": years,
        "education": education[int(g.integers(len(education)))],
        "marital_status": marital,
        "dependants": dependants,
        "housing": housing,
        "number_of_existing_credits": 0,
        "past_delinquencies": delinquencies,
    }


def _lines(g: np.random.Generator, who: dict, data: dict) -> dict[str, list[dict]]:
    archetype, tier, pay = who["archetype"], who["tier"], who["pay"]
    incomes, expenses, debts, assets = [], [], [], []
    if pay > 0:
        source = {"salaried": "salary", "retired": "pension", "student": "other"}.get(data["employment_type"], "business")
        line = {"source": source, "monthly_amount": _cny(pay)}
        if archetype == "seasonal":
            line["description"] = "平均月收入，收获季节较高"
        incomes.append(line)
        if g.random() < 0.15:
            incomes.append({"source": _choice(g, ["rental", "investment", "other"], [0.5, 0.3, 0.2]),
                            "monthly_amount": _cny(_lognormal(g, 1_200, 0.6))})
    income = float(sum(line["monthly_amount"] for line in incomes))

    # Living costs grow slower than income; rent by city tier.
    household = 1 + (data["marital_status"] == "married") + data["dependants"]
    food = _lognormal(g, 700 + 300 * household + 0.04 * income, 0.25)
    expenses.append({"category": "food", "monthly_amount": _cny(food)})
    expenses.append({"category": "utilities", "monthly_amount": _cny(_lognormal(g, 160 + 40 * household, 0.3), 10)})
    if g.random() < 0.6:
        expenses.append({"category": "transport", "monthly_amount": _cny(_lognormal(g, 300, 0.6))})
    if data["housing"] == "rent":
        expenses.append({"category": "housing", "monthly_amount": _cny(_lognormal(g, TIER_RENT[tier] * 0.8, 0.35))})
    if data["dependants"]:
        expenses.append({"category": "education", "monthly_amount": _cny(_lognormal(g, 600 * data["dependants"], 0.5))})

    # People on small incomes spend less: declared living costs stay within 30-55 % of income.
    ceiling = income * float(g.uniform(0.3, 0.55)) if income > 0 else 2_500.0
    spent = float(sum(line["monthly_amount"] for line in expenses))
    if spent > ceiling:
        for line in expenses:
            line["monthly_amount"] = _cny(float(line["monthly_amount"]) * ceiling / spent, 10)

    if data["housing"] == "mortgage":
        balance = _lognormal(g, TIER_PROPERTY[tier] * 0.2, 0.5)
        debts.append({"lender": _choice(g, ["中国建设银行", "中国工商银行", "招商银行"], [1, 1, 1]), "kind": "mortgage",
                      "outstanding_balance": _cny(balance, 1000),
                      "monthly_payment": _cny(balance * 0.0055)})  # ~25 years at ~3.5 %
    heavy = archetype == "heavy_debt"
    count = int(g.integers(2, 5)) if heavy else int(_choice(g, [0, 1, 2], [0.62, 0.28, 0.1]))
    for _ in range(count):
        kind = _choice(g, ["credit_card", "consumer_loan", "car_loan"], [0.55, 0.3, 0.15])
        balance = _lognormal(g, {"credit_card": 9_000, "consumer_loan": 30_000, "car_loan": 70_000}[kind], 0.6)
        months = int(g.choice([12, 18, 24])) if heavy else int(g.choice([24, 36]))
        debts.append({"lender": DEBT_LENDERS[kind][int(g.integers(len(DEBT_LENDERS[kind])))], "kind": kind,
                      "outstanding_balance": _cny(balance), "monthly_payment": _cny(balance / months, 10)})

    # Lenders see what people manage to pay: a third of income at most in debt payments (heavy debt:
    # up to four fifths); a balance and its payment shrink together.
    limit = (0.8 if heavy else 0.33) * income if income > 0 else 800.0
    paying = float(sum(line["monthly_payment"] for line in debts))
    if paying > limit:
        for line in debts:
            share = limit / paying
            line["outstanding_balance"] = _cny(float(line["outstanding_balance"]) * share)
            line["monthly_payment"] = _cny(float(line["monthly_payment"]) * share, 10)

    # Nearly half hold no savings to speak of; homes dominate the others' wealth.
    s = who["stability"]
    if g.random() < 0.55 * np.exp(0.5 * s) and income > 0:
        assets.append({"kind": "savings", "value": _cny(_lognormal(g, income * 3 * np.exp(0.5 * s), 0.8), 500)})
    if data["housing"] in ("own", "mortgage"):
        assets.append({"kind": "property", "value": _cny(_lognormal(g, TIER_PROPERTY[tier], 0.45), 10_000)})
    if g.random() < 0.2 and income > 5_000:
        assets.append({"kind": "vehicle", "value": _cny(_lognormal(g, 90_000, 0.5), 1000)})
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
    rng = random.Random(i)  # the statement's and notes' small print
    g = np.random.default_rng([SEED, i])  # who the customer is (see "One customer's story")
    fake_zh.seed_instance(i)
    fake_en.seed_instance(i)
    who = _applicant(i, g)
    data = _profile_data(i, g, who, fake_zh, fake_en)
    lines = _lines(g, who, data)
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
    """Create `customers` demo customers (default 200) and the demo login's profile; skip what exists."""
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
