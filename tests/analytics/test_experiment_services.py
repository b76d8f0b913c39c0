"""Experiments: define, start, stop (history kept), stable assignment, the offer hook, results."""

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from config.errors import DomainError
from customers.models import AuditEvent
from customers.roles import Role
from installments.analytics import services as dashboard_services
from installments.engine.offers import CreditStance, CustomerFinances, Preference, offers_build
from installments.models import Application, Experiment, ExperimentAssignment
from installments.origination import experiments, selectors
from tests.collections_app.factories import contract_accepted, customer_make
from tests.factories import WorkbenchProductFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def product():
    return WorkbenchProductFactory()


def make(by, product, **fields):
    values = {"key": "price-minus-half", "name": "Half a point cheaper", "product": product,
              "rate_adjustment": Decimal("-0.5"), "ratio": Decimal("0.5")}
    return experiments.experiment_create(by=by, **{**values, **fields})


def test_manager_defines_starts_and_stops_an_experiment_with_history(manager, product):
    experiment = make(manager, product, start=True)
    assert experiment.state == Experiment.State.RUNNING and experiment.started_by == manager
    stopped = experiments.experiment_stop(experiment=experiment, by=manager, reason="Enough data.")
    assert stopped.state == Experiment.State.STOPPED and stopped.stop_reason == "Enough data."
    actions = list(AuditEvent.objects.filter(target_id=str(experiment.pk), action__startswith="experiment")
                   .order_by("pk").values_list("action", "to_state"))
    assert actions == [("experiment.create", "draft"), ("experiment.state", "running"),
                       ("experiment.state", "stopped")]
    with pytest.raises(DomainError) as error:
        experiments.experiment_start(experiment=stopped, by=manager)
    assert error.value.field == "state"
    assert Experiment.objects.filter(pk=experiment.pk).exists()  # kept, never deleted


def test_one_running_experiment_per_product(manager, product):
    make(manager, product, start=True)
    second = make(manager, product, key="longer-term", rate_adjustment=0, default_term_months=24)
    with pytest.raises(DomainError) as error:
        experiments.experiment_start(experiment=second, by=manager)
    assert error.value.field == "state"


@pytest.mark.parametrize(("fields", "field"), [
    ({"rate_adjustment": Decimal("6")}, "rate_adjustment"),
    ({"rate_adjustment": 0}, "rate_adjustment"),  # changes nothing
    ({"ratio": Decimal("0.99")}, "ratio"),
    ({"default_term_months": 120}, "default_term_months"),
    ({"key": "  "}, "key"),
])
def test_experiment_rules_name_the_field(manager, product, fields, field):
    with pytest.raises(DomainError) as error:
        make(manager, product, **fields)
    assert error.value.field == field


def test_a_key_is_never_reused_and_only_managers_define(manager, officer, product):
    make(manager, product)
    with pytest.raises(DomainError) as error:
        make(manager, product, name="Again")
    assert error.value.field == "key"
    with pytest.raises(PermissionDenied):
        make(officer, product, key="officer-try")


def test_variant_for_assigns_each_customer_once_and_stably(manager, product):
    application = Application.objects.create(customer=customer_make(), product=product, amount=Decimal("20000"),
                                             term_months=12, state="scored")
    assert experiments.experiment_variant_for(application=application) is None  # nothing running
    experiment = make(manager, product, default_term_months=18, start=True)
    first = experiments.experiment_variant_for(application=application)
    again = experiments.experiment_variant_for(application=application)
    assert first == again
    expected_arm = experiments.assign_arm(experiment.key, application.customer_id, experiment.ratio)
    assert first["arm"] == expected_arm and first["experiment"] == experiment.key
    if expected_arm == experiments.VARIANT:
        assert (first["rate_adjustment"], first["default_term_months"]) == ("-0.5000", 18)
    else:
        assert (first["rate_adjustment"], first["default_term_months"]) == ("0", None)
    assignment = ExperimentAssignment.objects.get(experiment=experiment)
    assert (assignment.customer_id, assignment.application_id, assignment.arm) == (
        application.customer_id, application.pk, expected_arm)
    experiments.experiment_stop(experiment=experiment, by=manager, reason="done")
    assert experiments.experiment_variant_for(application=application) is None


