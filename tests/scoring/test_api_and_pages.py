"""Who sees scores: the API, the staff pages and the admin."""

import pytest
from django.urls import reverse

from customers.models import AuditEvent
from customers.roles import Role
from installments.assessment import monitoring, online, policy
from scoring import registry
from scoring.models import MonitoringSnapshot, ScoringModelVersion


@pytest.fixture
def scored(model_version, make_customer, make_application):
    customer = make_customer(lines={"income": "12000", "expenses": "3000"})
    application = make_application(customer)
    return online.application_score(application_id=application.pk)


def score_url(pk):
    return reverse("api-application-score", args=[pk])


@pytest.mark.parametrize("role", [Role.LOAN_OFFICER, Role.APPROVER, Role.MANAGER, Role.ADMIN])
def test_staff_roles_read_the_score(scored, make_user, api_client, role):
    api_client.force_authenticate(make_user(role))
    response = api_client.get(score_url(scored.application_id))
    assert response.status_code == 200
    body = response.json()
    assert body["score"] == scored.score and body["grade"] == scored.grade
    assert body["pd"] == str(scored.pd)
    assert body["model_version"] == {"id": scored.model_version_id, "label": "german-test", "is_active": True}
    assert body["reason_codes"] and {"code", "points_lost", "text_en", "text_zh"} <= set(body["reason_codes"][0])
    assert body["rule_hits"] == [] and isinstance(body["anomaly_flags"], list)
    assert body["application_number"] == scored.application.number


def test_customers_are_refused_even_for_their_own_application(scored, api_client):
    api_client.force_authenticate(scored.application.customer)
    assert api_client.get(score_url(scored.application_id)).status_code == 403


def test_collectors_and_anonymous_users_are_refused(scored, api_client, collector):
    assert api_client.get(score_url(scored.application_id)).status_code in (401, 403)
    api_client.force_authenticate(collector)
    assert api_client.get(score_url(scored.application_id)).status_code == 403


def test_unknown_or_unscored_applications_are_404(model_version, officer, api_client, make_customer,
                                                  make_application):
    api_client.force_authenticate(officer)
    assert api_client.get(score_url(999999)).status_code == 404
    unscored = make_application(make_customer())
    assert api_client.get(score_url(unscored.pk)).status_code == 404


def test_the_schema_describes_the_score_endpoint(db, api_client, manager):
    api_client.force_authenticate(manager)
    schema = api_client.get(reverse("api-schema"), {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/applications/{id}/score/"]["get"]
    assert {"200", "403", "404"} <= set(operation["responses"])


def test_officers_see_an_applications_score_page(scored, officer, client_for):
    response = client_for(officer).get(reverse("scoring_application_score", args=[scored.application_id]))
    assert response.status_code == 200
    assert str(scored.score) in response.content.decode()
    assert scored.reason_codes[0]["text_en"] in response.content.decode()


def test_customers_cannot_open_the_score_page(scored, client_for):
    url = reverse("scoring_application_score", args=[scored.application_id])
    assert client_for(scored.application.customer).get(url).status_code == 403


def test_managers_see_monitoring_with_charts_data_and_fairness(scored, manager, client_for):
    client = client_for(manager)
    assert client.post(reverse("scoring_monitoring_record")).status_code == 302
    assert MonitoringSnapshot.objects.count() == 1
    response = client.get(reverse("scoring_monitoring"))
    page = response.content.decode()
    assert response.status_code == 200
    for text in ("german-test", "Population stability", "Fairness", "scoring-chart-data", "js/scoring.js",
                 "Four-fifths rule"):
        assert text in page
    assert "<script>" not in page  # no inline script (CSP)


def test_monitoring_without_a_model_says_how_to_train_one(db, manager, client_for):
    page = client_for(manager).get(reverse("scoring_monitoring")).content.decode()
    assert "train_scoring_model" in page


@pytest.mark.parametrize("role", [Role.LOAN_OFFICER, Role.CUSTOMER, Role.COLLECTOR])
def test_other_roles_cannot_open_monitoring(db, make_user, client_for, role):
    assert client_for(make_user(role)).get(reverse("scoring_monitoring")).status_code == 403


def test_admin_pages_for_every_scoring_model(scored, client_for, make_user):
    policy.policy_rules_ensure_defaults()
    monitoring.monitoring_snapshot_record()
    admin_user = make_user(Role.ADMIN, is_staff=True, is_superuser=True)
    client = client_for(admin_user)
    for model in ("scoringmodelversion", "policyrule", "scoreresult", "monitoringsnapshot"):
        changelist = client.get(reverse(f"admin:scoring_{model}_changelist"), {"q": "a"})
        assert changelist.status_code == 200, model
    version = ScoringModelVersion.objects.get()
    assert client.get(reverse("admin:scoring_scoringmodelversion_change", args=[version.pk])).status_code == 200
    assert client.get(reverse("admin:scoring_scoreresult_change", args=[scored.pk])).status_code == 200


def test_admin_action_activates_a_version_with_an_audit_record(model_version, german, german_trained, client_for,
                                                               make_user):
    card, metrics = german_trained
    other = registry.model_version_create(scorecard=card, metrics=metrics, training_frame=german[0], source="s",
                                          label="challenger-1")
    admin_user = make_user(Role.ADMIN, is_staff=True, is_superuser=True)
    response = client_for(admin_user).post(reverse("admin:scoring_scoringmodelversion_changelist"), {
        "action": "activate", "_selected_action": [other.pk]})
    assert response.status_code == 302
    other.refresh_from_db()
    model_version.refresh_from_db()
    assert other.is_active and not model_version.is_active and other.activated_by == admin_user
    assert AuditEvent.objects.filter(action="scoring.model_version.activate", actor=admin_user).exists()


def test_admin_shows_the_master_scale_as_a_record_and_never_edits_a_versions_grades(model_version, client_for,
                                                                                     make_user):
    admin_user = make_user(Role.ADMIN, is_staff=True, is_superuser=True)
    client = client_for(admin_user)
    url = reverse("admin:scoring_scoringmodelversion_change", args=[model_version.pk])
    before = model_version.grade_bands
    page = client.get(url).content.decode()
    assert 'name="grade_bands"' not in page and "master scale at training" in page.lower()
    response = client.post(url, {"label": "german-test", "description": "",
                                 "grade_bands": '{"labels": ["A","B","C"], "max_pds": [0.05, 0.2]}'})
    assert response.status_code == 302
    model_version.refresh_from_db()
    assert model_version.grade_bands == before and model_version.label == "german-test"
    listing = client.get(reverse("admin:scoring_scoringmodelversion_changelist")).content.decode()
    assert "champion" in listing
