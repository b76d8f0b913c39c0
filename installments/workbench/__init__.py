"""The staff workbench under /staff/: the work queue, the application page, decisions, contracts and
activation. A user interface: it sits above every app it uses (see pyproject.toml)."""
