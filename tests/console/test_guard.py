"""Who may use the console (pure logic: requests are made up, nothing is served)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

from tests.harness import make_settings
from worker.console.forms import LIFETIME, SESSION_COOKIE, Csrf
from worker.console.guard import Access, host_name, is_loopback
from worker.console.refusals import FREE_FAILURES, Refusals
from worker.settings import ConfigError

SESSION = "s" * 43


def _settings(tmp_path: Path, **settings: Any) -> Any:
    return make_settings("postgresql://x/y", "amqp://x/", tmp_path, **settings)


def _access(tmp_path: Path, **settings: Any) -> Access:
    return Access.from_settings(_settings(tmp_path, **settings))


class _Peer:
    """The transport of a made-up request: its peer is 127.0.0.1."""

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default


def _request(
    headers: dict[str, str] | list[tuple[str, str]] | None = None,
    host: str = "127.0.0.1:8400",
    method: str = "GET",
) -> web.Request:
    pairs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    return make_mocked_request(
        method, "/", headers=CIMultiDict([("Host", host), *pairs]), transport=_Peer()
    )


def _basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_loopback_addresses(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("localhost:8400", "localhost"),
        ("LocalHost.", "localhost"),
        ("[::1]:8400", "::1"),
        ("::1", "::1"),
        ("[0:0::1]", "::1"),
        ("console.example", "console.example"),
        ("localhost:8411 evil", None),
        ("localhost:", None),
        ("", None),
        ("évil.example", None),
    ],
)
def test_host_names(header: str, name: str | None) -> None:
    assert host_name(header) == name


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "console.example"])
def test_any_other_bind_refuses_to_start_without_authentication(tmp_path: Path, host: str) -> None:
    assert not is_loopback(host)
    with pytest.raises(ConfigError, match="WORKER_CONSOLE_PASSWORD or WORKER_CONSOLE_TRUSTED"):
        _access(tmp_path, console_host=host)
    assert _access(tmp_path, console_host=host, console_password="s3cret-pass").mode == "password"
    header = _access(
        tmp_path,
        console_host=host,
        console_trusted_header="X-User",
        console_trusted_proxies="10.0.0.1",
    )
    assert header.mode == "header"


def test_header_without_proxies_or_with_a_password_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="without WORKER_CONSOLE_TRUSTED_PROXIES"):
        _access(tmp_path, console_host="0.0.0.0", console_trusted_header="X-User")
    with pytest.raises(ConfigError, match="choose one way"):
        _access(
            tmp_path,
            console_host="0.0.0.0",
            console_trusted_header="X-User",
            console_trusted_proxies="10.0.0.1",
            console_password="s3cret-pass",
        )


def test_a_password_of_spaces_is_refused(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="spaces only"):
        _settings(tmp_path, console_password=" ")
    assert _settings(tmp_path, console_password="").console_password is None


def test_other_host_names_need_authentication(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="WORKER_CONSOLE_HOSTS"):
        _access(tmp_path, console_hosts="localhost,console.example")
    with pytest.raises(ConfigError, match="not host names: a host"):
        _access(tmp_path, console_hosts="localhost, a host")
    with pytest.raises(ConfigError, match="no host name"):
        _access(tmp_path, console_hosts=" , ")


def test_only_allowed_host_names_are_answered_in_every_mode(tmp_path: Path) -> None:
    refusals = Refusals()
    local = _access(tmp_path)
    assert local.identify(_request(), refusals) == "local"
    assert local.identify(_request(host="localhost:8400"), refusals) == "local"
    assert local.identify(_request(host="[::1]:8400"), refusals) == "local"
    with_password = _access(
        tmp_path, console_host="0.0.0.0", console_password="pw", console_hosts="console.example"
    )
    assert with_password.identify(_request(_basic("a", "pw"), "console.example"), refusals)
    # A page of another site pointing its own name at the console (DNS rebinding) gets nothing,
    # even with the password.
    for access, headers in ((local, {}), (with_password, _basic("a", "pw"))):
        for host in ("attacker.example:8400", "localhost:8411 evil", "console.example.evil"):
            with pytest.raises(web.HTTPMisdirectedRequest):
                access.identify(_request(headers, host=host), refusals)
        with pytest.raises(web.HTTPMisdirectedRequest):
            access.identify(_request([("Host", "localhost"), *headers.items()]), refusals)


def test_password_as_basic_or_bearer_and_the_name_is_unverified(tmp_path: Path) -> None:
    access = _access(tmp_path, console_host="0.0.0.0", console_password="s3cret-pass")
    refusals = Refusals()
    assert access.identify(_request(_basic("alice", "s3cret-pass")), refusals) == (
        "alice (unverified)"
    )
    assert access.identify(_request(_basic("", "s3cret-pass")), refusals) == (
        "operator (unverified)"
    )
    bearer = {"Authorization": "Bearer s3cret-pass"}
    assert access.identify(_request(bearer), refusals) == "token"
    for wrong in (
        _basic("alice", "nope"),
        _basic("\x1b[31malice", "s3cret-pass"),
        {"Authorization": "Bearer nope"},
        {"Authorization": "Basic !!!"},
        {"Authorization": "Basic é"},
        {"Authorization": "Bearer é"},
        {},
    ):
        with pytest.raises(web.HTTPUnauthorized) as refused:
            Access.identify(access, _request(wrong), Refusals())
        assert refused.value.headers["WWW-Authenticate"].startswith("Basic realm=")


def test_repeated_failures_make_the_peer_wait(tmp_path: Path) -> None:
    access = _access(tmp_path, console_host="0.0.0.0", console_password="s3cret-pass")
    now = [1000.0]
    refusals = Refusals(clock=lambda: now[0])
    for _ in range(FREE_FAILURES):
        with pytest.raises(web.HTTPUnauthorized):
            access.identify(_request(_basic("x", "wrong")), refusals)
    # Even the right password waits its turn.
    with pytest.raises(web.HTTPTooManyRequests) as waiting:
        access.identify(_request(_basic("alice", "s3cret-pass")), refusals)
    assert waiting.value.headers["Retry-After"] == "2"
    now[0] += 1.5
    assert access.identify(_request(_basic("alice", "s3cret-pass")), refusals)
    assert refusals.wait_left("127.0.0.1") == 0


def test_trusted_header_only_from_the_proxies_and_only_once(tmp_path: Path) -> None:
    def access(proxies: str) -> Access:
        return _access(
            tmp_path,
            console_host="0.0.0.0",
            console_trusted_header="X-Forwarded-User",
            console_trusted_proxies=proxies,
            console_hosts="console.example",
        )

    refusals = Refusals()
    host = "console.example"
    proxy = access("127.0.0.1/32, 10.0.0.0/8")
    assert proxy.identify(_request({"X-Forwarded-User": "bob@oi.example"}, host), refusals) == (
        "bob@oi.example"
    )
    with pytest.raises(web.HTTPUnauthorized):
        proxy.identify(_request({}, host), refusals)
    repeated = [("X-Forwarded-User", "mallory"), ("X-Forwarded-User", "bob")]
    with pytest.raises(web.HTTPBadRequest):
        proxy.identify(_request(repeated, host), refusals)
    for bad in ("\x1b[2Jbob", "bob\x7f", "x" * 201):
        with pytest.raises(web.HTTPBadRequest):
            proxy.identify(_request({"X-Forwarded-User": bad}, host), refusals)
    elsewhere = access("10.0.0.0/8, 192.168.1.7")
    with pytest.raises(web.HTTPForbidden):
        elsewhere.identify(_request({"X-Forwarded-User": "mallory"}, host), refusals)


def test_bad_proxy_list_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="WORKER_CONSOLE_TRUSTED_PROXIES"):
        _access(tmp_path, console_trusted_header="X-User", console_trusted_proxies="10.0.0.300")


def _post(headers: dict[str, str] | None = None, session: str | None = SESSION) -> web.Request:
    cookie = {"Cookie": f"{SESSION_COOKIE}={session}"} if session else {}
    return _request({**cookie, **(headers or {})}, method="POST")


def test_csrf_token_is_bound_to_who_the_session_and_the_process_key() -> None:
    csrf = Csrf(b"k" * 32)
    assert csrf.refusal(_post(), "alice", csrf.token("alice", SESSION)) is None
    for wrong in (
        None,
        "",
        "é",
        csrf.token("bob", SESSION),
        csrf.token("alice", "t" * 43),
        Csrf(b"x" * 32).token("alice", SESSION),
    ):
        assert csrf.refusal(_post(), "alice", wrong) == "csrf"
    assert csrf.refusal(_post(session=None), "alice", csrf.token("alice", SESSION)) == "csrf"


def test_csrf_token_expires() -> None:
    now = [1_000_000.0]
    csrf = Csrf(b"k" * 32, clock=lambda: now[0])
    token = csrf.token("local", SESSION)
    now[0] += LIFETIME - 1
    assert csrf.refusal(_post(), "local", token) is None
    now[0] += 2
    assert csrf.refusal(_post(), "local", token) == "csrf"


@pytest.mark.parametrize(
    ("public", "origin", "refused"),
    [
        (None, "http://evil.example", True),
        (None, "https://127.0.0.1:8400", True),  # the scheme counts
        (None, "http://127.0.0.1:8400", False),
        ("https://console.example", "https://console.example", False),
        ("https://console.example", "http://console.example", True),
        ("https://console.example", "http://127.0.0.1:8400", True),
    ],
)
def test_csrf_refuses_a_form_posted_from_another_origin(
    public: str | None, origin: str, refused: bool
) -> None:
    csrf = Csrf(b"k" * 32, public_origin=public)
    token = csrf.token("local", SESSION)
    assert csrf.refusal(_post({"Origin": origin}), "local", token) == (
        "origin" if refused else None
    )
    cross = _post({"Sec-Fetch-Site": "cross-site"})
    assert csrf.refusal(cross, "local", token) == "origin"
