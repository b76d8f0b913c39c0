"""Admin for the scoring records. Model versions come from `train_scoring_model` (never added by
hand); the admin activates one (audited) and shows the champion beside its challengers with the PSI
of each on the recent applicants. Grades come from the credit policy's PD master scale, never from a
version. Policy rules are edited here, every change audited. Score results and monitoring snapshots are read-only records."""

import json

from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from customers.audit import audit_record
from scoring import registry
from scoring.models import MonitoringSnapshot, PolicyRule, ScoreResult, ScoringModelVersion


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class ScoringModelVersionForm(forms.ModelForm):
    """Label and notes; everything else is what training recorded."""

    class Meta:
        model = ScoringModelVersion
        fields = ["label", "description"]


@admin.register(ScoringModelVersion)
class ScoringModelVersionAdmin(admin.ModelAdmin):
    form = ScoringModelVersionForm
    list_display = ["label", "role_display", "recent_psi_display", "created_at", "trained_by", "training_rows",
                    "cv_auc_display", "holdout_auc_display", "activated_by", "activated_at"]
    list_filter = ["is_active", "is_challenger", "created_at"]
    search_fields = ["label", "source", "data_fingerprint", "description"]
    date_hierarchy = "created_at"
    list_select_related = ["trained_by", "activated_by"]
    actions = ["activate"]
    readonly_fields = ["is_active", "is_challenger", "grade_bands", "source", "target_definition", "created_at", "trained_by", "activated_by",
                       "activated_at", "data_fingerprint", "training_rows", "bad_rate", "scaling", "metrics_summary",
                       "selected_features"]
    fieldsets = (
        (None, {"fields": ("label", "description", "is_active", "is_challenger", "activated_by", "activated_at")}),
        (_("Training"), {"fields": ("source", "target_definition", "created_at", "trained_by", "training_rows",
                                    "bad_rate", "data_fingerprint")}),
        (_("Scale and grades"), {"fields": ("scaling", "grade_bands")}),
        (_("Metrics"), {"fields": ("metrics_summary", "selected_features")}),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).defer("scorecard", "binning_table", "training_scores")

    def has_add_permission(self, request) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        # The champion and challengers scored once on the recent applicants, for the PSI column.
        self._stability = {row.version.pk: row for row in registry.versions_stability()}
        return super().changelist_view(request, extra_context)

    @admin.display(description=_("role"))
    def role_display(self, obj):
        if obj.is_active:
            return _("champion")
        return _("challenger") if obj.is_challenger else _("retired")

    @admin.display(description=_("score PSI, last 90 days"))
    def recent_psi_display(self, obj):
        row = getattr(self, "_stability", {}).get(obj.pk)
        if row is None or row.score_psi is None:
            return "—"
        return f"{row.score_psi:.3f} ({row.status}, {row.applicants} applicants)"

    @admin.display(description=_("AUC (cross-validation)"))
    def cv_auc_display(self, obj):
        return None if obj.cv_auc is None else f"{obj.cv_auc:.3f}"

    @admin.display(description=_("AUC (holdout)"))
    def holdout_auc_display(self, obj):
        return None if obj.holdout_auc is None else f"{obj.holdout_auc:.3f}"

    @admin.display(description=_("metrics"))
    def metrics_summary(self, obj):
        metrics = obj.metrics or {}
        keys = ("auc", "ks", "gini", "brier")
        rows = {part: {k: round(metrics.get(part, {}).get(k, float("nan")), 4) for k in keys}
                for part in ("cross_validation", "holdout")}
        if metrics.get("prior_correction"):
            rows["prior_correction"] = metrics["prior_correction"]
        return json.dumps(rows, indent=1)

    @admin.display(description=_("model characteristics"))
    def selected_features(self, obj):
        return ", ".join((obj.metrics or {}).get("selected_features", []))

    @admin.action(description=_("Activate the selected version (deactivates the current one)"))
    def activate(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, _("Select exactly one version to activate."), messages.ERROR)
            return
        version = registry.model_version_activate(version=queryset.get(), by=request.user)
        self.message_user(request, _("%(label)s is now the active scoring model.") % {"label": version.label},
                          messages.SUCCESS)


@admin.register(PolicyRule)
class PolicyRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "threshold", "knock_out", "is_active", "effective_from", "effective_to",
                    "updated_at"]
    list_filter = ["kind", "knock_out", "is_active", "effective_from"]
    search_fields = ["name", "message_en", "message_zh"]
    list_editable = ["is_active"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        changes = {name: str(form.cleaned_data.get(name)) for name in form.changed_data}
        audit_record(actor=request.user, action=f"scoring.policy_rule.{'update' if change else 'create'}",
                     target=obj, data={"changes": changes})

    def delete_model(self, request, obj):
        audit_record(actor=request.user, action="scoring.policy_rule.delete", target=obj,
                     data={"kind": obj.kind, "threshold": str(obj.threshold)})
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for rule in queryset:
            self.delete_model(request, rule)


@admin.register(ScoreResult)
class ScoreResultAdmin(ReadOnlyAdmin):
    list_display = ["application", "score", "grade", "pd", "outcome", "model_version", "rule_hit_count",
                    "flag_count", "duration_ms", "scored_at"]
    list_filter = ["outcome", "grade", "model_version", "scored_at"]
    search_fields = ["application__number", "application__customer__email"]
    date_hierarchy = "scored_at"
    list_select_related = ["application", "model_version"]
    exclude = ["id_number_hash", "name_hash"]

    @admin.display(description=_("rule hits"))
    def rule_hit_count(self, obj):
        return len(obj.rule_hits)

    @admin.display(description=_("anomaly flags"))
    def flag_count(self, obj):
        return len(obj.anomaly_flags)


@admin.register(MonitoringSnapshot)
class MonitoringSnapshotAdmin(ReadOnlyAdmin):
    list_display = ["model_version", "period_start", "period_end", "applications", "score_psi", "score_status",
                    "worst_status", "recorded_at"]
    list_filter = ["worst_status", "score_status", "model_version"]
    search_fields = ["model_version__label"]
    date_hierarchy = "period_start"
    list_select_related = ["model_version"]

