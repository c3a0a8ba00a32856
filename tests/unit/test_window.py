"""The submit window: workers places, one more per job in backoff, never more than the limit."""

import threading

from tasks.window import SubmitWindow


def test_workers_places_then_none_until_a_job_ends():
    window = SubmitWindow(workers=2, limit=8)
    assert window.enter(0) and window.enter(0)
    assert not window.enter(0.01)
    window.leave()
    assert window.enter(0)


def test_a_job_in_backoff_lends_its_place_until_it_wakes():
    window = SubmitWindow(workers=1, limit=8)
    assert window.enter(0)
    with window.waiting():
        assert window.enter(0)  # the waiting job holds no worker
        assert not window.enter(0.01)
    window.leave()
    assert not window.enter(0.01)  # woken, it runs beside the job that took its place
    window.leave()
    assert window.enter(0)


def test_the_limit_caps_places_even_with_jobs_in_backoff():
    window = SubmitWindow(workers=1, limit=2)
    assert window.enter(0)
    with window.waiting():
        assert window.enter(0)
        with window.waiting():
            assert not window.enter(0.01)


def test_a_waiting_submitter_is_woken_when_a_place_comes_free():
    window = SubmitWindow(workers=1, limit=4)
    window.enter(0)
    entered = []
    submitter = threading.Thread(target=lambda: entered.append(window.enter(5)))
    submitter.start()
    window.leave()
    submitter.join(5)
    assert entered == [True]
