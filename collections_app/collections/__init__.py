"""Delinquency and collections: buckets, the delinquency of one plan, collection cases, the close of
business over the whole book and payment reminders."""
