"""Is the Prefect server that PREFECT_API_URL names answering? Ask once, quickly, before a run.

Prefect's client keeps retrying a server that does not answer, then fails with
a traceback; a run must instead be refused at once, in one line, before
anything is recorded. Without PREFECT_API_URL Prefect starts a server of its
own, and there is nothing to check. Prefect is imported only when asked, so
that importing ``ServerUnreachable`` costs nothing.
"""

from __future__ import annotations

import ssl
from typing import Any

HEALTH_TIMEOUT = 5.0  # seconds; a local server answers in milliseconds


class ServerUnreachable(Exception):
    """The Prefect API cannot be used; the message is one line naming the URL."""


def configured_api_url() -> str | None:
    """PREFECT_API_URL from the environment or the active Prefect profile, if any."""
    from prefect.settings import get_current_settings

    return get_current_settings().api.url or None


def _client_options() -> dict[str, Any]:
    """The credentials and TLS settings Prefect's own client would use."""
    from prefect.settings import get_current_settings

    api = get_current_settings().api
    headers: dict[str, str] = {}
    auth_string = _secret(api.auth_string)
    key = _secret(api.key)
    if auth_string:
        import base64

        headers["Authorization"] = "Basic " + base64.b64encode(auth_string.encode()).decode()
    elif key:
        headers["Authorization"] = f"Bearer {key}"
    verify: Any = True
    if api.tls_insecure_skip_verify:
        verify = False
    elif api.ssl_cert_file:
        verify = ssl.create_default_context(cafile=api.ssl_cert_file)
    return {"headers": headers, "verify": verify}


def _secret(value: Any) -> str | None:
    if value is None:
        return None
    return value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)


def require_reachable_server(timeout: float = HEALTH_TIMEOUT) -> None:
    """Raise ServerUnreachable unless the configured Prefect API answers its health check."""
    url = configured_api_url()
    if url is None:
        return
    import httpx

    where = f"the Prefect server at {url} (PREFECT_API_URL)"
    try:
        response = httpx.get(url.rstrip("/") + "/health", timeout=timeout, **_client_options())
    except httpx.TimeoutException:
        raise ServerUnreachable(f"{where} did not answer within {timeout:g} s") from None
    except (httpx.HTTPError, httpx.InvalidURL, ValueError, OSError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ServerUnreachable(f"cannot reach {where}: {reason}") from None
    if response.status_code != 200:
        raise ServerUnreachable(
            f"{where} answered HTTP {response.status_code} to a health check; "
            "the URL should end in /api")
