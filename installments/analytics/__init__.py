"""The manager's analytics under /manager/: the portfolio figures (`portfolio`, pure pandas), the
summaries refreshed hourly (`services`), experiment results, and the dashboard pages. A user
interface: it sits above every app it uses (see pyproject.toml)."""
