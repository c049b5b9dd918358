"""The demo's sample messages, one per scenario, and a partners file aimed at the simulator."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

TOKEN = "demo-static-token"
CLIENT, SECRET = "demo-client", "demo-client-secret"


@dataclass(frozen=True)
class Sample:
    title: str
    body: dict[str, Any]
    expected: str


@dataclass
class DemoRun:
    samples: list[Sample]
    events: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: dict[str, str] = field(default_factory=dict)

    @property
    def message_ids(self) -> list[uuid.UUID]:
        return [uuid.UUID(s.body["messageId"]) for s in self.samples if "messageId" in s.body]


def _message(oc: str, reference: str, **extra: Any) -> dict[str, Any]:
    return {
        "messageId": str(uuid.uuid4()),
        "flux": "CR_STOC",
        "codeOC": oc,
        "referenceCommandeSousTraitantOI": reference,
        "dateIntervention": datetime.now(UTC).isoformat(timespec="seconds"),
        "resultat": "OK",
        "actions": ["POSE_PTO", "CABLAGE_PBO"],
        **extra,
    }


def samples(tag: str) -> list[Sample]:
    """The sample messages; `tag` makes this run's references its own (the simulator counts
    polls by reference)."""
    # Its first photo is sent again for #14, a later intervention: the photo checks flag it there.
    ready = _message("DMOA", f"{tag}-READY:reuse={tag}")
    by_order = _message("DMOB", "unused", referenceCommandePriseInterneOC=f"{tag}-TOKEN:unauth=1")
    invalid = {k: v for k, v in _message("DMOA", "X").items() if k != "codeOC"}
    return [
        Sample("photos ready at once", ready, "completed"),
        Sample(
            "202 twice, then 200",
            _message("DMOA", f"{tag}-LATER:after=2:retry_after=1:photos=6"),
            "completed",
        ),
        Sample("204: never available", _message("DMOA", f"{tag}-NEVER:final=204"), "unavailable"),
        Sample(
            "503 twice, then 200",
            _message("DMOA", f"{tag}-FLAKY:errors=2:code=503:retry_after=1"),
            "completed",
        ),
        Sample("403: request refused", _message("DMOA", f"{tag}-DENIED:status=403"), "failed"),
        Sample(
            "photo 2 is not a real PNG/JPEG",
            _message("DMOA", f"{tag}-BADPHOTO:badmagic=2"),
            "failed",
        ),
        Sample("OAuth2 token revoked (401)", by_order, "completed"),
        Sample(
            "202 past max_wait (6 s)",
            _message("DMOC", f"{tag}-WAIT:after=never:retry_after=1"),
            "expired",
        ),
        Sample("same messageId again", dict(ready), "ignored"),
        Sample("invalid: no codeOC", invalid, "dead-lettered"),
        Sample("unknown OC ZZZZ", _message("ZZZZ", f"{tag}-READY"), "dead-lettered"),
        *_flagged(tag),
    ]


def _flagged(tag: str) -> list[Sample]:
    """Photos made to trigger the photo checks (docs/findings.md); none changes a status."""
    every_type = ["POSE_PTO", "CABLAGE_PBO", "CABLAGE_PM"]
    return [
        Sample(
            "findings: after = before, blur, dark",
            _message("DMOA", f"{tag}-SLOPPY:copy=3:blur=1:dark=2"),
            "completed",
        ),
        Sample(
            "findings: 3 days earlier, 28 km away",
            _message("DMOA", f"{tag}-ELSEWHERE:olddate=2:faraway=3"),
            "completed",
        ),
        Sample(
            "findings: the photo of #1 again",
            _message("DMOA", f"{tag}-AGAIN:after=1:retry_after=1:reuse={tag}"),
            "completed",
        ),
        Sample(
            "findings: PM photos missing, sizes",
            _message("DMOA", f"{tag}-PARTIAL:mismatch=2", actions=every_type),
            "completed",
        ),
        Sample(
            "findings: a decompression bomb",
            _message("DMOA", f"{tag}-BOMB:bomb=2"),
            "completed",
        ),
        *_framing(tag),
    ]


def _framing(tag: str) -> list[Sample]:
    """The spec's framing rules (docs/findings.md): read by the review stage."""
    every_type = ["POSE_PTO", "CABLAGE_PBO", "CABLAGE_PM"]
    label = f"DM-{tag[-4:]}-0001"
    return [
        Sample(
            "framing: label as declared, same spot",
            _message(
                "DMOA",
                f"{tag}-FRAMED:photos=5:pto={label}:spot=same",
                actions=every_type,
                referencePTO=label,
            ),
            "completed",
        ),
        Sample(
            "framing: label unreadable, two places",
            _message("DMOA", f"{tag}-MURKY:photos=5:pto=blank:spot=other", actions=every_type),
            "completed",
        ),
        Sample(
            "framing: another label, look-alike place",
            _message(
                "DMOA",
                f"{tag}-SWAPPED:photos=3:pto=DM-9999-0002:spot=alike",
                referencePTO=label,
            ),
            "completed",
        ),
        Sample(
            "framing: the label of FRAMED again",
            _message("DMOA", f"{tag}-TWICE:photos=1:pto={label}", actions=["POSE_PTO"]),
            "completed",
        ),
    ]


def partners_toml(base_url: str) -> str:
    return (
        f'[oc.DMOA]\nbase_url = "{base_url}"\ntoken = "{TOKEN}"\n\n'
        f'[oc.DMOB]\nbase_url = "{base_url}"\nquery = "order"\n\n'
        f'[oc.DMOB.oauth2]\ntoken_url = "{base_url}/oauth/token"\nclient_id = "{CLIENT}"\n'
        'client_secret_env = "DEMO_CLIENT_SECRET"\n\n'
        f'[oc.DMOC]\nbase_url = "{base_url}"\ntoken = "{TOKEN}"\nmax_wait = "6s"\n'
    )
