"""Acks of accepted deliveries, coalesced: one `multiple` ack for a run of them.

On a catch-up day intake settles thousands of deliveries a second; a frame each is work for this
process and for the broker that a run of them does not need. Every delivery is registered when
it arrives (delivery tags grow with each delivery of a channel, so registration order is tag
order). An accepted one is acked with the others of its channel at the next turn of the event
loop: the highest tag below which every registered delivery is accepted goes as one multiple
ack; accepted ones above a delivery still being handled (one held through a database outage,
say) go one by one, so that none waits on another. A delivery settled otherwise (dead-lettered,
given back) is forgotten only once that is done, so a multiple ack never covers a tag before its
own settlement.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aio_pika.abc import AbstractIncomingMessage
from aiormq.exceptions import ChannelInvalidStateError

from worker.observe.failures import AMQP_ERRORS

# Per channel, in tag order: each delivery being handled, and the future of its ack once asked.
Waiting = dict[int, tuple[AbstractIncomingMessage, "asyncio.Future[None] | None"]]
Asked = tuple[AbstractIncomingMessage, "asyncio.Future[None]"]
Send = tuple[AbstractIncomingMessage, list["asyncio.Future[None]"]]


class Acks:
    def __init__(self) -> None:
        self._channels: dict[Any, Waiting] = {}
        self._flushing: asyncio.Task[None] | None = None

    def arrived(self, message: AbstractIncomingMessage) -> None:
        channel = _channel(message)
        if channel is None:
            return  # closed already: the broker redelivers it
        if channel not in self._channels:  # a new channel: the closed ones' deliveries are gone
            for closed in [c for c in self._channels if c.is_closed]:
                self._fail(self._channels.pop(closed))
        self._channels.setdefault(channel, {})[_tag(message)] = (message, None)

    def forget(self, message: AbstractIncomingMessage) -> None:
        """The delivery is settled (or abandoned) by other means."""
        channel = _channel(message)
        waiting = self._channels.get(channel)
        if waiting is not None:
            waiting.pop(_tag(message), None)
            if not waiting:
                del self._channels[channel]

    async def ack(self, message: AbstractIncomingMessage) -> None:
        """Returns once the ack is written; raises what writing it raised (the channel closed)."""
        channel = _channel(message)
        if channel is None:
            raise ChannelInvalidStateError("the delivery's channel is closed")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._channels.setdefault(channel, {})[_tag(message)] = (message, future)
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush())
        await future

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # the other deliveries of the same insert batch ask meanwhile
        while sends := self._take():
            for message, futures in sends:
                await _send(message, futures, multiple=len(futures) > 1)

    @staticmethod
    def _fail(waiting: Waiting) -> None:
        for _, future in waiting.values():
            if future is not None and not future.done():
                future.set_exception(ChannelInvalidStateError("the delivery's channel closed"))

    def _take(self) -> list[Send]:
        """The acks to send now, taken out of the registry: per channel, one multiple ack for
        the accepted deliveries before the first one still being handled, one each after it."""
        sends: list[Send] = []
        for channel, waiting in list(self._channels.items()):
            run: list[Asked] = []
            alone: list[Asked] = []
            gap = False
            for tag, (message, future) in list(waiting.items()):
                if future is None:
                    gap = True
                    continue
                del waiting[tag]
                (alone if gap else run).append((message, future))
            if run:
                sends.append((run[-1][0], [future for _, future in run]))
            sends += [(message, [future]) for message, future in alone]
            if not waiting:
                del self._channels[channel]
        return sends


async def _send(
    message: AbstractIncomingMessage, futures: list[asyncio.Future[None]], *, multiple: bool
) -> None:
    try:
        await message.ack(multiple=multiple)
    except AMQP_ERRORS as exc:
        for future in futures:
            if not future.done():
                future.set_exception(exc)
        return
    for future in futures:
        if not future.done():
            future.set_result(None)


def _channel(message: AbstractIncomingMessage) -> Any:
    try:
        return message.channel
    except ChannelInvalidStateError:
        return None


def _tag(message: AbstractIncomingMessage) -> int:
    assert message.delivery_tag is not None  # the consumer acks: every delivery has a tag
    return message.delivery_tag
