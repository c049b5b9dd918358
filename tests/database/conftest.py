"""An empty database (no migration applied), for the tests of the migrations themselves."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
async def empty_database() -> AsyncIterator[str]:
    name = f"wt{os.getpid()}_empty_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    await admin.close()
