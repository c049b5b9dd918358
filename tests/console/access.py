"""What the accessibility tests seed and measure in the browser (test_access_browser.py), and the
docs' screenshots reuse (test_screenshots_browser.py): a console with something on every page."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from playwright.async_api import Page

from tests.console import seed
from tests.console.conftest import Console

# For every element with its own text: its colour over the first opaque background behind it
# (translucent ones composed on the way), and the WCAG contrast ratio, 4.5 (3 for large text:
# 24 px, or 18.66 px bold) the least allowed. SVG text is drawn with `fill`: left out.
CONTRAST = """
() => {
  const parse = c => {
    const m = c.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return [0, 0, 0, 0];
    const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top, under) => {
    const a = top[3];
    return [0, 1, 2].map(i => top[i] * a + under[i] * (1 - a)).concat([1]);
  };
  const background = el => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const b = parse(getComputedStyle(e).backgroundColor);
      if (b[3] > 0) { layers.push(b); if (b[3] >= 1) break; }
    }
    let c = [255, 255, 255, 1];
    for (let i = layers.length - 1; i >= 0; i--) c = over(layers[i], c);
    return c;
  };
  const lum = c => {
    const f = v => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
  };
  const failed = [];
  let checked = 0;
  const seen = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const text = walker.currentNode.textContent.trim();
    const el = walker.currentNode.parentElement;
    if (!text || !el || seen.has(el)) continue;
    seen.add(el);
    if (el.closest('svg, [hidden], script, style, noscript, option')) continue;
    const box = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    if (box.width === 0 || box.height === 0 || style.visibility === 'hidden') continue;
    checked++;
    const bg = background(el);
    const fg = over(parse(style.color), bg);
    const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && parseInt(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) {
      failed.push(`${el.tagName.toLowerCase()}.${el.className} "${text.slice(0, 30)}": `
        + `${style.color} on rgb(${bg.slice(0, 3).map(Math.round)}) = ${ratio.toFixed(2)}`);
    }
  }
  return {checked, failed};
}
"""

# Each badge coloured by a severity: the colour is never all it says. A badge naming a finding
# (its kind) or a count carries an icon with its severity as text alternative, or the word.
SEVERITY_BY_COLOUR_ALONE = """
() => Array.from(document.querySelectorAll('.badge.suspect, .badge.warning, .badge.info'))
  .filter(b => b.getClientRects().length > 0)
  .filter(b => {
    const severity = ['suspect', 'warning', 'info'].find(s => b.classList.contains(s));
    const icon = b.querySelector('[role=img][aria-label]');
    if (icon && icon.getAttribute('aria-label') === severity) return false;
    const glyphs = /[\\u2716\\u25b2\\u2139\\u2714\\u25a0\\u00d7\\d\\s]/g;
    const text = b.textContent.replace(glyphs, ' ').trim();
    const kindOrCount = text === '' || /^[a-z]+(_[a-z0-9]+)+/.test(text) || /reused/.test(text);
    return kindOrCount && !b.textContent.includes(severity);
  })
  .map(b => b.outerHTML.slice(0, 120))
"""


async def contrast(page: Page) -> dict[str, Any]:
    measured: dict[str, Any] = await page.evaluate(CONTRAST)
    return measured


async def seed_console(db: asyncpg.Pool, console: Console) -> dict[str, Any]:
    """A request with photos and findings of every severity, a few more of every status, an
    overdue request held by a worker gone, a dead letter, a live worker and a gone one."""
    judged = await seed.request(db, reference="INT-ACCESS-0001", order="CMD-778812")
    before = await seed.photo(
        db,
        console.photos,
        judged,
        "PBO_AVANT",
        data=seed.image_bytes((1600, 1200), colour="navy"),
    )
    after = await seed.photo(
        db,
        console.photos,
        judged,
        "PBO_APRES",
        data=seed.image_bytes((1600, 1200), colour="teal"),
    )
    await seed.photo(db, console.photos, judged, "PTO")
    await seed.finding(db, judged, "same_before_after", "suspect", photo_ids=[before, after])
    await seed.finding(db, judged, "date_out_of_window", "warning", photo_ids=[after])
    await seed.finding(db, judged, "missing_type", "info")
    now = datetime.now(UTC)
    for n, status in enumerate(("completed", "failed", "unavailable", "expired", "pending") * 5):
        other = await seed.request(
            db,
            reference=f"INT-ACCESS-{n + 2:04}-LONG-REFERENCE-OF-AN-OC",
            status=status,
            received_at=now - timedelta(minutes=3 * n + 5),
            order=f"CMD-{n:06}",
        )
        if status == "failed":
            await db.execute(
                "UPDATE photo_requests SET last_error = $2 WHERE message_id = $1",
                other.message_id,
                "metadata answered 403: forbidden for this OC's client certificate, again",
            )
        if n % 4 == 0 and status == "completed":
            await seed.finding(db, other, "reused_photo", "suspect", photo_ids=[uuid.uuid4()])
    late = await seed.request(
        db, reference="INT-ACCESS-LATE", status="pending", received_at=now - timedelta(minutes=35)
    )
    await db.execute(
        "UPDATE photo_requests SET next_attempt_at = now() - interval '20 minutes',"
        " lease_owner = 'worker-gone-1' WHERE message_id = $1",
        late.message_id,
    )
    await db.execute(
        "INSERT INTO dead_letters (message_id, reason, detail, body_excerpt, worker,"
        " dead_lettered_at) VALUES ($1, 'invalid_fields', 'codeOC: missing', '{\"x\": 1}',"
        " 'worker-1', now() - interval '1 hour')",
        str(uuid.uuid4()),
    )
    await db.execute(
        "INSERT INTO worker_heartbeats (instance, roles, version, host, pid, started_at,"
        " seen_at, in_flight, queues) VALUES"
        " ('worker-live-1', 'intake,attempts', '1.0.0', 'host-1', 11, now() - interval '2 h',"
        "  now(), 2,"
        '  \'{"photos.cr_stoc": {"messages": 12, "consumers": 2}}\'),'
        " ('worker-gone-1', 'review', '1.0.0', 'host-2', 12, now() - interval '1 day',"
        "  now() - interval '30 minutes', 0, '{}')"
    )
    return {"request": judged.message_id, "late": late.message_id}


async def beat(db: asyncpg.Pool) -> None:
    """The live worker's heartbeat, just now (it counts as live for three periods)."""
    await db.execute(
        "UPDATE worker_heartbeats SET seen_at = now() WHERE instance = 'worker-live-1'"
    )
