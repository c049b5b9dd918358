"""Who may use the console (pure logic: requests are made up, nothing is served)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from tests.harness import make_settings
from worker.console.guard import WHO, Access, Csrf, is_loopback
from worker.settings import ConfigError


def _access(tmp_path: Path, **settings: Any) -> Access:
    return Access.from_settings(
        make_settings("postgresql://x/y", "amqp://x/", tmp_path, **settings)
    )


def _request(headers: dict[str, str] | None = None, host: str = "127.0.0.1:8400") -> web.Request:
    return make_mocked_request("GET", "/", headers={"Host": host, **(headers or {})})


def _basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_loopback_addresses(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "console.example"])
def test_any_other_bind_refuses_to_start_without_authentication(tmp_path: Path, host: str) -> None:
    assert not is_loopback(host)
    with pytest.raises(ConfigError, match="WORKER_CONSOLE_PASSWORD or WORKER_CONSOLE_TRUSTED"):
        _access(tmp_path, console_host=host)
    assert not _access(tmp_path, console_host=host, console_password="s3cret-pass").local_only
    assert not _access(tmp_path, console_host=host, console_trusted_header="X-User").local_only


def test_without_authentication_only_local_host_names_are_answered(tmp_path: Path) -> None:
    access = _access(tmp_path)
    assert access.identify(_request()) == "local"
    assert access.identify(_request(host="localhost:8400")) == "local"
    assert access.identify(_request(host="[::1]:8400")) == "local"
    # A page of another site pointing its own name at 127.0.0.1 (DNS rebinding) gets nothing.
    with pytest.raises(web.HTTPMisdirectedRequest):
        access.identify(_request(host="attacker.example:8400"))


def test_password_as_basic_or_bearer(tmp_path: Path) -> None:
    access = _access(tmp_path, console_host="0.0.0.0", console_password="s3cret-pass")
    assert access.identify(_request(_basic("alice", "s3cret-pass"))) == "alice"
    assert access.identify(_request(_basic("", "s3cret-pass"))) == "operator"
    assert access.identify(_request({"Authorization": "Bearer s3cret-pass"})) == "token"
    for wrong in (
        _basic("alice", "nope"),
        {"Authorization": "Bearer nope"},
        {"Authorization": "Basic !!!"},
        {},
    ):
        with pytest.raises(web.HTTPUnauthorized) as refused:
            access.identify(_request(wrong, host="console.example"))
        assert refused.value.headers["WWW-Authenticate"].startswith("Basic realm=")


def test_trusted_header_names_who_and_can_be_limited_to_the_proxy(tmp_path: Path) -> None:
    access = _access(tmp_path, console_host="0.0.0.0", console_trusted_header="X-Forwarded-User")
    assert access.identify(_request({"X-Forwarded-User": "bob@oi.example"})) == "bob@oi.example"
    with pytest.raises(web.HTTPUnauthorized):
        access.identify(_request())
    limited = _access(
        tmp_path,
        console_host="0.0.0.0",
        console_trusted_header="X-Forwarded-User",
        console_trusted_proxies="10.0.0.0/8, 192.168.1.7",
    )
    # make_mocked_request's peer is 127.0.0.1: not the proxy.
    with pytest.raises(web.HTTPForbidden):
        limited.identify(_request({"X-Forwarded-User": "mallory"}))


def test_bad_proxy_list_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="WORKER_CONSOLE_TRUSTED_PROXIES"):
        _access(tmp_path, console_trusted_header="X-User", console_trusted_proxies="10.0.0.300")


def test_csrf_token_is_bound_to_who_and_to_the_process_key() -> None:
    csrf = Csrf(b"k" * 32)
    request = make_mocked_request("POST", "/", headers={"Host": "127.0.0.1:8400"})
    request[WHO] = "alice"
    csrf.check(request, csrf.token("alice"))
    for wrong in (None, "", csrf.token("bob"), Csrf(b"x" * 32).token("alice")):
        with pytest.raises(web.HTTPForbidden):
            csrf.check(request, wrong)


def test_csrf_refuses_a_form_posted_from_another_origin() -> None:
    csrf = Csrf(b"k" * 32)
    request = make_mocked_request(
        "POST", "/", headers={"Host": "127.0.0.1:8400", "Origin": "http://evil.example"}
    )
    request[WHO] = "local"
    with pytest.raises(web.HTTPForbidden):
        csrf.check(request, csrf.token("local"))
