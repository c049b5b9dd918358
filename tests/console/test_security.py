"""The console against a hostile client, over real HTTP (issue 19): the sign-in modes, host
names, thumbnails of bad images, the CSV export, refusals logged and slowed down, forms."""

from __future__ import annotations

import base64
import csv
import io
import re

import asyncpg
import pytest
from structlog.testing import capture_logs

from tests.console import seed
from tests.console.conftest import Console, StartConsole, raw_request
from worker.settings import ConfigError

pytestmark = pytest.mark.services
PASSWORD = "s3cret-console"


def _basic(user: str, password: str = PASSWORD) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def _token(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page holds a form with its token"
    return found.group(1)


def _host(console: Console) -> bytes:
    return console.url.removeprefix("http://").rstrip("/").encode()


# ---- 1. The trusted header


async def test_trusted_header_without_proxies_or_with_a_password_refuses_to_start(
    start_console: StartConsole,
) -> None:
    with pytest.raises(ConfigError, match="WORKER_CONSOLE_TRUSTED_PROXIES"):
        await start_console(console_trusted_header="X-Auth-Request-User")
    with pytest.raises(ConfigError, match="choose one way"):
        await start_console(
            console_trusted_header="X-Auth-Request-User",
            console_trusted_proxies="127.0.0.1",
            console_password=PASSWORD,
        )


async def test_trusted_header_is_not_believed_from_elsewhere(start_console: StartConsole) -> None:
    console = await start_console(
        console_trusted_header="X-Auth-Request-User", console_trusted_proxies="10.0.4.0/24"
    )
    with capture_logs() as logs:
        page = await console.get("/", headers={"X-Auth-Request-User": "admin"})
    assert page.status == 403
    assert "admin" not in page.text
    [refused] = [entry for entry in logs if entry["event"] == "console: refused"]
    assert (refused["reason"], refused["peer"]) == ("not_from_proxy", "127.0.0.1")


async def test_trusted_header_repeated_or_not_utf8_is_refused(start_console: StartConsole) -> None:
    console = await start_console(
        console_trusted_header="X-Auth-Request-User", console_trusted_proxies="127.0.0.1/32"
    )
    host = (b"Host", _host(console))
    status, body = await raw_request(console.url, "/", [host, (b"X-Auth-Request-User", b"carol")])
    assert status == 200
    assert b"carol" in body
    repeated = [host, (b"X-Auth-Request-User", b"admin"), (b"X-Auth-Request-User", b"carol")]
    assert (await raw_request(console.url, "/", repeated))[0] == 400
    for bad in (b"caf\xe9", b"\xff\xfe", b"\x1b[2Jadmin"):
        status, _ = await raw_request(console.url, "/", [host, (b"X-Auth-Request-User", bad)])
        assert status == 400, bad


# ---- 3. Host names, whatever the sign-in


async def test_other_host_names_are_refused_even_with_the_password(
    start_console: StartConsole,
) -> None:
    console = await start_console(console_password=PASSWORD)
    assert (await console.get("/", headers=_basic("alice"))).status == 200
    for host in ("rebound.example", "rebound.example:8400", "localhost:8411 evil"):
        page = await console.get("/", headers=_basic("alice") | {"Host": host})
        assert page.status == 421, host
        assert "csrf" not in page.text
    assert (await console.get("/healthz", headers={"Host": "10.1.2.3:8400"})).status == 200


async def test_a_password_of_spaces_is_not_a_password(start_console: StartConsole) -> None:
    with pytest.raises(Exception, match="spaces only"):
        await start_console(console_password="   ")


# ---- 5 and 6. Refusals logged, counted, slowed down; names honest and escaped


async def test_failed_sign_ins_are_logged_counted_and_slowed_down(
    start_console: StartConsole,
) -> None:
    console = await start_console(console_password=PASSWORD)
    with capture_logs() as logs:
        statuses = [
            (await console.get("/", headers=_basic("mallory", f"guess-{n}"))).status
            for n in range(8)
        ]
        # The right password, at once: the peer still has to wait.
        late = await console.get("/", headers=_basic("alice"))
    assert statuses == [401] * 5 + [429] * 3
    assert late.status == 429
    assert int(late.headers["Retry-After"]) >= 1
    refused = [entry for entry in logs if entry["event"] == "console: refused"]
    assert [entry["reason"] for entry in refused] == ["password"] * 5 + ["throttled"] * 4
    assert {(entry["who"], entry["peer"]) for entry in refused[:5]} == {("mallory", "127.0.0.1")}
    metrics = (await console.get("/metrics")).text
    assert 'worker_console_refusals_total{reason="password"} 5.0' in metrics
    assert 'worker_console_refusals_total{reason="throttled"} 4.0' in metrics


async def test_refused_forms_are_logged_and_counted(
    start_console: StartConsole, db: asyncpg.Pool
) -> None:
    console = await start_console(console_actions=True)
    failed = await seed.request(db, status="failed")
    path = f"/requests/{failed.message_id}/refetch"
    token = _token((await console.get(f"/requests/{failed.message_id}")).text)
    with capture_logs() as logs:
        assert (await console.post(path, {"csrf": "1.abc"})).status == 403
        # The same host, the other scheme: not the console's origin.
        other = {"Origin": console.url.replace("http://", "https://").rstrip("/")}
        assert (await console.post(path, {"csrf": token}, headers=other)).status == 403
    refused = [entry for entry in logs if entry["event"] == "console: refused"]
    assert [(entry["reason"], entry["who"]) for entry in refused] == [
        ("csrf", "local"),
        ("origin", "local"),
    ]
    metrics = (await console.get("/metrics")).text
    assert 'worker_console_refusals_total{reason="csrf"} 1.0' in metrics
    assert await db.fetchval("SELECT status FROM photo_requests") == "failed"


async def test_the_name_typed_with_the_password_is_shown_as_unverified(
    start_console: StartConsole,
) -> None:
    console = await start_console(console_password=PASSWORD)
    page = await console.get("/", headers=_basic("alice"))
    assert "alice (unverified)" in page.text
    escape = await console.get("/", headers=_basic("\x1b[31malice"))
    assert escape.status == 401


# ---- 8. Forms: per session, the scheme counts, a public origin


async def test_a_form_token_is_good_for_its_own_session_only(
    start_console: StartConsole, db: asyncpg.Pool
) -> None:
    console = await start_console(console_actions=True)
    failed = await seed.request(db, status="failed")
    token = _token((await console.get(f"/requests/{failed.message_id}")).text)
    path = f"/requests/{failed.message_id}/refetch"
    # Another local user, in another browser (no cookie, or their own).
    console.session.cookie_jar.clear()
    assert (await console.post(path, {"csrf": token})).status == 403
    await console.get(f"/requests/{failed.message_id}")  # their own session now
    assert (await console.post(path, {"csrf": token})).status == 403
    mine = _token((await console.get(f"/requests/{failed.message_id}")).text)
    assert (await console.post(path, {"csrf": mine})).status == 303


async def test_behind_a_proxy_forms_come_from_the_public_origin(
    start_console: StartConsole, db: asyncpg.Pool
) -> None:
    console = await start_console(
        console_actions=True, console_public_origin="https://console.oi.example"
    )
    failed = await seed.request(db, status="failed")
    page = await console.get(f"/requests/{failed.message_id}")
    # Behind https, the session cookie is Secure: this client over http would not send it.
    cookie = page.headers["Set-Cookie"]
    assert "Secure" in cookie
    session = {"Cookie": cookie.split(";")[0]}
    token = _token(page.text)
    path = f"/requests/{failed.message_id}/refetch"
    # What nginx's default proxy_pass gives: Host is the upstream's, Origin the public one.
    mine = session | {"Origin": console.url.rstrip("/")}
    assert (await console.post(path, {"csrf": token}, headers=mine)).status == 403
    public = session | {"Origin": "https://console.oi.example"}
    assert (await console.post(path, {"csrf": token}, headers=public)).status == 303


# ---- 2. Thumbnails of bad images


async def test_a_bad_image_costs_one_decode_and_is_answered_from_then_on(
    console: Console, db: asyncpg.Pool
) -> None:
    seeded = await seed.request(db)
    bomb = await seed.photo(
        db, console.photos, seeded, "PTO", data=seed.png_bomb(), mime="image/png"
    )
    cut = await seed.photo(db, console.photos, seeded, "PBO", data=seed.truncated_jpeg())
    for photo_id, reason in ((bomb, "over 16,000,000 pixels"), (cut, "truncated")):
        first = await console.get(f"/photos/OCAA/{photo_id}/thumb")
        assert first.status == 422
        assert reason in first.text
        # Its object gone, the answer still comes: the failure was kept, nothing is read again.
        for path in console.photos.rglob(f"{photo_id}.*"):
            path.unlink()
        again = await console.get(f"/photos/OCAA/{photo_id}/thumb")
        assert (again.status, again.text) == (422, first.text)


# ---- 4. The CSV export


async def test_csv_cells_are_quoted_and_inert_with_either_separator(
    console: Console, db: asyncpg.Pool
) -> None:
    reference = "OI-4;=1+1;@SUM(2+2);-3+3,+cmd|' /C calc'!A0"
    flagged = await seed.request(db, reference=reference)
    await seed.finding(db, flagged, "reused_photo", "suspect")
    for sep, delimiter in (("", ";"), ("semicolon", ";"), ("comma", ",")):
        page = await console.get(f"/findings.csv?days=7&sep={sep}")
        assert page.status == 200
        assert page.headers["Content-Type"] == "text/csv; charset=utf-8"
        assert page.text.startswith("\ufeff"), "Excel reads UTF-8 by its BOM"
        body = page.text.removeprefix("\ufeff")
        rows = list(csv.reader(io.StringIO(body), delimiter=delimiter))
        assert rows[1][2] == "OI-4;'=1+1;'@SUM(2+2);'-3+3,'+cmd|' /C calc'!A0"
        # Opened with the other list separator, every piece is still inert.
        other = ";" if delimiter == "," else ","
        for line in body.splitlines()[1:]:
            for piece in re.split(f"[{other}{delimiter}]", line):
                assert piece.strip('"').lstrip()[:1] not in set("=+-@\t\r"), piece
        # Every text cell quoted.
        assert body.splitlines()[1].startswith(f'"{flagged.message_id}"{delimiter}"OCAA"')
    assert (await console.get("/findings.csv?sep=tab")).status == 400


# ---- 8. The smaller ones


async def test_notices_are_the_consoles_own(console: Console) -> None:
    page = await console.get("/requests?notice=Your+session+expired:+call+0800+000+000")
    assert "0800" not in page.text
    assert "Refetch: due now." in (await console.get("/requests?notice=refetch-due")).text


async def test_oc_links_are_url_encoded(console: Console, db: asyncpg.Pool) -> None:
    await seed.request(db, code_oc="O&C=")
    page = await console.get("/")
    assert "/requests?oc=O%26C%3D" in page.text
    assert "?oc=O&amp;C=" not in page.text


async def test_a_photo_shorter_than_its_row_says_is_sent_whole(
    console: Console, db: asyncpg.Pool
) -> None:
    seeded = await seed.request(db)
    data = seed.image_bytes((300, 200))
    photo_id = await seed.photo(db, console.photos, seeded, "PTO", data=data, size_bytes=10**6)
    async with console.session.get(f"{console.url}photos/OCAA/{photo_id}") as page:
        assert page.status == 200
        assert page.headers["Content-Length"] == str(len(data))
        assert await page.read() == data


async def test_the_server_header_names_no_version(console: Console) -> None:
    for path in ("/", "/healthz", "/no/such/page", "/static/console.css"):
        server = (await console.get(path)).headers["Server"]
        assert server == "photo-worker-console", path
