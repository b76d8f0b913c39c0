"""The books: a double-entry general ledger (chart of accounts, accounting periods, immutable
balanced journal entries). Money events post here through `services.journal_post`."""
