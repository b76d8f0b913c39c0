"""Online scoring reads the applicant's identity history (earlier results carrying the profile's ID
number hash) with the profile's lines, in one query: it is what `policy.identity_history` reads."""

import pytest
from django.db import transaction

from installments.assessment import online, policy
from scoring.models import ScoreResult


@pytest.fixture
def scored(model_version, make_customer, make_application):
    """Three customers scored once; the third's results are then made to carry the first's ID
    number hash (another customer, another name); the first one's own result is not its history."""
    customers = [make_customer() for _ in range(3)]
    results = [online.application_score(application_id=make_application(c).pk) for c in customers]
    ScoreResult.objects.filter(pk=results[2].pk).update(id_number_hash=results[0].id_number_hash,
                                                        name_hash="another-name")
    return customers, results


def _both(application_id: int):
    with transaction.atomic():
        application = online._application_to_score(application_id)
        profile = online._profile_of(application.customer)
        _, _, rows = online._profile_lines_tier_rates_and_identity_rows(profile=profile,
                                                                        product_id=application.product_id)
        folded = online._identity_history(application=application, profile=profile, rows=rows)
        return folded, policy.identity_history(application=application, profile=profile)


def test_the_identity_read_with_the_lines_is_what_identity_history_reads(scored):
    customers, results = scored
    first, second, _ = results
    folded, separate = _both(first.application_id)
    assert folded == separate
    assert folded.other_customer and folded.name_hashes == {"another-name"}  # its own result left out
    folded, separate = _both(second.application_id)
    assert folded == separate and not folded.other_customer and folded.name_hashes == frozenset()


def test_a_profile_without_an_id_number_hash_has_no_identity_history(scored):
    customers, results = scored
    profile = customers[1].profile
    type(profile).objects.filter(pk=profile.pk).update(id_number_hash="")
    ScoreResult.objects.filter(pk=results[2].pk).update(id_number_hash="")
    folded, separate = _both(results[1].application_id)
    assert folded == separate == policy.IdentityHistory()
