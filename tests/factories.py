"""factory-boy factories shared by the whole suite."""

import factory
from django.contrib.auth.models import Group

from customers.models import User

TEST_PASSWORD = "correct-horse-battery-9"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    full_name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", TEST_PASSWORD)

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        if not create:
            return
        for role in extracted or ():
            self.groups.add(Group.objects.get_or_create(name=str(role))[0])
        self.save()


# --- Customer profiles (created through the service: validated, encrypted, history recorded) -----

from datetime import date, timedelta  # noqa: E402
from decimal import Decimal  # noqa: E402

from customers.national_id import make_resident_id  # noqa: E402
from customers.roles import Role  # noqa: E402


def resident_id(n: int = 0, *, birth_date: date = date(1990, 3, 7), sex: str = "female",
                region_code: str = "110101") -> str:
    """A valid PRC resident ID number, different for each `n`."""
    return make_resident_id(region_code=region_code, birth_date=birth_date + timedelta(days=n // 50),
                            sequence=n % 50, sex=sex)


class CustomerProfileFactory(factory.Factory):
    """`CustomerProfileFactory(user=..., **fields)` -> a saved profile made by `services.profile_create`."""

    class Meta:
        model = dict

    user = factory.SubFactory(UserFactory, roles=[Role.CUSTOMER])
    full_name = factory.Faker("name")
    id_type = "prc_resident_id"
    id_number = factory.Sequence(lambda n: resident_id(n))
    phone = factory.Sequence(lambda n: f"138{n:08d}")
    province = "北京市"
    city = "北京市"
    district = "东城区"
    street = factory.Faker("street_address")
    postcode = "100010"
    employment_type = "salaried"
    occupation = "office_worker"
    employer = factory.Faker("company")
    years_in_job = Decimal("3.5")
    education = "bachelor"
    marital_status = "married"
    dependants = 1
    housing = "rent"

    @classmethod
    def _create(cls, model_class, user, **fields):
        from customers.services import profile_create

        return profile_create(user=user, data=fields)

    @classmethod
    def _build(cls, model_class, user, **fields):
        return fields


# --- Staff workbench: a product, scored applications with offers, documents (tests/workbench) -------
# Named Workbench* so they never clash with other areas' factories.

import base64  # noqa: E402

from django.core.files.base import ContentFile  # noqa: E402
from django.utils import timezone  # noqa: E402

WORKBENCH_TIER_RATES = {"A": "8", "B": "10", "C": "12", "D": "14", "E": "16", "F": "20", "G": "23.9"}
# A 1x1 PNG and a one-page PDF: real files for the document viewer.
TINY_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")


def tiny_pdf(text: str = "Payslip") -> bytes:
    import io

    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    page = canvas.Canvas(buffer)
    page.drawString(72, 720, text)
    page.save()
    return buffer.getvalue()


class WorkbenchProductFactory(factory.django.DjangoModelFactory):
    """A consumer product priced A-G (1 % upfront fee deducted, so the APR exceeds the nominal rate)."""

    class Meta:
        model = "installments.LoanProduct"
        django_get_or_create = ("code",)
        skip_postgeneration_save = True

    code = "workbench-consumer"
    name = "Consumer installments"
    name_zh = "消费分期"
    min_amount = Decimal("1000")
    max_amount = Decimal("200000")
    min_term_months = 3
    max_term_months = 36
    allowed_methods = factory.LazyFunction(lambda: ["annuity", "equal_principal"])
    upfront_fee_rate = Decimal("1")
    late_fee_flat = Decimal("30")
    penalty_rate = Decimal("12")

    @factory.post_generation
    def tiers(self, create, extracted, **kwargs):
        if not create:
            return
        from installments.models import PriceTier

        for grade, rate in (extracted or WORKBENCH_TIER_RATES).items():
            PriceTier.objects.get_or_create(product=self, grade=grade, defaults={
                "annual_rate": Decimal(rate), "max_amount": Decimal("100000"), "max_term_months": 36})


class WorkbenchModelVersionFactory(factory.django.DjangoModelFactory):
    """A stored (empty) scoring model version, only so score results can point at one."""

    class Meta:
        model = "scoring.ScoringModelVersion"
        django_get_or_create = ("label",)

    label = "workbench-test"
    source = "factory"
    scorecard = factory.LazyFunction(dict)
    data_fingerprint = "0" * 64
    training_rows = 1
    bad_rate = 0.3


class WorkbenchApplicationFactory(factory.django.DjangoModelFactory):
    """An application put straight into `state` (scored by default), submitted `age` ago."""

    class Meta:
        model = "installments.Application"
        exclude = ("age",)

    customer = factory.SubFactory(UserFactory, roles=[Role.CUSTOMER])
    product = factory.SubFactory(WorkbenchProductFactory)
    amount = Decimal("20000")
    term_months = 12
    purpose = "furniture"
    state = "scored"
    age = timedelta(hours=2)
    submitted_at = factory.LazyAttribute(lambda o: timezone.now() - o.age)


class WorkbenchScoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "scoring.ScoreResult"

    application = factory.SubFactory(WorkbenchApplicationFactory)
    model_version = factory.SubFactory(WorkbenchModelVersionFactory)
    score = 640
    pd = Decimal("0.040000")
    grade = "B"
    duration_ms = 1.0
    reason_codes = factory.LazyFunction(lambda: [
        {"code": "RC01", "feature": "duration", "points_lost": 12, "text_en": "Long requested term",
         "text_zh": "申请期限较长"}])
    rule_hits = factory.LazyFunction(list)
    anomaly_flags = factory.LazyFunction(list)


def workbench_offer(application, *, annual_rate: str = "10", term_months: int | None = None, amount=None,
                    method: str = "annuity", rank: int = 1, chosen: bool = False):
    """A stored offer for `application` with its exact schedule and disclosure (the product's fees)."""
    from installments.engine.offers import offer_terms_to_dict
    from installments.engine.schedules import schedule_to_dict
    from installments.models import Offer
    from installments.origination.applications import quote_build

    product = application.product
    amount = Decimal(str(amount or application.amount))
    schedule = quote_build(
        amount=amount, annual_interest_rate=Decimal(annual_rate), term_months=term_months or application.term_months,
        method=method, disbursement_date=timezone.localdate(),
        upfront_fee=(amount * product.upfront_fee_rate / 100).quantize(Decimal("0.01")),
        upfront_fee_financed=product.upfront_fee_financed, monthly_fee=product.monthly_fee, max_apr=product.max_apr,
    )
    payments = [row.payment for row in schedule.installments]
    return Offer.objects.create(
        application=application, rank=rank, method=method, amount=schedule.amount_financed,
        term_months=schedule.terms.term, annual_rate=schedule.terms.annual_rate, installment=payments[0],
        highest_installment=max(payments), total_interest=schedule.total_interest, total_fees=schedule.total_fees,
        total_payable=schedule.total_payable, apr=schedule.apr, effective_annual_rate=schedule.effective_annual_rate,
        terms=offer_terms_to_dict(schedule.terms), schedule=schedule_to_dict(schedule), currency=product.currency,
        grade="B", explanation_en="Equal installments.", explanation_zh="等额本息。",
        chosen_at=timezone.now() if chosen else None, chosen_by=application.customer if chosen else None,
    )


def workbench_case(*, grade: str = "B", amount: str = "20000", state: str = "scored", chosen: bool = True,
                   customer=None, income: str = "20000", knocked_out: bool = False, anomaly_flags=(),
                   age: timedelta = timedelta(hours=2), assigned_officer=None, documents: bool = True,
                   language: str = "en", **profile_fields):
    """A customer with a profile (income, expenses, documents), a scored application with two offers
    (the first chosen unless `chosen=False`) and its score result: a case ready for review."""
    from customers.services import document_upload, finance_line_add

    if customer is None:
        customer = UserFactory(roles=[Role.CUSTOMER], preferred_language=language)
        profile = CustomerProfileFactory(user=customer, **profile_fields)
        finance_line_add(profile=profile, line_type="income",
                         data={"source": "salary", "monthly_amount": Decimal(income)}, by=customer)
        finance_line_add(profile=profile, line_type="expense",
                         data={"category": "food", "monthly_amount": Decimal("3000")}, by=customer)
        if documents:
            document_upload(profile=profile, kind="id_front", file=ContentFile(TINY_PNG, name="id-front.png"),
                            by=customer)
            document_upload(profile=profile, kind="income_proof", file=ContentFile(tiny_pdf(), name="payslip.pdf"),
                            by=customer)
    application = WorkbenchApplicationFactory(customer=customer, amount=Decimal(amount), state=state, age=age,
                                              assigned_officer=assigned_officer)
    hits = [{"rule": "max_dti", "kind": "max_debt_to_income", "threshold": "0.5", "value": "0.9",
             "knock_out": True, "text_en": "Debts too high", "text_zh": "负债过高"}] if knocked_out else []
    WorkbenchScoreFactory(application=application, grade=grade, rule_hits=hits,
                          outcome="knocked_out" if knocked_out else "scored",
                          anomaly_flags=[{"code": f, "text_en": f, "text_zh": f, "detail": {}} for f in anomaly_flags])
    workbench_offer(application, rank=1, chosen=chosen)
    workbench_offer(application, rank=2, term_months=24)
    return application
