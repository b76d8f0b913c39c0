"""Origination: applications and their states (`applications`), products, policies and offers
(`selectors`), officers' and approvers' decisions (`decisions`, `reasons`), contracts (`contracts`),
notices to the applicant (`notices`) and product experiments (`experiments`)."""
