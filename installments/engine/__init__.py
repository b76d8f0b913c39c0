"""The plan engine: exact Decimal schedules with their disclosure (`schedules`) and the offer engine
(`offers`). Pure Python, no Django (an import-linter contract keeps it so)."""
