"""Output shapes of the books' read-only API (amounts in settings.DEFAULT_CURRENCY)."""

from django.conf import settings
from rest_framework import serializers


class TrialBalanceRowSerializer(serializers.Serializer):
    code = serializers.CharField(source="account.code")
    name = serializers.CharField(source="account.name")
    name_zh = serializers.CharField(source="account.name_zh")
    kind = serializers.CharField(source="account.kind")
    normal_side = serializers.CharField(source="account.normal_side")
    debits = serializers.DecimalField(max_digits=16, decimal_places=2)
    credits = serializers.DecimalField(max_digits=16, decimal_places=2)
    balance = serializers.DecimalField(max_digits=16, decimal_places=2,
                                       help_text="On the account's normal side.")


class TrialBalanceOutputSerializer(serializers.Serializer):
    on = serializers.DateField()
    currency = serializers.CharField()
    rows = TrialBalanceRowSerializer(many=True)
    total_debits = serializers.DecimalField(max_digits=16, decimal_places=2)
    total_credits = serializers.DecimalField(max_digits=16, decimal_places=2)
    is_balanced = serializers.BooleanField()


class JournalLineOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    entry_id = serializers.IntegerField()
    value_date = serializers.DateField(source="entry.value_date")
    booked_at = serializers.DateTimeField(source="entry.booked_at")
    event_type = serializers.CharField(source="entry.event_type")
    account = serializers.CharField(source="account.code")
    debit = serializers.DecimalField(max_digits=14, decimal_places=2)
    credit = serializers.DecimalField(max_digits=14, decimal_places=2)
    currency = serializers.SerializerMethodField()
    plan_id = serializers.IntegerField(allow_null=True)
    source_type = serializers.CharField(source="entry.source_type")
    source_id = serializers.CharField(source="entry.source_id")
    reverses_id = serializers.IntegerField(source="entry.reverses_id", allow_null=True)
    memo = serializers.CharField(source="entry.memo")

    def get_currency(self, line) -> str:
        return settings.DEFAULT_CURRENCY
