"""Durable facts: the run ledger, run files and the report built from them."""
