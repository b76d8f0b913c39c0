"""The credit assessment of an application: what origination asks scoring and what it does with the
answer. The applicant's features and facts (`applicant`, `policy`), online scoring and the sweep
(`online`, `tasks`), batch rescoring, our own book's outcomes (`book`), monitoring with the fairness
report, and the staff score and monitoring pages and API. The model itself (features schema,
scorecard, rules, registry, training) is the scoring app below."""
