"""One readable line from a pydantic ValidationError, for logs, dead letters and refusals."""

from __future__ import annotations

from pydantic import ValidationError


def describe_errors(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in error["loc"])
        parts.append(f"{where}: {error['msg']}" if where else error["msg"])
    return "; ".join(parts)
