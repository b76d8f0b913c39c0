"""API fuzzing with schemathesis against the OpenAPI schema at /api/schema/ (in-process WSGI app):
no operation answers 500, and every answer's content type and body match what the schema says.

Bounded: 8 generated examples per operation (Hypothesis' generate phase only; the explicit and
coverage phases multiply the run time), so the whole run takes well under a minute.
Runs as a staff member (loan officer, token auth) and as a customer, so both kinds of code paths
are exercised; payloads are random, so most are refused with a 4xx naming the field.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from customers.roles import Role

pytestmark = pytest.mark.django_db


def _load_schema():
    from config.wsgi import application

    return schemathesis.openapi.from_wsgi("/api/schema/", application)


schema = _load_schema()


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """The WSGI transport fires request_started/finished like a server; as Django's test client does,
    keep them from closing the connection that holds the test's transaction."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def token_headers(make_user):
    """Token headers of a loan officer and of a customer with a profile."""
    from knox.models import AuthToken

    from tests.factories import CustomerProfileFactory

    officer, customer = make_user(Role.LOAN_OFFICER), make_user(Role.CUSTOMER)
    CustomerProfileFactory(user=customer)
    return [{"Authorization": f"Token {AuthToken.objects.create(user=user)[1]}"} for user in (officer, customer)]


@schema.parametrize()
@settings(max_examples=8, deadline=None, phases=[Phase.generate], derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_no_operation_answers_500_and_answers_match_the_schema(case, token_headers):
    for headers in token_headers:
        case.call_and_validate(headers=headers, checks=[
            not_a_server_error, content_type_conformance, response_schema_conformance])
