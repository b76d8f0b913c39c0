"""Batch rescoring of the book: vectorised, the same answers as online scoring, decided results kept."""

from io import StringIO

import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from installments.assessment import online, rescoring
from installments.models import Application
from scoring import registry
from scoring.features import validate_frame
from scoring.models import ScoreResult


@pytest.fixture
def book(model_version, make_customer, make_application):
    """Three scored applications; the last one declined later by an officer."""
    results = []
    for income in ("8000", "15000", "30000"):
        customer = make_customer(lines={"income": income, "expenses": "2000"})
        results.append(online.application_score(application_id=make_application(customer).pk))
    Application.objects.filter(pk=results[-1].application_id).update(state=Application.State.DECLINED)
    return results


def test_vectorised_points_and_reasons_match_score_one(model_version, german):
    card = registry.model_version_scorecard(model_version)
    X = german[0].head(300)
    frame = validate_frame(X)
    points, _ = rescoring.points_matrix(card, frame)
    reason_index, reason_lost = rescoring.reason_matrix(card, points)
    scored = card.score_frame(X)
    for i in range(len(X)):
        one = card.score_one(X.iloc[i].to_dict())
        assert one.score == scored["score"].iat[i] == points[i].sum()
        expected = [(r.feature, r.points_lost) for r in one.reason_codes]
        got = [(card.feature_names[j], int(lost)) for j, lost in zip(reason_index[i], reason_lost[i], strict=True)
               if j >= 0]
        assert got == expected


def test_rescoring_updates_open_applications_and_keeps_history(book, german, german_trained, settings):
    # A new model, activated, under a master scale so loose that every applicant is graded A.
    card, metrics = german_trained
    newer = registry.model_version_create(scorecard=card, metrics=metrics, training_frame=german[0], source="s",
                                          label="newer")
    registry.model_version_activate(version=newer, by=None)
    settings.SCORING_MASTER_SCALE = (0.9, 0.91, 0.92, 0.93, 0.94, 0.95)
    report = rescoring.book_rescore()
    assert report.rows == 2 and report.written == 2 and report.rows_per_second > 0
    open_results = ScoreResult.objects.filter(pk__in=[r.pk for r in book[:2]])
    for result in open_results:
        assert result.model_version == newer and result.grade == "A" and result.rescored_at
        assert len(result.history) == 1 and result.history[0]["model_version"] != newer.pk
        assert result.score == sum(result.points_by_feature.values())
    declined = ScoreResult.objects.get(pk=book[2].pk)
    assert declined.model_version != newer and declined.rescored_at is None


def test_all_scores_decided_applications_without_touching_their_record(book):
    report = rescoring.book_rescore(include_decided=True, write=False)
    assert report.rows == 3 and report.written == 0
    assert list(report.frame["score"]) == [r.score for r in book]
    assert not ScoreResult.objects.filter(rescored_at__isnull=False).exists()


def test_the_command_prints_rows_per_second_and_writes_a_csv(book, tmp_path):
    out = StringIO()
    path = tmp_path / "rescored.csv"
    call_command("rescore_book", "--all", "--output", str(path), stdout=out)
    text = out.getvalue()
    assert "rows/s" in text and "scored 3 applications" in text and "Updated 2" in text
    assert len(pd.read_csv(path)) == 3


def test_the_command_without_a_model_is_a_clear_error(db):
    with pytest.raises(CommandError, match="No scoring model is active"):
        call_command("rescore_book", stdout=StringIO())
