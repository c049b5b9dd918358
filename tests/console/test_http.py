"""The console over HTTP: headers on every answer, sign-in, photos served only through their row."""

from __future__ import annotations

import base64
import io
import re
import uuid

import asyncpg
import pytest
from PIL import Image

from tests.console import seed
from tests.console.conftest import Console, StartConsole
from worker.console.guard import CSP

pytestmark = pytest.mark.services


async def test_every_answer_carries_the_csp_and_nosniff(console: Console, db: asyncpg.Pool) -> None:
    seeded = await seed.request(db)
    photo_id = await seed.photo(db, console.photos, seeded, "PTO")
    for path in (
        "/",
        "/requests",
        f"/requests/{seeded.message_id}",
        "/findings",
        "/dead-letters",
        f"/photos/OCAA/{photo_id}",
        f"/photos/OCAA/{photo_id}/thumb",
        "/static/htmx.min.js",
        "/static/console.css",
        "/no/such/page",
        f"/requests/{uuid.uuid4()}",
    ):
        page = await console.get(path)
        assert page.headers["Content-Security-Policy"] == CSP, path
        assert page.headers["X-Content-Type-Options"] == "nosniff", path
        assert page.headers["X-Frame-Options"] == "DENY", path


async def test_pages_hold_no_inline_script_or_style(console: Console, db: asyncpg.Pool) -> None:
    seeded = await seed.request(db)
    photo_id = await seed.photo(db, console.photos, seeded, "PBO_AVANT")
    await seed.dead_letter(db)
    pages = ("/requests", f"/requests/{seeded.message_id}", "/findings", "/dead-letters")
    for path in ("/", *pages, "/queue", "/on-call", f"/compare?left=OCAA/{photo_id}"):
        html = (await console.get(path)).text
        scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.DOTALL)
        assert scripts, path
        for attributes, body in scripts:  # files of the console's own, nothing inline
            assert re.fullmatch(r' src="/static/[a-z.]+\.js\?v=[^"]+" defer', attributes), path
            assert body == "", path
        assert "<style" not in html, path
        assert not re.search(r"\sstyle=", html), path
        assert not re.search(r"\son[a-z]+=", html), path


async def test_the_one_script_is_served_as_javascript(console: Console) -> None:
    script = await console.get("/static/htmx.min.js")
    assert script.status == 200
    assert script.headers["Content-Type"].startswith(("application/javascript", "text/javascript"))
    assert "htmx" in script.text[:200]


async def test_photo_bytes_with_the_content_type_of_its_row(
    console: Console, db: asyncpg.Pool
) -> None:
    seeded = await seed.request(db)
    png = seed.image_bytes((300, 200), "PNG")
    photo_id = await seed.photo(db, console.photos, seeded, "PTO", data=png, mime="image/png")
    page = await console.session.get(f"{console.url}photos/OCAA/{photo_id}")
    body = await page.read()
    assert page.status == 200
    assert body == png
    assert page.headers["Content-Type"] == "image/png"
    assert page.headers["Content-Disposition"] == "inline"  # links name downloads themselves
    etag = page.headers["ETag"]
    again = await console.get(f"/photos/OCAA/{photo_id}", headers={"If-None-Match": etag})
    assert again.status == 304


@pytest.mark.parametrize(
    "path",
    [
        "/photos/OCAA/{unknown}",
        "/photos/OCBB/{known}",  # the photo exists, but not for this OC
        "/photos/OCAA/not-a-uuid",
        "/photos/..%2F..%2Fetc/{known}",
        "/photos/OCAA/..%2F..%2F..%2Fetc%2Fpasswd",
        "/photos/%2E%2E/{known}/thumb",
    ],
)
async def test_photos_are_only_found_by_oc_and_photo_id(
    console: Console, db: asyncpg.Pool, path: str
) -> None:
    seeded = await seed.request(db)
    known = await seed.photo(db, console.photos, seeded, "PTO")
    page = await console.get(path.format(unknown=uuid.uuid4(), known=known))
    assert page.status == 404
    assert "root:" not in page.text


async def test_a_row_whose_object_is_missing_is_404(console: Console, db: asyncpg.Pool) -> None:
    seeded = await seed.request(db)
    photo_id = await seed.photo(db, console.photos, seeded, "PTO")
    for path in console.photos.rglob(f"{photo_id}.*"):
        path.unlink()
    assert (await console.get(f"/photos/OCAA/{photo_id}")).status == 404
    assert (await console.get(f"/photos/OCAA/{photo_id}/thumb")).status == 404


async def test_thumbnail_is_a_small_jpeg_cached_with_an_etag(
    console: Console, db: asyncpg.Pool
) -> None:
    seeded = await seed.request(db)
    photo_id = await seed.photo(
        db, console.photos, seeded, "PTO", data=seed.image_bytes((2000, 1500))
    )
    async with console.session.get(f"{console.url}photos/OCAA/{photo_id}/thumb") as page:
        body = await page.read()
        assert page.status == 200
        assert page.headers["Content-Type"] == "image/jpeg"
        etag = page.headers["ETag"]
    assert Image.open(io.BytesIO(body)).size == (320, 240)
    cached = list(console.settings.console_thumbnail_dir.rglob("*-320.jpg"))
    assert [path.read_bytes() for path in cached] == [body]
    again = await console.get(f"/photos/OCAA/{photo_id}/thumb", headers={"If-None-Match": etag})
    assert again.status == 304


async def test_no_thumbnail_for_an_image_whose_size_was_not_readable(
    console: Console, db: asyncpg.Pool
) -> None:
    seeded = await seed.request(db)
    photo_id = await seed.photo(db, console.photos, seeded, "PTO", readable=False)
    page = await console.get(f"/photos/OCAA/{photo_id}/thumb")
    assert page.status == 422
    assert "no preview" in page.text


async def test_password_protects_every_page_but_the_health_check(
    start_console: StartConsole,
) -> None:
    console = await start_console(console_password="s3cret-console")
    assert (await console.get("/healthz")).status == 200
    refused = await console.get("/")
    assert refused.status == 401
    assert refused.headers["WWW-Authenticate"].startswith("Basic")
    assert refused.headers["Content-Security-Policy"] == CSP
    basic = base64.b64encode(b"alice:s3cret-console").decode()
    page = await console.get("/", headers={"Authorization": f"Basic {basic}"})
    assert page.status == 200
    assert "alice" in page.text, "who is signed in is shown"
    assert (
        await console.get("/", headers={"Authorization": "Bearer s3cret-console"})
    ).status == 200


async def test_trusted_header_from_the_reverse_proxy(start_console: StartConsole) -> None:
    console = await start_console(
        console_trusted_header="X-Forwarded-User", console_trusted_proxies="127.0.0.0/8"
    )
    assert (await console.get("/")).status == 401
    page = await console.get("/", headers={"X-Forwarded-User": "carol@oi.example"})
    assert page.status == 200
    assert "carol@oi.example" in page.text


async def test_loopback_without_authentication_answers_only_local_names(console: Console) -> None:
    assert (await console.get("/")).status == 200
    assert (await console.get("/", headers={"Host": "rebound.example"})).status == 421
