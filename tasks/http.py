"""The http converter: POST each input, or each chunk of it, to a remote service.

One pooled ``httpx.Client`` per worker thread, with separate connect and read
timeouts. Every outcome is reduced to plain values and classified by
``policies.classify``; a truncated body is never saved. Secret header values
are masked in every message that leaves this module.
"""

from __future__ import annotations

import mimetypes
import threading
from dataclasses import replace
from datetime import datetime, timezone

import httpx

from policies.classify import classify_http, classify_transport, parse_retry_after
from policies.redact import Redactor
from tasks.chunks import iter_missing, join_parts, part_path, read_chunks, write_part
from tasks.command import check_readable
from tasks.errors import AttemptError, Halted
from tasks.job import JobContext
from tasks.outputs import Finalized, discard, finalize_output, reserve_temp
from tasks.spec import JobSpec

CONNECT_TIMEOUT = 10.0


class HttpConverter:
    def __init__(self, url: str, *, method: str = "POST", headers: dict[str, str] | None = None,
                 timeout: float = 300.0, chunk_lines: int | None = None,
                 redact: Redactor | None = None) -> None:
        self.url, self.method, self.headers = url, method.upper(), dict(headers or {})
        self.timeout = httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT))
        self.chunk_lines = chunk_lines
        self.redact = redact or Redactor([])
        self._local = threading.local()
        self._clients: list[httpx.Client] = []
        self._lock = threading.Lock()

    def _client(self) -> httpx.Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = httpx.Client(timeout=self.timeout, follow_redirects=True)
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def close(self) -> None:
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            client.close()

    def convert(self, job: JobSpec, context: JobContext) -> Finalized:
        check_readable(job.source)
        if not self.chunk_lines:
            with open(job.source, "rb") as handle:
                content = self.call(job, 1, handle.read())
            temp = reserve_temp(job.output)
            try:
                with open(temp, "wb") as handle:
                    handle.write(content)
                return finalize_output(temp, job.output, context.intend)
            finally:
                discard(temp)
        chunks = read_chunks(job.source, self.chunk_lines)
        total = len(chunks)
        done = context.done_parts()
        for index in iter_missing(total, done):
            if context.should_stop():
                raise Halted()
            content = self.call(job, index, chunks[index - 1])
            path = part_path(job.output, index, total)
            write_part(path, content)
            done[index] = path
            context.part_finished(done, total)
        return join_parts(done, job.output, context.intend)

    def call(self, job: JobSpec, part: int, body: bytes) -> bytes:
        """One request; the converted content, or AttemptError with its category."""
        content_type = mimetypes.guess_type(job.source)[0] or "application/octet-stream"
        headers = {**self.headers, "Content-Type": content_type, "X-Convoy-Job": job.id,
                   "X-Convoy-Part": str(part)}
        client = self._client()
        request = client.build_request(self.method, self.url, content=body, headers=headers)
        try:
            response = client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            raise self._failed("timeout", f"no answer within the timeout ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise self._failed("connect", f"connection failed: {type(exc).__name__}: {exc}") from None
        try:
            try:
                payload = response.read()
            except httpx.TimeoutException as exc:
                raise self._failed("timeout",
                                  f"answer not complete within the timeout ({type(exc).__name__})") from None
            except httpx.TransportError as exc:
                raise self._failed("truncated", f"answer cut short: {type(exc).__name__}: {exc}") from None
        finally:
            response.close()
        announced = response.headers.get("Content-Length")
        failure = classify_http(
            response.status_code, body_size=len(payload),
            content_length=int(announced) if announced and announced.isdigit() else None,
            retry_after=parse_retry_after(response.headers.get("Retry-After"),
                                          datetime.now(timezone.utc)),
            body_excerpt="" if response.is_success else payload[:300].decode(errors="replace"),
        )
        if failure is not None:
            raise AttemptError(replace(failure, message=self.redact(failure.message)))
        return payload

    def _failed(self, kind: str, detail: str) -> AttemptError:
        return AttemptError(classify_transport(kind, self.redact(detail)))  # type: ignore[arg-type]
