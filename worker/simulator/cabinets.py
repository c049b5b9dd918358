"""PBO and PM photos: an open cabinet on a wall, before and after cabling, seen from a spot.

A site is drawn flat (`draw_site`): the wall, the cabinet of some model (its colour, size,
cassettes and port panel), what this site added (stickers, dirt, the cables already there).
`cabled` adds the technician's work: new drop cables, caps taken off the ports used.
`photograph` sees a site from a viewpoint (shift, turn, zoom, light, focus). Two photos of one
site from nearby viewpoints are a same-spot pair; two sites are a different-spot pair, and two
sites of the same model (`model` seed shared) look alike while being two places.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import cv2
import numpy as np
from PIL import Image, ImageDraw

from worker.simulator.camera import Exposure, expose, font, jpeg, texture

SITE = (2400, 1800)  # the flat drawing: wider than any view of it
VIEW = (1600, 1200)
_CABLES = ((235, 200, 40), (240, 240, 240), (240, 120, 30), (40, 90, 200), (30, 30, 30))


@dataclass(frozen=True)
class Viewpoint:
    """Where the phone stood, relative to the site's centre."""

    shift: tuple[float, float] = (0.0, 0.0)  # share of the view's size
    turn: float = 0.0  # radians
    zoom: float = 1.0  # 1: the view shows 1600 of the site's 2400 pixels across
    tilt: tuple[float, float] = (0.0, 0.0)  # perspective, share of the view
    exposure: Exposure = field(default_factory=Exposure)


@dataclass(frozen=True)
class Site:
    """A place, drawn: `flat` is the RGB picture of the wall and the open cabinet."""

    flat: np.ndarray
    ports: tuple[tuple[int, int], ...]  # centres of the ports, for the cables added after
    entry: tuple[int, int]  # where cables come in, at the bottom of the cabinet


def draw_site(model: int, site: int) -> Site:
    """The cabinet of `model` (same model, same look) installed at `site` (its own wall, wear,
    stickers and cables)."""
    shape = np.random.default_rng(model)
    here = np.random.default_rng(site)
    wall_colour = tuple(int(c) for c in here.integers(110, 220, 3))
    flat = texture(here, SITE, wall_colour, grain=float(here.uniform(0.03, 0.09)))
    image = Image.fromarray(flat)
    draw = ImageDraw.Draw(image)
    _wall_details(draw, here)
    body = _cabinet(draw, shape, here)
    ports = _panel(draw, body, shape, here)
    entry = ((body[0] + body[2]) // 2 + int(here.integers(-80, 80)), body[3] - 20)
    for _ in range(int(here.integers(2, 6))):
        port = ports[int(here.integers(len(ports)))]
        _cable(draw, entry, port, (40, 40, 40) if here.random() < 0.6 else (90, 90, 95), here)
    _stickers(draw, body, here)
    return Site(np.asarray(image).copy(), tuple(ports), entry)


def cabled(site: Site, seed: int) -> Site:
    """The same site after the work: new drop cables into free ports."""
    rng = np.random.default_rng(seed)
    image = Image.fromarray(site.flat)
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(2, 6))):
        x, y = site.ports[int(rng.integers(len(site.ports)))]
        draw.rectangle((x - 9, y - 9, x + 9, y + 9), fill=(20, 20, 20))
        colour = _CABLES[int(rng.integers(len(_CABLES)))]
        _cable(draw, site.entry, (x, y), colour, rng)
    return replace(site, flat=np.asarray(image).copy())


def photograph(site: Site, viewpoint: Viewpoint, seed: int) -> bytes:
    """The JPEG a phone makes of the site from `viewpoint`."""
    return jpeg(view(site, viewpoint, seed), viewpoint.exposure.quality)


