"""Online scoring through `application_score`: one stored result, the state change, knock-out rules,
anomaly flags, the sweep and the offers hook."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

import installments.origination.applications as installment_services
from config.errors import DomainError
from customers.audit import audit_record  # noqa: F401 - imported for the audit trail checks below
from customers.models import AuditEvent
from customers.services import profile_repayment_record_update
from installments.assessment import online, policy, selectors
from installments.models import Application
from scoring import registry, rules
from scoring.models import PolicyRule, ScoreResult, ScoringModelVersion
from scoring.scorecard import Scorecard
from tests.factories import UserFactory
from tests.scoring.conftest import add_statement


@pytest.fixture
def good_customer(make_customer):
    return make_customer(lines={"income": "15000", "expenses": "3000", "assets": [("property", "900000")]})


def test_scoring_stores_one_result_and_moves_the_application_to_scored(model_version, good_customer,
                                                                        make_application):
    application = make_application(good_customer)
    result = online.application_score(application_id=application.pk)
    application.refresh_from_db()
    assert application.state == Application.State.SCORED
    assert result.model_version == model_version
    assert result.outcome == ScoreResult.Outcome.SCORED
    assert result.grade in "ABCDEFG" and 0 < result.pd < 1
    assert result.features["monthly_income"] == 15000.0
    assert result.context["installment_basis"] == "reference_annuity"
    assert result.duration_ms > 0
    event = AuditEvent.objects.filter(target_id=str(application.pk), to_state="scored").get()
    assert event.actor is None and str(result.score) in event.reason


def test_points_and_reason_codes_agree_with_the_scorecard(model_version, good_customer, make_application):
    application = make_application(good_customer)
    result = online.application_score(application_id=application.pk)
    card = Scorecard.from_dict(model_version.scorecard)
    assert result.score == sum(result.points_by_feature.values())
    assert set(result.points_by_feature) == set(card.feature_names)
    best = {f.name: f.best_points for f in card.features}
    lost = [r["points_lost"] for r in result.reason_codes]
    assert lost == sorted(lost, reverse=True) and len(lost) <= 4
    for reason in result.reason_codes:
        assert reason["points_lost"] == best[reason["feature"]] - result.points_by_feature[reason["feature"]]
        assert reason["text_en"] and reason["text_zh"]
    assert float(result.pd) == pytest.approx(float(card.scaling.pd_from_score(result.score)), abs=1e-6)


def test_scoring_twice_returns_the_same_single_result(model_version, good_customer, make_application):
    application = make_application(good_customer)
    first = online.application_score(application_id=application.pk)
    second = online.application_score(application_id=application.pk)
    assert first.pk == second.pk
    assert ScoreResult.objects.filter(application=application).count() == 1
    with pytest.raises(IntegrityError), transaction.atomic():
        ScoreResult.objects.create(application=application, model_version=model_version, score=1, pd=Decimal("0.5"),
                                   grade="G", duration_ms=1)


def test_a_resubmitted_application_is_rescored_in_place(model_version, good_customer, make_application):
    application = make_application(good_customer)
    first = online.application_score(application_id=application.pk)
    installment_services.application_transition(application=application, to=Application.State.SUBMITTED,
                                                by=good_customer)
    second = online.application_score(application_id=application.pk)
    assert second.pk == first.pk
    assert len(second.history) == 1 and second.history[0]["score"] == first.score
    assert ScoreResult.objects.filter(application=application).count() == 1


def test_only_submitted_applications_are_scored(model_version, good_customer, make_application):
    draft = make_application(good_customer, submit=False)
    with pytest.raises(DomainError) as error:
        online.application_score(application_id=draft.pk)
    assert error.value.field == "state"
    with pytest.raises(DomainError) as error:
        online.application_score(application_id=987654)
    assert error.value.code == "not_found"
    assert not ScoreResult.objects.exists()


def test_without_an_active_model_nothing_changes(db, good_customer, make_application):
    application = make_application(good_customer)
    with pytest.raises(DomainError) as error:
        online.application_score(application_id=application.pk)
    assert error.value.code == "no_active_model"
    application.refresh_from_db()
    assert application.state == Application.State.SUBMITTED
    assert not ScoreResult.objects.exists()


def test_a_knock_out_declines_records_the_rule_and_tells_the_customer(model_version, make_customer,
                                                                        make_application):
    policy.policy_rules_ensure_defaults()
    poor = make_customer(lines={"income": "1500", "expenses": "800"})
    application = make_application(poor)
    result = online.application_score(application_id=application.pk)
    application.refresh_from_db()
    assert application.state == Application.State.DECLINED
    assert result.outcome == ScoreResult.Outcome.KNOCKED_OUT
    names = [hit["rule"] for hit in result.knock_out_hits]
    assert "Monthly income below 2,000" in names
    event = AuditEvent.objects.get(target_id=str(application.pk), to_state="declined")
    assert event.reason.startswith("knock-out: ") and "Monthly income below 2,000" in event.reason
    reasons = selectors.decline_reasons(application, language="en")
    assert any("minimum of 2000" in text for text in reasons)
    assert any("最低要求" in text for text in selectors.decline_reasons(application, language="zh-hans"))


def test_default_rules_let_a_good_applicant_through(model_version, good_customer, make_application):
    policy.policy_rules_ensure_defaults()
    assert policy.policy_rules_ensure_defaults() == 0  # idempotent
    application = make_application(good_customer)
    result = online.application_score(application_id=application.pk)
    assert result.rule_hits == [] and result.outcome == ScoreResult.Outcome.SCORED


def test_a_referral_rule_is_recorded_without_declining(model_version, good_customer, make_application):
    PolicyRule.objects.create(name="Ask about age", kind=rules.MAX_AGE, threshold=Decimal("20"), knock_out=False)
    application = make_application(good_customer)
    result = online.application_score(application_id=application.pk)
    application.refresh_from_db()
    assert application.state == Application.State.SCORED
    assert [hit["rule"] for hit in result.rule_hits] == ["Ask about age"]


def test_rules_out_of_force_are_not_applied(model_version, good_customer, make_application):
    today = timezone.localdate()
    PolicyRule.objects.create(name="Future", kind=rules.MAX_AGE, threshold=Decimal("20"),
                              effective_from=today + timedelta(days=1))
    PolicyRule.objects.create(name="Inactive", kind=rules.MAX_AGE, threshold=Decimal("20"), is_active=False)
    PolicyRule.objects.create(name="Ended", kind=rules.MAX_AGE, threshold=Decimal("20"),
                              effective_from=today - timedelta(days=10), effective_to=today)
    result = online.application_score(application_id=make_application(good_customer).pk)
    assert result.rule_hits == []


def test_open_delinquency_with_us_knocks_out(model_version, good_customer, make_application):
    PolicyRule.objects.create(name="Overdue with us", kind=rules.OPEN_DELINQUENCY_WITH_US, threshold=Decimal("0"))
    profile_repayment_record_update(profile=good_customer.profile, data={"current_overdue": Decimal("300")})
    result = online.application_score(application_id=make_application(good_customer).pk)
    assert [hit["kind"] for hit in result.knock_out_hits] == [rules.OPEN_DELINQUENCY_WITH_US]


def test_invalid_and_duplicate_id_rules(model_version, good_customer, make_customer, make_application):
    PolicyRule.objects.create(name="ID invalid", kind=rules.INVALID_ID)
    PolicyRule.objects.create(name="ID reused", kind=rules.DUPLICATE_ID)
    first = online.application_score(application_id=make_application(good_customer).pk)
    assert first.rule_hits == []
    # The same ID number seen on another customer's earlier application.
    other = make_customer()
    other_application = make_application(other)
    online.application_score(application_id=other_application.pk)
    ScoreResult.objects.filter(application=other_application).update(id_number_hash=first.id_number_hash)
    again = make_application(good_customer)
    result = online.application_score(application_id=again.pk)
    assert [hit["rule"] for hit in result.rule_hits] == ["ID reused"]
    # An ID number that no longer validates (stored before the check existed, say).
    profile = other.profile
    from customers.pii import encrypt

    type(profile).objects.filter(pk=profile.pk).update(id_number_encrypted=encrypt("110101199003070000"))
    result = online.application_score(application_id=make_application(other).pk)
    assert "ID invalid" in [hit["rule"] for hit in result.rule_hits]


def test_anomaly_flags_are_recorded_but_never_decline(model_version, make_customer, make_application, settings):
    settings.SCORING_ANOMALY_INCOME_MIN_PEERS = 5
    for n in range(6):
        make_customer(occupation="teacher", lines={"income": str(6000 + 100 * n)})
    rich = make_customer(occupation="teacher", lines={"income": "60000"})
    add_statement(rich.profile, inflow="6500")
    for _ in range(2):
        make_application(rich)
    application = make_application(rich)
    result = online.application_score(application_id=application.pk)
    codes = {flag["code"] for flag in result.anomaly_flags}
    assert {"income_outside_occupation_range", "inflow_contradicts_income", "application_burst_phone",
            "application_burst_email"} <= codes
    application.refresh_from_db()
    assert application.state == Application.State.SCORED


def test_same_id_under_a_different_name_is_flagged(model_version, good_customer, make_application):
    first = online.application_score(application_id=make_application(good_customer).pk)
    assert first.anomaly_flags == [] or "same_id_different_names" not in {f["code"] for f in first.anomaly_flags}
    type(good_customer.profile).objects.filter(pk=good_customer.profile.pk).update(full_name="Somebody Else")
    result = online.application_score(application_id=make_application(good_customer).pk)
    assert "same_id_different_names" in {flag["code"] for flag in result.anomaly_flags}


def test_the_sweep_scores_applications_left_in_submitted(model_version, good_customer, make_application):
    stuck = make_application(good_customer)
    fresh = make_application(good_customer)
    Application.objects.filter(pk=stuck.pk).update(updated_at=timezone.now() - timedelta(minutes=5))
    report = online.applications_score_pending()
    assert report.scored == [stuck.pk]
    stuck.refresh_from_db()
    fresh.refresh_from_db()
    assert stuck.state == Application.State.SCORED and fresh.state == Application.State.SUBMITTED


def test_the_sweep_task_runs_eagerly_too(model_version, good_customer, make_application):
    from installments.assessment.tasks import score_application, score_pending_applications

    stuck = make_application(good_customer)
    Application.objects.filter(pk=stuck.pk).update(updated_at=timezone.now() - timedelta(minutes=5))
    assert score_pending_applications.apply(kwargs={}).get()["scored"] == [stuck.pk]
    assert score_application.apply(args=[stuck.pk]).get()["score"] == stuck.score_result.score
    assert score_application.apply(args=[123456]).get() is None


def test_offers_are_generated_after_scoring(model_version, good_customer, make_application, monkeypatch):
    seen = []

    def generate(*, application, **known):
        seen.append((application.pk, application.state, ScoreResult.objects.filter(application=application).exists()))

    monkeypatch.setattr(online, "application_offers_generate", generate)
    application = make_application(good_customer)
    online.application_score(application_id=application.pk)
    assert seen == [(application.pk, Application.State.SCORED, True)]


def test_an_offer_refusal_leaves_the_application_scored(model_version, good_customer, make_application,
                                                         monkeypatch):
    def generate(*, application, **known):
        raise DomainError("Nothing affordable.")

    monkeypatch.setattr(online, "application_offers_generate", generate)
    application = make_application(good_customer)
    online.application_score(application_id=application.pk)
    application.refresh_from_db()
    assert application.state == Application.State.SCORED
    assert AuditEvent.objects.filter(action="scoring.offers_not_generated", target_id=str(application.pk)).exists()


def test_only_one_model_version_can_be_active(model_version, german, german_trained):
    card, metrics = german_trained
    second = registry.model_version_create(scorecard=card, metrics=metrics, training_frame=german[0], source="s",
                                           label="second")
    manager = UserFactory()
    registry.model_version_activate(version=second, by=manager)
    assert list(ScoringModelVersion.objects.filter(is_active=True)) == [second]
    second.refresh_from_db()
    assert second.activated_by == manager and second.activated_at
    assert AuditEvent.objects.filter(action="scoring.model_version.activate", target_id=str(second.pk),
                                     actor=manager).exists()
    with pytest.raises(IntegrityError), transaction.atomic():
        ScoringModelVersion.objects.filter(pk=model_version.pk).update(is_active=True)


def test_the_master_scale_decides_the_grade(model_version, good_customer, make_application, settings):
    settings.SCORING_MASTER_SCALE = (0.9, 0.91, 0.92, 0.93, 0.94, 0.95)
    result = online.application_score(application_id=make_application(good_customer).pk)
    assert result.grade == "A"
    settings.SCORING_MASTER_SCALE = (0.5, 0.1)
    with pytest.raises(DomainError) as error:
        online.application_score(application_id=make_application(good_customer).pk)
    assert error.value.field == "SCORING_MASTER_SCALE"
