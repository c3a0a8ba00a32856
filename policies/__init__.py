"""Pure decisions over plain values: error categories, retries, backoff, thresholds.

Nothing here does I/O or imports Prefect, httpx or SQLAlchemy, so every rule
can be unit-tested in microseconds and reused by any converter.
"""
