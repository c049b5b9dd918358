"""`worker send`: publish CR_STOC messages, as the order-flow system does (tests, demos, load)."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import aio_pika
from aio_pika.abc import AbstractExchange

from worker.events.topology import INPUT_ROUTING_KEY, QueuePolicy, declare
from worker.resources import connect_broker
from worker.settings import Settings

REFERENCE_FIELDS = {
    "intervention": "referenceCommandeSousTraitantOI",
    "order": "referenceCommandePriseInterneOC",
    "access": "referencePrestationPrise",
}
_IN_FLIGHT = 500  # publishes awaiting their confirm at once


def cr_stoc_message(code_oc: str, references: dict[str, str], index: int = 0) -> dict[str, Any]:
    """A message of the contract; `{n}` in a reference becomes `index`."""
    body: dict[str, Any] = {"messageId": str(uuid.uuid4()), "flux": "CR_STOC", "codeOC": code_oc}
    for query, value in references.items():
        body[REFERENCE_FIELDS[query]] = value.replace("{n}", str(index))
    return body


async def send_messages(
    settings: Settings, code_oc: str, references: dict[str, str], count: int
) -> list[str]:
    """Publish `count` messages, each confirmed by the broker; returns their messageIds."""
    bodies = [cr_stoc_message(code_oc, references, index) for index in range(count)]
    await send_bodies(settings, bodies)
    return [body["messageId"] for body in bodies]


async def send_bodies(settings: Settings, bodies: list[dict[str, Any]]) -> None:
    """Publish these messages on one connection, many confirms in flight at once."""
    count = len(bodies)
    connection = await connect_broker(settings)
    try:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        exchange = (await declare(channel, QueuePolicy.of(settings))).exchange
        for start in range(0, count, _IN_FLIGHT):
            batch = bodies[start : start + _IN_FLIGHT]
            await asyncio.gather(*(publish_message(exchange, body) for body in batch))
    finally:
        await connection.close()


async def publish_message(exchange: AbstractExchange, body: dict[str, Any]) -> None:
    message = aio_pika.Message(
        json.dumps(body).encode(),
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=body["messageId"],
    )
    await exchange.publish(message, INPUT_ROUTING_KEY)
