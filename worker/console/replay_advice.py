"""Whether replaying a dead letter can succeed, from its reason (intake/message.py,
intake/consumer.py) and, for an unknown OC, the partners file as it is now.

A replay sends the same bytes again: a message refused for what it holds (`not_json`,
`invalid_fields`, `unstorable`) is refused again, so the console says so instead of offering it.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from worker.console.voice import N_, Text
from worker.partners.config import read_partners_file
from worker.settings import ConfigError

HOPELESS = {
    "not_json": N_(
        "The body is not JSON: a replay would be refused again. The OC must send it again,"
        " corrected."
    ),
    "invalid_fields": N_(
        "Its fields break the contract: a replay would be refused again. The OC must"
        " send a corrected message."
    ),
    "unstorable": N_(
        "PostgreSQL refused one of its values (a NUL byte...): a replay would be refused"
        " again. The OC must send a corrected message."
    ),
}
_BROKER = N_(
    "RabbitMQ dead-lettered it after WORKER_DELIVERY_LIMIT deliveries (each crashed or stopped"
    " its consumer): replay once that cause is fixed."
)


@dataclass(frozen=True)
class Advice:
    replayable: bool
    doubtful: bool  # offered, but likely to be refused again: left out of bulk replays
    note: Text | str  # "" when there is nothing to say


def known_ocs(partners_file: Path) -> frozenset[str] | None:
    """The OCs of the partners file as it is now; None if the console cannot read it."""
    try:
        return frozenset(read_partners_file(partners_file))
    except ConfigError:
        return None


def advise(reason: str, body_excerpt: str, known: Collection[str] | None) -> Advice:
    if reason in HOPELESS:
        return Advice(False, False, HOPELESS[reason])
    if reason == "rejected_by_broker":
        return Advice(True, False, _BROKER)
    if reason != "unknown_oc":
        return Advice(True, False, "")
    code = code_oc(body_excerpt)
    if known is None:
        unread = N_("The console cannot read the partners file: is the OC in it now?")
        return Advice(True, True, unread)
    if code is None:
        return Advice(True, True, N_("No codeOC could be read from the body start."))
    if code in known:
        return Advice(True, False, N_("codeOC %(code)s is in the partners file now.", code=code))
    return Advice(
        True,
        True,
        N_(
            "codeOC %(code)s is still not in the partners file: a replay would be refused again.",
            code=code,
        ),
    )


def code_oc(body_excerpt: str) -> str | None:
    try:
        body = json.loads(body_excerpt)
    except ValueError:
        return None
    code = body.get("codeOC") if isinstance(body, dict) else None
    return code if isinstance(code, str) else None