def view(site: Site, viewpoint: Viewpoint, seed: int) -> np.ndarray:
    """The site seen from `viewpoint`, as RGB pixels."""
    width, height = VIEW
    across = width / viewpoint.zoom
    centre = np.array(
        [
            SITE[0] / 2 + viewpoint.shift[0] * width,
            SITE[1] / 2 + viewpoint.shift[1] * height,
        ],
        np.float32,
    )
    half = np.array([across / 2, across * height / width / 2], np.float32)
    cos, sin = np.cos(viewpoint.turn), np.sin(viewpoint.turn)
    corners = []
    for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
        x, y = sx * half[0], sy * half[1]
        corners.append(centre + np.array([x * cos - y * sin, x * sin + y * cos], np.float32))
    source = np.array(corners, np.float32)
    tx, ty = viewpoint.tilt
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    target += np.array([[ty, -tx], [-ty, tx], [ty, -tx], [-ty, tx]], np.float32) * np.array(
        [width, height], np.float32
    )
    matrix = cv2.getPerspectiveTransform(source, target)
    seen = cv2.warpPerspective(
        site.flat, matrix, VIEW, flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT
    )
    return expose(seen, viewpoint.exposure, np.random.default_rng(seed))


def _wall_details(draw: ImageDraw.ImageDraw, rng: np.random.Generator) -> None:
    """Pipes, a skirting board, a meter box, graffiti: what surrounds a cabinet in a basement."""
    width, height = SITE
    for _ in range(int(rng.integers(1, 4))):
        x = int(rng.integers(0, width))
        tone = tuple(int(c) for c in rng.integers(60, 230, 3))
        draw.rectangle((x, 0, x + int(rng.integers(20, 70)), height), fill=tone)
    for _ in range(int(rng.integers(2, 6))):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        w, h = int(rng.integers(80, 400)), int(rng.integers(80, 400))
        tone = tuple(int(c) for c in rng.integers(40, 240, 3))
        draw.rectangle((x, y, x + w, y + h), fill=tone, outline=(20, 20, 20), width=4)
        draw.text((x + 10, y + 10), _words(rng), fill=(10, 10, 10), font=font(28, 1))
    for _ in range(int(rng.integers(3, 9))):
        points = [(int(rng.integers(0, width)), int(rng.integers(0, height))) for _ in range(4)]
        tone = tuple(int(c) for c in rng.integers(0, 255, 3))
        draw.line(points, fill=tone, width=int(rng.integers(3, 14)))


def _cabinet(
    draw: ImageDraw.ImageDraw, shape: np.random.Generator, here: np.random.Generator
) -> tuple[int, int, int, int]:
    width, height = SITE
    w, h = int(shape.integers(700, 1000)), int(shape.integers(800, 1150))
    x0 = width // 2 - w // 2 + int(here.integers(-120, 120))
    y0 = height // 2 - h // 2 + int(here.integers(-80, 80))
    body = (x0, y0, x0 + w, y0 + h)
    colour = tuple(int(c) for c in shape.integers(170, 225, 3))
    draw.rectangle(body, fill=colour, outline=(60, 60, 60), width=8)
    inner = (x0 + 40, y0 + 40, x0 + w - 40, y0 + h - 40)
    draw.rectangle(inner, fill=tuple(c - 50 for c in colour), outline=(40, 40, 40), width=4)
    # The open door, hinged on one side, seen edge-on as a slanted panel.
    door = int(shape.integers(120, 220))
    if shape.random() < 0.5:
        polygon = [(x0, y0), (x0 - door, y0 + 60), (x0 - door, y0 + h - 60), (x0, y0 + h)]
    else:
        x1 = x0 + w
        polygon = [(x1, y0), (x1 + door, y0 + 60), (x1 + door, y0 + h - 60), (x1, y0 + h)]
    draw.polygon(polygon, fill=tuple(c - 25 for c in colour), outline=(50, 50, 50))
    # Splice cassettes, stacked: the model's own, placed a little differently at each site.
    rows = int(shape.integers(4, 9))
    for row in range(rows):
        top = inner[1] + 30 + row * 38 + int(here.integers(-3, 4))
        draw.rectangle(
            (inner[0] + 40, top, inner[2] - 40, top + 28),
            fill=tuple(int(c) for c in shape.integers(150, 240, 3)),
            outline=(30, 30, 30),
            width=2,
        )
    for screw in ((x0 + 18, y0 + 18), (x0 + w - 18, y0 + 18), (x0 + 18, y0 + h - 18)):
        draw.ellipse((screw[0] - 9, screw[1] - 9, screw[0] + 9, screw[1] + 9), fill=(120, 120, 120))
    return body


