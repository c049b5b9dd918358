"""Answers shared by the handlers: JSON errors and the Retry-After hint."""

from aiohttp import web

from worker.simulator.scenarios import RETRY_DATES, Scenario

_REASONS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    429: "too_many_requests",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON error body ``{"error": ..., "message": ...}`` with the given status."""
    body = {"error": _REASONS.get(status, f"http_{status}"), "message": message}
    return web.json_response(body, status=status, headers=headers)


def unauthorized(message: str) -> web.Response:
    return error_response(401, message, {"WWW-Authenticate": 'Bearer error="invalid_token"'})


def retry_headers(scenario: Scenario, status: int) -> dict[str, str]:
    """Retry-After for the answers a client should retry (202, 429, 5xx), when asked for."""
    if scenario.retry_after is None or not (status in (202, 429) or status >= 500):
        return {}
    value = scenario.retry_after
    return {"Retry-After": RETRY_DATES.get(str(value), str(value))}


def poisoned_error(scenario: Scenario, status: int, authorization: str | None) -> web.Response:
    """An error body a bad gateway could send: a NUL byte, or the request's credentials."""
    text = f"scenario {scenario.label} answers {status}"
    if "echo" in scenario.poison:
        text += f"; upstream refused the request with Authorization: {authorization}"
    body = text.encode() + (b" \x00 NUL here" if "errbody" in scenario.poison else b"")
    headers = retry_headers(scenario, status)
    return web.Response(status=status, body=body, content_type="text/plain", headers=headers)
