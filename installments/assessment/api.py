"""The scoring API: an application's credit assessment for staff. Thin: check the role, read, shape."""

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from customers.permissions import HasRole
from installments.assessment import selectors

CanSeeScores = HasRole(*selectors.SCORE_VIEW_ROLES)


class ScoreReasonCodeSerializer(serializers.Serializer):
    code = serializers.CharField()
    feature = serializers.CharField()
    points_lost = serializers.IntegerField()
    text_en = serializers.CharField()
    text_zh = serializers.CharField()


class ScoreRuleHitSerializer(serializers.Serializer):
    rule = serializers.CharField(help_text="The policy rule's name.")
    kind = serializers.CharField()
    threshold = serializers.CharField(allow_null=True)
    value = serializers.CharField(allow_null=True, help_text="The applicant's value the rule compared.")
    knock_out = serializers.BooleanField(help_text="True: this hit declined the application.")
    text_en = serializers.CharField()
    text_zh = serializers.CharField()


class ScoreAnomalyFlagSerializer(serializers.Serializer):
    code = serializers.CharField()
    text_en = serializers.CharField()
    text_zh = serializers.CharField()
    detail = serializers.DictField()


class ApplicationScoreApi(APIView):
    """The credit assessment of one application: score, PD, grade, reasons, rule hits, anomaly flags
    and the model version that produced it. Staff roles only (loan officer, approver, manager,
    admin); 404 when the application does not exist or has not been scored yet."""

    permission_classes = [CanSeeScores]

    @extend_schema_serializer(component_name="ApplicationScore")
    class OutputSerializer(serializers.Serializer):
        application = serializers.IntegerField(source="application_id")
        application_number = serializers.CharField(source="application.number")
        application_state = serializers.CharField(source="application.state")
        outcome = serializers.CharField(help_text="scored, or knocked_out (declined by a knock-out rule).")
        score = serializers.IntegerField(help_text="Points: 600 at 50:1 good:bad odds, +20 doubles the odds.")
        pd = serializers.DecimalField(max_digits=7, decimal_places=6, help_text="Probability of default (0-1).")
        grade = serializers.CharField(help_text="Risk grade A (best) to G.")
        reason_codes = ScoreReasonCodeSerializer(many=True, help_text="Top factors that cost points, largest first.")
        points_by_feature = serializers.DictField(child=serializers.IntegerField())
        rule_hits = ScoreRuleHitSerializer(many=True)
        anomaly_flags = ScoreAnomalyFlagSerializer(many=True, help_text="For officers; never an automatic decline.")
        model_version = inline_serializer("ScoreModelVersion", {
            "id": serializers.IntegerField(), "label": serializers.CharField(),
            "is_active": serializers.BooleanField(),
        })
        features = serializers.DictField(help_text="The feature snapshot the model saw.")
        scored_at = serializers.DateTimeField()
        rescored_at = serializers.DateTimeField(allow_null=True)
        duration_ms = serializers.FloatField()

    @extend_schema(responses={
        200: OutputSerializer,
        403: OpenApiResponse(description="Not a staff role that may see scores."),
        404: OpenApiResponse(description="No such application, or not scored yet."),
    })
    def get(self, request, pk: int):
        result = selectors.score_result_for_application(pk)
        if result is None:
            raise Http404
        return Response(self.OutputSerializer(result).data)