def _panel(
    draw: ImageDraw.ImageDraw,
    body: tuple[int, int, int, int],
    shape: np.random.Generator,
    here: np.random.Generator,
) -> list[tuple[int, int]]:
    """The port panel: a grid of connectors, some capped (which caps: the site's)."""
    columns, rows = int(shape.integers(6, 13)), int(shape.integers(2, 5))
    x0, y1 = body[0] + 90, body[3] - 120
    pitch = (body[2] - body[0] - 180) // columns
    ports = []
    for row in range(rows):
        for column in range(columns):
            x, y = x0 + column * pitch + pitch // 2, y1 - row * 60 - 40
            draw.rectangle((x - 14, y - 14, x + 14, y + 14), fill=(50, 50, 55))
            if here.random() < 0.6:
                cap = _CABLES[int(here.integers(len(_CABLES)))]
                draw.rectangle((x - 9, y - 9, x + 9, y + 9), fill=cap)
            ports.append((x, y))
    return ports


def _cable(
    draw: ImageDraw.ImageDraw,
    start: tuple[int, int],
    end: tuple[int, int],
    colour: tuple[int, int, int],
    rng: np.random.Generator,
) -> None:
    """A cable as a sagging Bezier curve from the entry to a port."""
    (x0, y0), (x1, y1) = start, end
    c1 = (x0 + rng.integers(-300, 300), y0 + rng.integers(100, 400))
    c2 = (x1 + rng.integers(-200, 200), y1 + rng.integers(100, 300))
    steps = np.linspace(0, 1, 40)[:, None]
    points = (
        (1 - steps) ** 3 * [x0, y0 + 400]
        + 3 * (1 - steps) ** 2 * steps * c1
        + 3 * (1 - steps) * steps**2 * c2
        + steps**3 * [x1, y1]
    )
    width = int(rng.integers(8, 18))
    draw.line(
        [tuple(p) for p in points.astype(int).tolist()], fill=colour, width=width, joint="curve"
    )


def _stickers(
    draw: ImageDraw.ImageDraw, body: tuple[int, int, int, int], rng: np.random.Generator
) -> None:
    for _ in range(int(rng.integers(2, 5))):
        x = int(rng.integers(body[0] + 50, body[2] - 250))
        y = int(rng.integers(body[1] + 40, body[3] - 300))
        yellow = rng.random() < 0.4
        fill = (250, 210, 40) if yellow else (245, 245, 240)
        draw.rectangle((x, y, x + 220, y + 70), fill=fill, outline=(20, 20, 20), width=2)
        draw.text((x + 10, y + 20), _words(rng), fill=(10, 10, 10), font=font(26, 0))
    for _ in range(int(rng.integers(5, 20))):  # dirt and scratches
        x, y = int(rng.integers(body[0], body[2])), int(rng.integers(body[1], body[3]))
        r = int(rng.integers(3, 25))
        draw.ellipse(
            (x - r, y - r, x + r, y + r), fill=tuple(int(c) for c in rng.integers(40, 120, 3))
        )


def _words(rng: np.random.Generator) -> str:
    letters = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
    return "".join(
        letters[int(i)] for i in rng.integers(len(letters), size=int(rng.integers(4, 9)))
    )
