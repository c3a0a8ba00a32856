"""The rotating log file on a real folder: each record formatted once, sizes kept."""

import logging

from flows.logs import LOG_FILE, configure_logging


class CountingFormatter(logging.Formatter):
    calls = 0

    def format(self, record):
        CountingFormatter.calls += 1
        return super().format(record)


def test_each_record_is_formatted_once_and_the_file_rotates_at_max_bytes(tmp_path):
    logger = configure_logging("information", tmp_path, max_bytes=1000, backups=3, to_stderr=False)
    (file_handler,) = [h for h in logger.handlers if isinstance(h, logging.FileHandler)]
    file_handler.setFormatter(CountingFormatter("%(message)s"))
    try:
        for i in range(60):
            logger.info("line %03d %s", i, "x" * 40)
    finally:
        configure_logging("none", tmp_path, 1000, 3, to_stderr=False)
    assert CountingFormatter.calls == 60
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == [LOG_FILE, f"{LOG_FILE}.1", f"{LOG_FILE}.2", f"{LOG_FILE}.3"]
    assert all(p.stat().st_size <= 1000 for p in tmp_path.iterdir())
    assert (tmp_path / LOG_FILE).read_text().splitlines()[-1] == "line 059 " + "x" * 40
