"""Training data for new model versions: a CSV whose columns use the schema's names
(`training_data_from_csv`). Our own book as training data is installments' (it reads plans):
`installments.assessment.book.training_data_from_book`.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from django.utils.translation import gettext

from config.errors import DomainError
from scoring.features import FEATURE_NAMES, PROTECTED_ATTRIBUTES, FeatureSchemaError, validate_frame

MIN_TRAINING_ROWS = 50
MIN_TRAINING_CLASS_ROWS = 10
# A column missing on this share of the rows or more says nothing the model could learn from: refused.
MAX_MISSING_SHARE = 0.9


def _target_values(column: pd.Series, name: str) -> pd.Series:
    """A CSV target column as 0 (good) / 1 (bad); accepts 0/1, true/false and good/bad."""
    if column.isna().any():
        line = int(column.index[column.isna().to_numpy().argmax()]) + 2
        raise DomainError(gettext("target column “%(column)s” is empty on line %(line)s of the file.")
                          % {"column": name, "line": line}, field=name, code="target_missing_value")
    words = {"0": 0, "1": 1, "0.0": 0, "1.0": 1, "good": 0, "bad": 1, "false": 0, "true": 1}
    text = column.astype(str).str.strip().str.lower()
    mapped = text.map(words)
    if mapped.isna().any():
        found = sorted(set(text[mapped.isna()]))[:5]
        raise DomainError(gettext("target column “%(column)s” must be binary (0 = good, 1 = bad, or good/bad); "
                                  "found %(values)s.") % {"column": name, "values": ", ".join(found)},
                          field=name, code="target_not_binary")
    values = mapped.astype("int64").rename("bad")
    counts = values.value_counts()
    goods, bads = int(counts.get(0, 0)), int(counts.get(1, 0))
    if min(goods, bads) < MIN_TRAINING_CLASS_ROWS:
        raise DomainError(gettext("target column “%(column)s” needs at least %(n)s goods and %(n)s bads; found "
                                  "%(goods)s goods and %(bads)s bads.")
                          % {"column": name, "n": MIN_TRAINING_CLASS_ROWS, "goods": goods, "bads": bads},
                          field=name, code="target_not_binary")
    return values


def training_data_from_csv(path: str | Path, *, target: str, ignore_unknown: bool = False,
                           ) -> tuple[pd.DataFrame, pd.Series, list[str]]:
    """Read a training CSV whose columns use the schema's names (missing ones allowed).

    Returns (features, target 0/1, notes). Protected attributes are dropped (with a note); other
    unknown columns are an error naming them unless `ignore_unknown`. Raises DomainError naming
    the column at fault (`field`): missing target, a non-binary target, a value that does not fit
    the feature's type or allowed values, an unknown column.
    """
    path = Path(path)
    try:
        frame = pd.read_csv(path, skipinitialspace=True)
    except FileNotFoundError:
        raise DomainError(gettext("No such file: %(path)s") % {"path": path}, field="data")
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise DomainError(gettext("Cannot read %(path)s as CSV: %(error)s") % {"path": path, "error": error},
                          field="data")
    frame.columns = [str(c).strip() for c in frame.columns]
    if target not in frame.columns:
        raise DomainError(gettext("target column “%(column)s” not found; the file has: %(columns)s.")
                          % {"column": target, "columns": ", ".join(frame.columns)}, field=target,
                          code="target_missing")
    if len(frame) < MIN_TRAINING_ROWS:
        raise DomainError(gettext("The file has %(n)s rows; at least %(min)s are needed to train.")
                          % {"n": len(frame), "min": MIN_TRAINING_ROWS}, field="data")
    notes = []
    unknown = [c for c in frame.columns if c != target and c not in FEATURE_NAMES]
    for column in unknown:
        if column in PROTECTED_ATTRIBUTES:
            notes.append(gettext("Ignored protected attribute “%(column)s”: it is never a model input.")
                         % {"column": column})
        elif ignore_unknown:
            notes.append(gettext("Ignored column “%(column)s”: not in the feature schema.") % {"column": column})
        else:
            raise DomainError(gettext("unknown column “%(column)s”: not in the feature schema (scoring/features.py); "
                                      "rename it or pass --ignore-unknown.") % {"column": column},
                              field=column, code="unknown_column")
    present = [c for c in frame.columns if c in FEATURE_NAMES]
    if not present:
        raise DomainError(gettext("No column of the file is a schema feature."), field="data")
    y = _target_values(frame[target], target)
    X = frame[present]  # noqa: N806 - scikit-learn's name for the feature matrix
    try:
        validate_frame(X)
    except FeatureSchemaError as error:
        # The frame keeps the file's RangeIndex: row 0 is line 2, below the header.
        line = "" if error.row is None else f" (line {int(error.row) + 2} of the file)"
        raise DomainError(f"{error.column}: {error.message}{line}", field=error.column, code="feature_schema")
    for column in present:
        share = float(X[column].isna().mean())
        if share >= MAX_MISSING_SHARE:
            raise DomainError(gettext("column “%(column)s” is empty on %(share)s of the rows; a column missing on "
                                      "%(max)s or more cannot be learnt from. Fill it or drop it.")
                              % {"column": column, "share": f"{share:.0%}", "max": f"{MAX_MISSING_SHARE:.0%}"},
                              field=column, code="mostly_missing")
    return X, y, notes
