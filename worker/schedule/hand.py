"""The claims a process holds: running ones, a slot of their OC each, and ones waiting for a slot.

A claim takes an OC's free slots and as many again: requests that fall due together are claimed
by one statement and start as slots free, without a claim each (before, an attempt that ended
freed one slot and brought a claim of its own). The ones that start at once are claimed started;
the others wait unstarted: they spend no attempt and count as no interruption until they start,
which checks their lease and the OC's conditions first. Waiting claims are leased like running
ones and renewed, but not for long: one that waited past a bound goes back (and its OC claims
no more to wait until a slot frees), so a due request does not idle in a busy process while
another has room; at shutdown they go back at once. At most one OC's `concurrency` of its
requests waits in a process, so replicas still share an OC's work.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter, deque
from collections.abc import Iterator, Mapping

from worker.schedule.claims import Claim


class Hand:
    def __init__(self, slots: Mapping[str, int], limit: int) -> None:
        """`slots`: each OC's concurrency; `limit`: attempts running at once, all OCs."""
        self._slots = dict(slots)
        self._limit = limit
        self.free = dict(slots)
        self._waiting: dict[str, deque[Claim]] = {code: deque() for code in slots}
        # The OC's last claim got all it asked for: more of its requests may be due.
        self._more = dict.fromkeys(slots, True)
        # A claim of the OC waited too long and went back: claim none to wait until a slot frees.
        self._idle = dict.fromkeys(slots, False)
        self._turn = 0

    def wanted(self) -> dict[str, int]:
        """Per OC with room, how many a claim may take: free slots and as many again."""
        wanted = {
            code: self.free[code] + (0 if self._idle[code] else slots) - len(self._waiting[code])
            for code, slots in self._slots.items()
        }
        return {code: n for code, n in wanted.items() if n > 0}

    def plan(self, asked: Mapping[str, int], running: int) -> dict[str, int]:
        """How many of each OC's claims start at once (the rest wait): within its free slots
        and the global limit, in the order of `asked`."""
        budget = self._limit - running
        start = {}
        for code, count in asked.items():
            start[code] = max(0, min(count, self.free.get(code, 0), budget))
            budget -= start[code]
        return start

    def room(self, running: int) -> int:
        """How many a claim may take in all."""
        return 2 * self._limit - running - sum(map(len, self._waiting.values()))

    def took(self, asked: Mapping[str, int], taken: list[Claim], room: int) -> list[Claim]:
        """Keep the waiting ones; the started ones take their slots and are returned."""
        got = Counter(claim.code_oc for claim in taken)
        for code, count in asked.items():
            self._more[code] = got[code] >= count or len(taken) >= room
        started = []
        for claim in taken:
            if claim.started:
                self.free[claim.code_oc] -= 1
                started.append(claim)
            else:
                self._waiting[claim.code_oc].append(claim)
        return started

    def startable(self, running: int) -> Iterator[Claim]:
        """The waiting claims that may start now, each taking its slot. The OCs take turns at
        going first, so that when the global limit binds no OC is always served last."""
        codes = list(self._waiting)
        self._turn = (self._turn + 1) % len(codes) if codes else 0
        for code in codes[self._turn :] + codes[: self._turn]:
            waiting = self._waiting[code]
            while waiting and self.free[code] > 0 and running < self._limit:
                self.free[code] -= 1
                running += 1
                yield waiting.popleft()

    def freed(self, code: str) -> None:
        self.free[code] += 1
        self._idle[code] = False

    def stale(self, bound: float) -> list[Claim]:
        """Take out the claims that waited longer than `bound` seconds (to be given back)."""
        now = time.monotonic()
        taken = []
        for code, waiting in self._waiting.items():
            kept = deque(claim for claim in waiting if now - claim.clock <= bound)
            if len(kept) < len(waiting):
                self._idle[code] = True
                taken += [claim for claim in waiting if now - claim.clock > bound]
            self._waiting[code] = kept
        return taken

    def wants_claim(self) -> bool:
        """Some OC has nothing waiting, a free slot, and may have more due: worth a claim now.
        Otherwise a freed slot is not news: the waiting claims or the next wake-up will do."""
        return any(
            self._more[code] and not self._waiting[code] and self.free[code] > 0
            for code in self._slots
        )

    def leases(self) -> list[uuid.UUID]:
        return [claim.lease_id for waiting in self._waiting.values() for claim in waiting]

    def drop(self, lost: set[uuid.UUID]) -> None:
        """Forget waiting claims whose lease another worker holds now."""
        for code, waiting in self._waiting.items():
            self._waiting[code] = deque(claim for claim in waiting if claim.lease_id not in lost)

    def take_all(self) -> list[Claim]:
        taken = [claim for waiting in self._waiting.values() for claim in waiting]
        for waiting in self._waiting.values():
            waiting.clear()
        return taken
