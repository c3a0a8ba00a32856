"""Remote outcomes to categories: a pure function of status, transport error and headers."""

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from policies.classify import classify_http, classify_transport, parse_retry_after
from policies.redact import Redactor


@pytest.mark.parametrize(
    "status, category",
    [(500, "remote.unavailable"), (502, "remote.unavailable"), (503, "remote.unavailable"),
     (504, "remote.unavailable"), (429, "remote.rate_limited"), (401, "remote.auth"),
     (403, "remote.auth"), (400, "remote.rejected"), (404, "remote.rejected"),
     (422, "remote.rejected")],
)
def test_status_codes(status, category):
    failure = classify_http(status, body_size=10)
    assert failure is not None and failure.category == category
    assert f"HTTP {status}" in failure.message


def test_success_with_a_body_is_no_failure():
    assert classify_http(200, body_size=3) is None


def test_success_with_an_empty_body_is_a_bad_response():
    assert classify_http(200, body_size=0).category == "remote.bad_response"


def test_a_body_shorter_than_announced_is_a_bad_response():
    failure = classify_http(200, body_size=5, content_length=10)
    assert failure.category == "remote.bad_response" and "5 of 10" in failure.message


def test_retry_after_is_kept_on_429_and_503_only():
    assert classify_http(429, body_size=0, retry_after=2.0).retry_after == 2.0
    assert classify_http(503, body_size=0, retry_after=2.0).retry_after == 2.0
    assert classify_http(500, body_size=0, retry_after=2.0).retry_after is None


def test_the_reason_in_the_body_is_quoted_briefly():
    failure = classify_http(400, body_size=20, body_excerpt="unsupported format\nmore")
    assert "unsupported format" in failure.message and "\n" not in failure.message


@pytest.mark.parametrize(
    "kind, category",
    [("timeout", "remote.timeout"), ("connect", "remote.connect"), ("reset", "remote.connect"),
     ("truncated", "remote.bad_response")],
)
def test_transport_errors(kind, category):
    assert classify_transport(kind, "detail").category == category


def test_parse_retry_after_seconds_and_dates():
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert parse_retry_after("3", now) == 3.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=7), usegmt=True), now) == 7.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None
    assert parse_retry_after("-4", now) == 0.0


def test_redactor_hides_every_secret_value():
    redact = Redactor(["s3cr3t-token", ""])
    assert redact("Bearer s3cr3t-token failed") == "Bearer *** failed"
    assert Redactor([])("plain") == "plain"
