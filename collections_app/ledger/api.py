"""The books' read-only API (manager, accountant, admin): the trial balance on a date and journal
lines by value date and account. Bad query parameters answer 400 with JSON naming the parameter."""

from datetime import date

from django.conf import settings
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from collections_app.ledger import selectors
from collections_app.ledger.models import JournalLine, LedgerAccount
from collections_app.ledger.serializers import JournalLineOutputSerializer, TrialBalanceOutputSerializer
from customers.permissions import HasRole

IsBooksReader = HasRole(*selectors.BOOKS_ROLES)


def _date_param(request, name: str) -> date | None:
    raw = request.query_params.get(name, "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValidationError({name: ["Use a date in the form YYYY-MM-DD."]})


class TrialBalanceApi(APIView):
    """Every account's debits, credits and balance (on its normal side) up to a value date."""

    permission_classes = [IsBooksReader]

    @extend_schema(parameters=[OpenApiParameter("on", OpenApiTypes.DATE, description="Value date; default today")],
                   responses=TrialBalanceOutputSerializer)
    def get(self, request):
        on = _date_param(request, "on") or timezone.localdate()
        result = selectors.trial_balance(on)
        body = TrialBalanceOutputSerializer({
            "on": on, "currency": settings.DEFAULT_CURRENCY, "rows": result.rows,
            "total_debits": result.total_debits, "total_credits": result.total_credits,
            "is_balanced": result.is_balanced}).data
        return Response(body)


class JournalLinesApi(ListAPIView):
    """Journal lines in value-date order (stable ids: line id and entry id), paginated."""

    permission_classes = [IsBooksReader]
    serializer_class = JournalLineOutputSerializer
    filter_backends = []

    @extend_schema(parameters=[
        OpenApiParameter("from", OpenApiTypes.DATE, description="First value date, inclusive"),
        OpenApiParameter("to", OpenApiTypes.DATE, description="Last value date, inclusive"),
        OpenApiParameter("account", OpenApiTypes.STR, description="Account code, e.g. 1101"),
    ])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return JournalLine.objects.none()
        start, end = _date_param(self.request, "from"), _date_param(self.request, "to")
        if start and end and start > end:
            raise ValidationError({"to": ["Must be on or after 'from'."]})
        account = None
        code = self.request.query_params.get("account", "").strip()
        if code:
            account = LedgerAccount.objects.filter(code=code).first()
            if account is None:
                raise ValidationError({"account": ["No account with this code."]})
        return selectors.journal_lines(start=start, end=end, account=account)
