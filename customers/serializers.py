"""Serializers shared by several customer API views (each view nests its own Input/Output around them)."""

from django.conf import settings
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from customers.models import (
    AssetLine,
    CustomerDocument,
    CustomerProfile,
    DebtLine,
    ExpenseLine,
    IncomeLine,
    StatementSummary,
)
from customers.selectors import profile_finances

MONEY = {"max_digits": 14, "decimal_places": 2}
RATIO = {"max_digits": 8, "decimal_places": 4}


class _LineSerializer(serializers.ModelSerializer):
    """A finance line. On input, give `id` to change an existing line; leave it out to add one."""

    id = serializers.IntegerField(required=False)


class IncomeLineSerializer(_LineSerializer):
    class Meta:
        model = IncomeLine
        fields = ["id", "source", "monthly_amount", "description"]


class ExpenseLineSerializer(_LineSerializer):
    class Meta:
        model = ExpenseLine
        fields = ["id", "category", "monthly_amount", "description"]


class DebtLineSerializer(_LineSerializer):
    class Meta:
        model = DebtLine
        fields = ["id", "lender", "kind", "outstanding_balance", "monthly_payment", "description"]


class AssetLineSerializer(_LineSerializer):
    class Meta:
        model = AssetLine
        fields = ["id", "kind", "value", "description"]


class FinancesSerializer(serializers.Serializer):
    """Derived from the lines on every request (definitions in customers.finances)."""

    total_monthly_income = serializers.DecimalField(**MONEY)
    total_monthly_expenses = serializers.DecimalField(**MONEY)
    debt_monthly_payment = serializers.DecimalField(**MONEY)
    debt_balance = serializers.DecimalField(**MONEY)
    disposable_income = serializers.DecimalField(**MONEY, help_text="income - expenses - debt payments")
    debt_to_income = serializers.DecimalField(**RATIO, allow_null=True, help_text="debt payments / income")
    debt_service_ratio = serializers.DecimalField(
        **RATIO, allow_null=True, help_text="(debt payments + expenses) / income",
    )
    total_assets = serializers.DecimalField(**MONEY)
    savings = serializers.DecimalField(**MONEY)


class ProfileOutputSerializer(serializers.ModelSerializer):
    """A profile as the API shows it: the ID number only masked, finance lines nested, ratios derived."""

    incomes = IncomeLineSerializer(many=True, read_only=True)
    expenses = ExpenseLineSerializer(many=True, read_only=True)
    debts = DebtLineSerializer(many=True, read_only=True)
    assets = AssetLineSerializer(many=True, read_only=True)
    finances = serializers.SerializerMethodField()
    currency = serializers.SerializerMethodField()

    class Meta:
        model = CustomerProfile
        fields = [
            "id", "full_name", "id_type", "id_number_masked", "date_of_birth", "sex", "phone", "email",
            "province", "city", "district", "street", "postcode",
            "occupation", "occupation_other", "employer", "employment_type", "years_in_job", "education",
            "marital_status", "dependants", "housing", "number_of_existing_credits", "past_delinquencies",
            "on_time_payments", "late_payments", "max_days_past_due", "current_overdue",
            "incomes", "expenses", "debts", "assets", "finances", "currency", "created_at", "updated_at",
        ]

    @extend_schema_field(FinancesSerializer)
    def get_finances(self, profile: CustomerProfile) -> dict:
        return FinancesSerializer(profile_finances(profile).as_dict()).data

    def get_currency(self, profile: CustomerProfile) -> str:
        return settings.DEFAULT_CURRENCY


class DocumentOutputSerializer(serializers.ModelSerializer):
    download_url = serializers.SerializerMethodField(help_text="Permission-checked download (owner or staff).")

    class Meta:
        model = CustomerDocument
        fields = ["id", "kind", "original_filename", "content_type", "size_bytes", "uploaded_at", "review_state",
                  "review_reason", "reviewed_at", "download_url"]

    def get_download_url(self, document: CustomerDocument) -> str:
        return reverse("document_download", args=[document.pk])


class MonthlyFlowSerializer(serializers.Serializer):
    month = serializers.CharField(help_text="YYYY-MM")
    inflow = serializers.DecimalField(**MONEY)
    outflow = serializers.DecimalField(**MONEY, help_text="money out, as a positive amount")
    salary_like = serializers.BooleanField(help_text="an inflow matched an income keyword")


class StatementSummaryDataSerializer(serializers.Serializer):
    """The stored summary (customers.statements.StatementSummaryData)."""

    period_start = serializers.DateField()
    period_end = serializers.DateField()
    transaction_count = serializers.IntegerField()
    months_covered = serializers.IntegerField()
    monthly = MonthlyFlowSerializer(many=True)
    total_inflow = serializers.DecimalField(**MONEY)
    total_outflow = serializers.DecimalField(**MONEY)
    average_monthly_inflow = serializers.DecimalField(**MONEY)
    average_monthly_outflow = serializers.DecimalField(**MONEY)
    income_regularity = serializers.DecimalField(**RATIO, help_text="share of months with a salary-like inflow")
    income_volatility = serializers.DecimalField(
        **RATIO, allow_null=True, help_text="coefficient of variation of monthly inflow",
    )
    seasonal_high_months = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=12))
    seasonal_low_months = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=12))
    category_outflow = serializers.DictField(child=serializers.DecimalField(**MONEY))
    category_shares = serializers.DictField(child=serializers.DecimalField(**RATIO))
    overdraft_days = serializers.IntegerField()


class StatementOutputSerializer(serializers.ModelSerializer):
    summary = StatementSummaryDataSerializer(read_only=True)

    class Meta:
        model = StatementSummary
        fields = ["id", "original_filename", "period_start", "period_end", "months_covered", "transaction_count",
                  "average_monthly_inflow", "average_monthly_outflow", "income_regularity", "income_volatility",
                  "overdraft_days", "summary", "imported_at"]
