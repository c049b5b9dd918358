"""The requests page's filters as the query string gives them: checked (a bad value is a
`BadFilter` with a message for the page) and turned back into links that keep them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from worker.console import params
from worker.console.params import BadParameter
from worker.findings.model import KINDS
from worker.ops.status import STATUSES

BadFilter = BadParameter  # the name the requests page knows
_OC = re.compile(r"^[A-Z0-9]{4}$")
SEARCHED = 255  # characters of a search or a reference cursor


@dataclass(frozen=True)
class Filters:
    oc: str | None = None
    status: str | None = None
    since: date | None = None  # received on or after this day (in `zone`)
    until: date | None = None  # received on or before this day
    kind: str | None = None
    flagged_from: datetime | None = None  # with a kind: flagged at or after (the findings page)
    q: str = ""
    after: str | None = None  # the cursor: where the previous page ended
    after_id: str | None = None
    zone: tzinfo = UTC  # the console's: whose days `since` and `until` are (not in links)

    @classmethod
    def parse(cls, query: Mapping[str, str], zone: tzinfo = UTC) -> Filters:
        oc = params.text("oc", query.get("oc", ""), 4).upper() or None
        status = query.get("status") or None
        kind = query.get("kind") or None
        if oc and not _OC.fullmatch(oc):
            raise BadFilter(f"OC {oc!r}: four letters or digits")
        if status and status not in STATUSES:
            raise BadFilter(f"status {status!r}: one of {', '.join(STATUSES)}")
        if kind and kind not in KINDS:
            raise BadFilter(f"finding kind {kind!r}: one of {', '.join(KINDS)}")
        flagged = (query.get("flagged_from") or None) if kind else None  # qualifies the kind
        return cls(
            oc=oc,
            status=status,
            since=_day("from", query.get("from")),
            until=_day("to", query.get("to")),
            kind=kind,
            flagged_from=params.instant("flagged_from", flagged) if flagged else None,
            q=params.text("q", query.get("q", ""), SEARCHED),
            after=params.text("after", query.get("after", ""), SEARCHED) or None,
            after_id=params.text("after_id", query.get("after_id", ""), 40) or None,
            zone=zone,
        )

    def as_query(self, **changes: Any) -> dict[str, str]:
        """The filters as a query string, for links; the cursor only if given in `changes`."""
        values = replace(self, **({"after": None, "after_id": None} | changes))
        pairs = {
            "q": values.q,
            "oc": values.oc,
            "status": values.status,
            "kind": values.kind,
            "flagged_from": instant_text(values.flagged_from) if values.flagged_from else None,
            "from": values.since.isoformat() if values.since else None,
            "to": values.until.isoformat() if values.until else None,
            "after": values.after,
            "after_id": values.after_id,
        }
        return {k: v for k, v in pairs.items() if v}

    def received_range(self) -> tuple[datetime | None, datetime | None]:
        # A day in the console's zone, as the page shows times: 23 or 25 hours on the days the
        # clocks change.
        start = datetime.combine(self.since, time(), self.zone) if self.since else None
        end = (
            datetime.combine(self.until + timedelta(days=1), time(), self.zone)
            if self.until
            else None
        )
        return start, end


def instant_text(value: datetime) -> str:
    """An instant as links carry it: UTC, to the second, no `+` (which a query string would
    read as a space)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _day(name: str, text: str | None) -> date | None:
    return params.day(name, text) if text else None
