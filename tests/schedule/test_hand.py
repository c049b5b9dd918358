"""Claims in hand: an OC's free slots and as many again are claimed; they start as slots free."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime

from worker.schedule.claims import Claim
from worker.schedule.hand import Hand

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _claims(code: str, count: int) -> list[Claim]:
    return [
        Claim(
            message_id=uuid.uuid4(),
            code_oc=code,
            references={"intervention": f"R-{i}", "order": None, "access": None},
            attempt=1,
            not_found_count=0,
            received_at=NOW,
            lease_id=uuid.uuid4(),
            waiting_since=NOW,
            deadline=NOW,
            claimed_at=NOW,
            interruptions=0,
            started=False,
        )
        for i in range(count)
    ]


def test_a_claim_asks_for_the_free_slots_and_as_many_again() -> None:
    hand = Hand({"OCAA": 4, "OCBB": 2}, limit=16)
    assert hand.wanted() == {"OCAA": 8, "OCBB": 4}
    hand.took({"OCAA": 8}, _claims("OCAA", 8), room=32)
    started = list(hand.startable(running=0))
    assert len(started) == 4  # one per free slot; the other four wait
    assert hand.wanted() == {"OCBB": 4}  # OCAA: no free slot, and its four ahead in hand


def test_a_freed_slot_starts_a_waiting_claim_before_asking_for_a_claim() -> None:
    hand = Hand({"OCAA": 2}, limit=16)
    hand.took({"OCAA": 4}, _claims("OCAA", 4), room=32)
    assert len(list(hand.startable(running=0))) == 2
    hand.freed("OCAA")
    assert not hand.wants_claim()  # two wait: the freed slot takes one of them
    assert len(list(hand.startable(running=1))) == 1
    hand.freed("OCAA")
    assert len(list(hand.startable(running=1))) == 1
    hand.freed("OCAA")
    assert hand.wants_claim()  # nothing waits, and the last claim got all it asked for


def test_after_a_claim_that_found_fewer_than_asked_a_freed_slot_is_not_news() -> None:
    hand = Hand({"OCAA": 4}, limit=16)
    hand.took({"OCAA": 8}, _claims("OCAA", 3), room=32)
    assert len(list(hand.startable(running=0))) == 3
    hand.freed("OCAA")
    assert not hand.wants_claim()  # nothing more was due: the timer's wake-up will do


def test_the_global_limit_holds_waiting_claims_back() -> None:
    hand = Hand({"OCAA": 4, "OCBB": 4}, limit=3)
    hand.took({"OCAA": 2, "OCBB": 2}, [*_claims("OCAA", 2), *_claims("OCBB", 2)], room=6)
    assert len(list(hand.startable(running=0))) == 3
    assert hand.room(running=3) == 2  # twice the limit, less those running and waiting


def test_lost_and_drained_claims_leave_the_hand() -> None:
    hand = Hand({"OCAA": 1}, limit=16)
    claims = _claims("OCAA", 3)
    hand.took({"OCAA": 2}, claims[:2], room=32)
    hand.drop({claims[0].lease_id})
    assert hand.leases() == [claims[1].lease_id]
    assert [claim.lease_id for claim in hand.take_all()] == [claims[1].lease_id]
    assert hand.leases() == []


def test_when_the_global_limit_binds_the_ocs_take_turns_at_going_first() -> None:
    hand = Hand({"OCAA": 4, "OCBB": 4}, limit=1)
    hand.took({"OCAA": 4, "OCBB": 4}, [*_claims("OCAA", 4), *_claims("OCBB", 4)], room=8)
    first = [next(hand.startable(running=0)).code_oc for _ in range(4)]
    assert sorted(first) == ["OCAA", "OCAA", "OCBB", "OCBB"]


def test_the_claims_that_start_at_once_fit_the_free_slots_and_the_global_limit() -> None:
    hand = Hand({"OCAA": 4, "OCBB": 4}, limit=5)
    assert hand.plan({"OCAA": 8, "OCBB": 8}, running=0) == {"OCAA": 4, "OCBB": 1}
    assert hand.plan({"OCAA": 2, "OCBB": 8}, running=4) == {"OCAA": 1, "OCBB": 0}


def test_a_claim_that_waited_too_long_goes_back_and_its_oc_claims_none_to_wait() -> None:
    hand = Hand({"OCAA": 1}, limit=16)
    hand.took({"OCAA": 1}, [replace(_claims("OCAA", 1)[0], started=True)], room=32)
    old = _claims("OCAA", 1)
    hand.took({"OCAA": 1}, [replace(old[0], clock=time.monotonic() - 60)], room=32)
    assert hand.stale(bound=10) == [replace(old[0], clock=0)]  # the clock is not compared
    assert hand.leases() == []
    assert hand.wanted() == {}  # its one slot is busy, and nothing more is held for it
    hand.freed("OCAA")
    assert hand.wanted() == {"OCAA": 2}
