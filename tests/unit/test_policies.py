"""Pure decisions: categories, retry policy, backoff, thresholds. No I/O."""

import errno
import random
import threading

import pytest

from policies.backoff import Backoff
from policies.categories import JobError, family, is_valid_category, matches
from policies.classify import classify_exit, classify_os_error
from policies.retry import (
    Failure,
    RetryPolicy,
    retry_if_category,
    retry_if_exit_code,
    retry_never,
)
from policies.thresholds import Breaker, parse_fail_after

# -- categories ---------------------------------------------------------------


def test_family_is_the_first_dotted_part():
    assert family("remote.auth") == "remote"
    assert family("internal") == "internal"


def test_a_key_matches_its_category_and_its_family_only():
    assert matches("remote", "remote.auth")
    assert matches("remote.auth", "remote.auth")
    assert not matches("remote", "remotely.auth")
    assert not matches("remote.auth", "remote.auth2")
    assert not matches("command", "remote.auth")


@pytest.mark.parametrize("name", ["remote.auth", "internal", "my_api.quota.daily"])
def test_valid_category_names(name):
    assert is_valid_category(name)


@pytest.mark.parametrize("name", ["", "Remote", "a..b", ".a", "a b", "a."])
def test_invalid_category_names(name):
    assert not is_valid_category(name)


def test_job_error_carries_category_and_retryability():
    err = JobError("quota hit", category="api.quota", retryable=True)
    assert (err.category, err.message, err.retryable) == ("api.quota", "quota hit", True)
    assert str(err) == "quota hit"


def test_job_error_refuses_a_malformed_category():
    with pytest.raises(ValueError):
        JobError("x", category="Not A Category")


# -- classification of local failures ------------------------------------------


def test_nonzero_exit_is_command_failed_and_keeps_the_code():
    failure = classify_exit(3, "boom: bad input")
    assert failure.category == "command.failed"
    assert failure.exit_code == 3
    assert "exit code 3" in failure.message and "boom: bad input" in failure.message


@pytest.mark.parametrize(
    "stage, exc, category",
    [
        ("program", FileNotFoundError(errno.ENOENT, "nope"), "command.not_found"),
        ("program", PermissionError(errno.EACCES, "denied"), "command.not_found"),
        ("input", FileNotFoundError(errno.ENOENT, "nope"), "input.missing"),
        ("input", PermissionError(errno.EACCES, "denied"), "input.unreadable"),
        ("input", IsADirectoryError(errno.EISDIR, "dir"), "input.unreadable"),
        ("output", PermissionError(errno.EACCES, "denied"), "output.write"),
        ("output", OSError(errno.ENOSPC, "No space left on device"), "output.write"),
    ],
)
def test_os_errors_map_to_their_category(stage, exc, category):
    assert classify_os_error(stage, exc).category == category


# -- retry policy -------------------------------------------------------------


def test_conditions_compose_with_or():
    cond = retry_if_category("command.timeout") | retry_if_exit_code(75)
    assert cond(Failure("command.timeout"))
    assert cond(Failure("command.failed", exit_code=75))
    assert not cond(Failure("command.failed", exit_code=1))
    assert not retry_never(Failure("command.timeout"))


def test_retry_if_category_accepts_families():
    assert retry_if_category("remote")(Failure("remote.timeout"))


def test_exit_code_condition_only_applies_to_command_failed():
    assert not retry_if_exit_code(75)(Failure("command.timeout", exit_code=75))


def test_decision_retries_then_exhausts():
    policy = RetryPolicy(max_retries=2, condition=retry_if_category("command.timeout"))
    failure = Failure("command.timeout")
    assert policy.decide(failure, attempt=1) == "retry"
    assert policy.decide(failure, attempt=2) == "retry"
    assert policy.decide(failure, attempt=3) == "retries_exhausted"


def test_non_retryable_failure_fails_at_once():
    policy = RetryPolicy(max_retries=5, condition=retry_if_category("command.timeout"))
    assert policy.decide(Failure("command.failed", exit_code=1), attempt=1) == "failed"


def test_job_error_retryable_flag_overrides_the_condition():
    policy = RetryPolicy(max_retries=1, condition=retry_never)
    assert policy.decide(Failure("api.quota", retryable=True), attempt=1) == "retry"
    policy = RetryPolicy(max_retries=1, condition=retry_if_category("api"))
    assert policy.decide(Failure("api.quota", retryable=False), attempt=1) == "failed"


def test_zero_retries_means_one_attempt():
    policy = RetryPolicy(max_retries=0, condition=retry_if_category("command.timeout"))
    assert policy.decide(Failure("command.timeout"), attempt=1) == "retries_exhausted"


# -- backoff ------------------------------------------------------------------


def test_backoff_without_jitter_is_exponential_and_capped():
    backoff = Backoff(initial=1.0, factor=2.0, max_delay=5.0, jitter=0.0)
    assert backoff.delays(5) == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_backoff_jitter_stays_within_its_band_and_under_the_cap():
    backoff = Backoff(initial=10.0, factor=1.0, max_delay=10.5, jitter=0.1)
    delays = backoff.delays(200, random.Random(7))
    assert all(9.0 <= d <= 10.5 for d in delays)
    assert len(set(delays)) > 1


def test_backoff_of_zero_retries_is_empty():
    assert Backoff().delays(0) == []


# -- thresholds ---------------------------------------------------------------


@pytest.mark.parametrize(
    "text, parsed",
    [("remote.auth=1", ("remote.auth", 1)), (" remote = 20 ", ("remote", 20))],
)
def test_parse_fail_after(text, parsed):
    assert parse_fail_after(text) == parsed


@pytest.mark.parametrize("text", ["remote.auth", "=3", "remote=0", "remote=x", "Bad Cat=2"])
def test_parse_fail_after_refuses_malformed_text(text):
    with pytest.raises(ValueError):
        parse_fail_after(text)


def test_breaker_trips_when_a_family_count_reaches_its_limit():
    breaker = Breaker({"remote": 3, "command.failed": 10})
    assert breaker.record("remote.timeout") is None
    assert breaker.record("command.failed") is None
    assert breaker.record("remote.unavailable") is None
    trip = breaker.record("remote.timeout")
    assert trip is not None and (trip.key, trip.count, trip.limit) == ("remote", 3, 3)
    assert breaker.tripped == trip
    assert "remote" in trip.reason and "3" in trip.reason
    assert breaker.counts == {"remote.timeout": 2, "remote.unavailable": 1, "command.failed": 1}


def test_breaker_counts_exactly_across_threads():
    breaker = Breaker({"x": 1000})
    trips = []

    def hammer():
        for _ in range(250):
            trip = breaker.record("x.y")
            if trip:
                trips.append(trip)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert breaker.counts == {"x.y": 1000}
    assert len(trips) == 1
