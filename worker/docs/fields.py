"""A pydantic field as a row of a reference table: its type, constraints, default and example."""

from __future__ import annotations

import types
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, HttpUrl, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from worker.partners.duration import format_duration

_NAMES: dict[object, str] = {
    str: "text",
    SecretStr: "secret text",
    Path: "path",
    HttpUrl: "URL",
    float: "number",
    int: "integer",
    bool: "`true` or `false`",
    timedelta: "duration",
}
_BOUNDS = (
    (annotated_types.Ge, "ge", ">="),
    (annotated_types.Gt, "gt", ">"),
    (annotated_types.Le, "le", "<="),
    (annotated_types.Lt, "lt", "<"),
)


def nested_model(field: FieldInfo) -> type[BaseModel] | None:
    """The table a key holds (`oauth2`, `rate`...), or None for a plain value."""
    for arg in (field.annotation, *get_args(field.annotation)):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def type_of(field: FieldInfo) -> str:
    """`integer, >= 1`, `` `quorum` or `classic` ``, `duration, optional`..."""
    annotation, optional = _unwrap_optional(field.annotation)
    words = [_name(annotation), *_constraints(field)]
    if optional:
        words.append("optional")
    return ", ".join(words)


def default_of(field: FieldInfo) -> str:
    if field.default_factory is not None:
        return "(computed)"
    value = field.default
    if value is PydanticUndefined:
        return "**required**"
    if value is None or value == ():
        return "none"
    if isinstance(value, BaseModel):
        return "(below)"
    return f"`{show(value)}`"


def example_of(field: FieldInfo) -> str:
    return "; ".join(f"`{show(example)}`" for example in field.examples or [])


def show(value: Any) -> str:
    """A value as it is written in the environment or the TOML file."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, timedelta):
        return format_duration(value.total_seconds(), units=4).replace(" ", "")
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(f'"{item}"' for item in value) + "]"
    return str(value)


def cell(text: str) -> str:
    """Text that may go in a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [arg for arg in get_args(annotation) if arg is not type(None)]
        optional = len(args) < len(get_args(annotation))
        return (args[0] if len(args) == 1 else annotation), optional
    return annotation, False


def _name(annotation: Any) -> str:
    if get_origin(annotation) is Literal:
        return " or ".join(f"`{value}`" for value in get_args(annotation))
    if get_origin(annotation) is tuple:
        return "list of " + _name(get_args(annotation)[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "table"
    return _NAMES.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _constraints(field: FieldInfo) -> list[str]:
    found = []
    for item in field.metadata:
        for kind, attribute, sign in _BOUNDS:
            if isinstance(item, kind):
                found.append(f"{sign} {show(getattr(item, attribute))}")
        if (pattern := getattr(item, "pattern", None)) is not None:
            found.append(f"matching `{pattern}`")
        if (length := getattr(item, "min_length", None)) is not None:
            found.append(f"at least {length} character{'s' if length > 1 else ''}")
    return found
