"""What a request page adds to each photo card: its evidence, its download name, whom to compare
it with (its AVANT or APRES mate, the photo a reuse finding matched, the later requests that
reused it)."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from worker.console.evidence import download_names, evidence
from worker.console.gallery import Group
from worker.console.pages import state
from worker.console.reuses import later_reuses, with_matches
from worker.console.voice import voice


async def annotate_cards(
    request: web.Request, detail: dict[str, Any], groups: list[Group]
) -> list[dict[str, Any]]:
    """Fills each card of `groups` in place; returns the later requests' reuses of this one."""
    console = state(request)
    speaking = voice(request)
    req = detail["request"]
    await with_matches(console.pool, req["code_oc"], detail["findings"])
    later = await later_reuses(console.pool, req["message_id"])
    reference = (
        req["reference_commande_sous_traitant_oi"]
        or req["reference_commande_prise_interne_oc"]
        or req["reference_prestation_prise"]
        or str(req["message_id"])
    )
    names = download_names(detail["photos"], reference)
    for group in groups:
        for photo, mate in _mates(group):
            photo["ev"] = evidence(photo, console.settings, speaking)
            photo["download"] = names[photo["photo_id"]]
            photo["mate"] = mate
            photo["reused_later"] = [r for r in later if _matched(r, photo["photo_id"])]
    return later


def _mates(group: Group) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """Each photo with the one it is compared with first: the other side's photo at the same
    rank (or its first), none for a photo without a side."""
    pairs: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
    for mine, theirs in ((group.before, group.after), (group.after, group.before)):
        for rank, photo in enumerate(mine):
            pairs.append((photo, theirs[min(rank, len(theirs) - 1)] if theirs else None))
    return pairs + [(photo, None) for photo in group.alone]


def _matched(reuse: dict[str, Any], photo_id: uuid.UUID) -> bool:
    return reuse["match"] is not None and reuse["match"]["photo_id"] == photo_id