def test_the_variant_changes_the_offers_price_and_term(product):
    """What the hook does to the offer engine's inputs: the variant's customers are priced at the
    tier's rate plus the adjustment and offered the default term when they named none."""
    terms = selectors.product_terms(product)
    finances = CustomerFinances(monthly_income=Decimal("30000"))
    preference = Preference(amount=Decimal("20000"), disbursement_date=timezone.localdate())
    variant = {"arm": "variant", "rate_adjustment": "1.5000", "default_term_months": 18}
    base = offers_build(product=terms, stance=CreditStance(), finances=finances, grade="B", preference=preference)
    stance, changed = experiments.variant_apply(variant, stance=CreditStance(), preference=preference)
    tried = offers_build(product=terms, stance=stance, finances=finances, grade="B", preference=changed)
    assert {o.schedule.terms.annual_rate for o in base.offers if o.method != "zero_interest"} == {Decimal("10")}
    assert {o.schedule.terms.annual_rate for o in tried.offers if o.method != "zero_interest"} == {Decimal("11.5")}
    assert 18 in {o.term for o in tried.offers}


def test_offers_generated_for_an_application_use_its_arm(manager, product):
    """End to end through installments.origination.applications.application_offers_generate: the applicant is
    assigned, the arm's price applied and the arm kept on the application's offer summary."""
    from installments.origination import applications as installment_services
    from tests.factories import workbench_case

    experiment = make(manager, product, rate_adjustment=Decimal("2"), ratio=Decimal("0.95"), start=True)
    application = workbench_case(grade="B")
    Application.objects.filter(pk=application.pk).update(product=product)
    application.refresh_from_db()
    offers = installment_services.application_offers_generate(application=application)
    arm = experiments.assign_arm(experiment.key, application.customer_id, experiment.ratio)
    rates = {o.annual_rate for o in offers if o.method != "zero_interest"}
    assert rates == ({Decimal("12")} if arm == experiments.VARIANT else {Decimal("10")})
    application.refresh_from_db()
    assert application.offer_summary["experiment"]["arm"] == arm
    assert ExperimentAssignment.objects.get(experiment=experiment, customer=application.customer).arm == arm


def test_results_compare_take_up_and_apr_by_arm(manager, product):
    experiment = make(manager, product, start=True)
    for arm, accepted_rates, others in (("control", ["12", "14"], 2), ("variant", ["11"], 3)):
        for rate in accepted_rates:
            contract = contract_accepted(product=product, rate=rate)
            ExperimentAssignment.objects.create(experiment=experiment, customer=contract.application.customer,
                                                arm=arm, application=contract.application)
        for _ in range(others):
            customer = customer_make()
            application = Application.objects.create(customer=customer, product=product, amount=Decimal("9000"),
                                                     state="declined")
            ExperimentAssignment.objects.create(experiment=experiment, customer=customer, arm=arm,
                                                application=application)
    results = dashboard_services.experiment_results(experiment)
    assert results["assigned"] == {"control": 4, "variant": 4}
    take_up = results["comparison"]["take_up"]
    assert (take_up["control"]["value"], take_up["variant"]["value"]) == (0.5, 0.25)
    assert take_up["difference"]["difference"] == pytest.approx(-0.25)
    apr = results["comparison"]["average_apr"]
    assert apr["control"]["n"] == 2 and apr["control"]["value"] == pytest.approx(13.0, abs=0.05)
    assert results["comparison"]["early_delinquency"]["control"]["n"] == 0  # no plans yet


def test_only_managers_and_admins_may_run_experiments(make_user, product):
    admin = make_user(Role.ADMIN)
    assert make(admin, product).created_by == admin
    with pytest.raises(PermissionDenied):
        make(make_user(Role.APPROVER), product, key="approver-try")
