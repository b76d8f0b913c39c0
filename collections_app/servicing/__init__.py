"""Servicing: a plan's money and its changes — activation, payments and their allocation, the plan's
position and payoff quotes, servicing requests and hardship measures with maker-checker, the
customer's repayment record, payment intents and providers, receipts, bank import, and the adapters
to the schedule engine."""
