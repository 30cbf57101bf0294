"""Generators of the synthetic newspaper-publisher world (customers, subscriptions, emails)."""
