"""Credit scoring records: the model registry, knock-out / policy rules, score results, monitoring.

The scorecard itself lives in `scoring.scorecard` (pure); a `ScoringModelVersion` stores it as
JSON (`Scorecard.to_dict`, never a pickle) with its metrics and what it was trained on.
"""


from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from scoring import rules

GRADE_LABELS = ("A", "B", "C", "D", "E", "F", "G")
# Default grade bands by probability of default: A below 3 %, B below 6 %, C below 10 %,
# D below 15 %, E below 22 %, F below 30 %, G the rest. German Credit has a 30 % bad rate, so the
# familiar "one grade per 20 points from 600" bands put most applicants in D-G; PD bands spread
# them over all seven grades and read the same whatever the points scale.
DEFAULT_GRADE_MAX_PDS = (0.03, 0.06, 0.10, 0.15, 0.22, 0.30)


def default_grade_bands() -> dict:
    return {"labels": list(GRADE_LABELS), "max_pds": list(DEFAULT_GRADE_MAX_PDS)}


def default_scaling() -> dict:
    return {"base_points": 600.0, "base_odds": 50.0, "pdo": 20.0}


class ScoringModelVersion(models.Model):
    """One trained scorecard with its metrics; exactly one version is active at a time."""

    label = models.CharField(_("version"), max_length=60, unique=True)
    description = models.TextField(_("notes"), blank=True)
    source = models.CharField(_("training data"), max_length=300)
    target_definition = models.CharField(_("outcome (bad) definition"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("trained"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    trained_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", verbose_name=_("trained by"))
    is_active = models.BooleanField(_("active (champion)"), default=False)
    is_challenger = models.BooleanField(
        _("challenger"), default=False,
        help_text=_("Scored beside the champion on recent applicants (PSI, metrics) but never decides."))
    activated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+", verbose_name=_("activated by"))
    activated_at = models.DateTimeField(_("activated"), null=True, blank=True)
    scorecard = models.JSONField(_("scorecard"), help_text=_("Scorecard.to_dict(): bins, WOE, points."))
    metrics = models.JSONField(_("metrics"), default=dict,
                               help_text=_("AUC, KS, Gini and Brier by cross-validation and holdout; calibration."))
    binning_table = models.JSONField(_("binning table"), default=list)
    data_fingerprint = models.CharField(_("data fingerprint (SHA-256)"), max_length=64)
    training_rows = models.PositiveIntegerField(_("training rows"))
    bad_rate = models.FloatField(_("training bad rate"))
    scaling = models.JSONField(_("points scale"), default=default_scaling)
    grade_bands = models.JSONField(
        _("master scale at training"), default=default_grade_bands,
        help_text=_("The PD master scale in force when the version was trained (a record: grades always come "
                    "from the master scale of the credit policy, SCORING_MASTER_SCALE)."),
    )
    training_scores = models.JSONField(
        _("training score sample"), default=list,
        help_text=_("Scores of the training rows (a sample of at most 20,000): the PSI baseline."),
    )
    training_characteristics = models.JSONField(
        _("training characteristic distribution"), default=dict,
        help_text=_("Rows per bin of each model feature in the training data: the PSI baseline."),
    )

    class Meta:
        verbose_name = _("scoring model version")
        verbose_name_plural = _("scoring model versions")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["is_active"], condition=Q(is_active=True),
                                    name="scoring_one_active_model_version"),
            models.CheckConstraint(condition=Q(training_rows__gt=0), name="scoring_model_training_rows_positive"),
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def cv_auc(self) -> float | None:
        return (self.metrics or {}).get("cross_validation", {}).get("auc")

    @property
    def holdout_auc(self) -> float | None:
        return (self.metrics or {}).get("holdout", {}).get("auc")


class PolicyRule(models.Model):
    """A knock-out or policy rule checked before the model (see `scoring.rules` for each kind)."""

    class Kind(models.TextChoices):
        MIN_AGE = rules.MIN_AGE, _("Minimum age (years)")
        MAX_AGE = rules.MAX_AGE, _("Maximum age (years)")
        MIN_INCOME = rules.MIN_INCOME, _("Minimum monthly income")
        MAX_DEBT_TO_INCOME = rules.MAX_DEBT_TO_INCOME, _("Maximum debt-to-income, new plan included (fraction)")
        MAX_PAYMENT_TO_INCOME = rules.MAX_PAYMENT_TO_INCOME, _("Maximum installment-to-income (fraction)")
        MAX_DEBT_SERVICE_RATIO = rules.MAX_DEBT_SERVICE_RATIO, _("Maximum debt service ratio, new plan included")
        MAX_PAST_DELINQUENCIES = rules.MAX_PAST_DELINQUENCIES, _("Maximum reported past delinquencies")
        INVALID_ID = rules.INVALID_ID, _("Invalid ID number")
        DUPLICATE_ID = rules.DUPLICATE_ID, _("ID number used by another customer")
        OPEN_DELINQUENCY_WITH_US = rules.OPEN_DELINQUENCY_WITH_US, _("Open delinquency with us (days past due)")

    name = models.CharField(_("name"), max_length=80, unique=True)
    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)
    threshold = models.DecimalField(_("threshold"), max_digits=14, decimal_places=4, null=True, blank=True,
                                    help_text=_("Years, CNY a month, a fraction (0.5 = 50 %), a count or days, "
                                                "by kind; empty for yes/no checks."))
    knock_out = models.BooleanField(_("knock-out"), default=True,
                                    help_text=_("Decline on a hit; otherwise the hit is only recorded for the officer."))
    is_active = models.BooleanField(_("active"), default=True)
    effective_from = models.DateField(_("effective from"), default=timezone.localdate)
    effective_to = models.DateField(_("effective until (exclusive)"), null=True, blank=True)
    message_en = models.CharField(_("reason shown to the customer (English)"), max_length=300, blank=True,
                                  help_text=_("Empty: the standard wording for the kind. {threshold} is replaced."))
    message_zh = models.CharField(_("reason shown to the customer (Chinese)"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("policy rule")
        verbose_name_plural = _("policy rules")
        ordering = ["kind", "name"]
        constraints = [
            models.CheckConstraint(condition=Q(effective_to__isnull=True) | Q(effective_to__gt=models.F("effective_from")),
                                   name="scoring_policy_rule_period"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        needs_threshold = self.kind in rules.THRESHOLD_KINDS and self.kind != rules.OPEN_DELINQUENCY_WITH_US
        if needs_threshold and self.threshold is None:
            raise ValidationError({"threshold": _("This kind of rule needs a threshold.")})
        if self.effective_to and self.effective_to <= self.effective_from:
            raise ValidationError({"effective_to": _("The end must be after the start.")})

    def to_spec(self) -> rules.RuleSpec:
        return rules.RuleSpec(name=self.name, kind=self.kind, threshold=self.threshold, knock_out=self.knock_out,
                              message_en=self.message_en, message_zh=self.message_zh)


class ScoreResult(models.Model):
    """The credit assessment of one application: one row per application, whatever the retries.

    `features` is the snapshot the model saw (protected attributes are never in it); `rule_hits`
    and `anomaly_flags` are what officers see beside the score. A re-submitted application is
    re-scored in place; the previous outcome moves to `history`.
    """

    class Outcome(models.TextChoices):
        SCORED = "scored", _("Scored")
        KNOCKED_OUT = "knocked_out", _("Declined by a knock-out rule")

    application = models.OneToOneField("installments.Application", on_delete=models.CASCADE,
                                       related_name="score_result", verbose_name=_("application"))
    model_version = models.ForeignKey(ScoringModelVersion, on_delete=models.PROTECT, related_name="results",
                                      verbose_name=_("model version"))
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices, default=Outcome.SCORED)
    score = models.IntegerField(_("score"))
    pd = models.DecimalField(_("probability of default"), max_digits=7, decimal_places=6)
    grade = models.CharField(_("risk grade"), max_length=2, db_index=True)
    reason_codes = models.JSONField(_("reason codes"), default=list)
    points_by_feature = models.JSONField(_("points by characteristic"), default=dict)
    features = models.JSONField(_("features"), default=dict)
    context = models.JSONField(_("context"), default=dict,
                               help_text=_("Inputs around the features: plan type, installment basis, product."))
    rule_hits = models.JSONField(_("rule hits"), default=list)
    anomaly_flags = models.JSONField(_("anomaly flags"), default=list)
    id_number_hash = models.CharField(_("ID number search hash"), max_length=64, blank=True, db_index=True)
    name_hash = models.CharField(_("name search hash"), max_length=64, blank=True)
    history = models.JSONField(_("earlier results"), default=list, blank=True)
    duration_ms = models.FloatField(_("scoring time (ms)"))
    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)
    scored_at = models.DateTimeField(_("scored"), default=timezone.now, db_index=True)
    rescored_at = models.DateTimeField(_("rescored in batch"), null=True, blank=True)

    class Meta:
        verbose_name = _("score result")
        verbose_name_plural = _("score results")
        ordering = ["-scored_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(pd__gte=0) & Q(pd__lte=1), name="scoring_result_pd_range"),
        ]

    def __str__(self) -> str:
        return f"{self.application} {self.score} {self.grade}"

    @property
    def knocked_out(self) -> bool:
        return self.outcome == self.Outcome.KNOCKED_OUT

    @property
    def knock_out_hits(self) -> list[dict]:
        return [hit for hit in self.rule_hits if hit.get("knock_out")]


class MonitoringSnapshot(models.Model):
    """Population stability of one period's scored applicants against the training sample.

    PSI of the score (deciles of the training scores) and of each model characteristic (its bins),
    read as stable (< 0.1), watch (0.1-0.25) or act (> 0.25). One row per version and period;
    re-running a period replaces its figures.
    """

    model_version = models.ForeignKey(ScoringModelVersion, on_delete=models.CASCADE, related_name="snapshots",
                                      verbose_name=_("model version"))
    period_start = models.DateField(_("from"))
    period_end = models.DateField(_("to (inclusive)"))
    recorded_at = models.DateTimeField(_("recorded"), default=timezone.now)
    applications = models.PositiveIntegerField(_("applications scored"))
    score_psi = models.FloatField(_("score PSI"), null=True, blank=True)
    score_status = models.CharField(_("score status"), max_length=8, blank=True)
    worst_status = models.CharField(_("worst status"), max_length=8, blank=True, db_index=True)
    characteristics = models.JSONField(_("characteristic PSI"), default=dict)
    score_distribution = models.JSONField(_("score distribution"), default=list)
    grade_distribution = models.JSONField(_("grade distribution"), default=dict)
    fairness = models.JSONField(_("fairness report"), default=dict)

    class Meta:
        verbose_name = _("monitoring snapshot")
        verbose_name_plural = _("monitoring snapshots")
        ordering = ["-period_start", "-recorded_at"]
        get_latest_by = ["period_start", "recorded_at"]
        constraints = [
            models.UniqueConstraint(fields=["model_version", "period_start", "period_end"],
                                    name="scoring_one_snapshot_per_period"),
        ]

    def __str__(self) -> str:
        return f"{self.model_version} {self.period_start}–{self.period_end}"
