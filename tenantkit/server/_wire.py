"""How the backend API's wire models come from the service's records.

- `FromRecord.from_record(record, **values)`: a response read off a record, field
  by field. `renamed` maps a wire name to the record attribute it reads (PropelAuth's
  names), datetimes go out as Unix seconds, and a field holding another response
  model (or a list of them) is built from the nested record by that model.
- `record_model(...)`: a response model with one field per field of a record's
  dataclass, so a field added to the record reaches the API unedited.
- `request_model(...)`: a request model from (wire name, type, default) triples,
  e.g. read off a record's updatable fields or a service method's signature.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import operator
import types
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import datetime
from typing import Any, ClassVar, Final, Self, Union, get_args, get_origin, get_type_hints

from pydantic import BaseModel, ConfigDict, create_model

__all__ = [
    "OMIT_UNSET",
    "FromRecord",
    "Request",
    "Response",
    "record_model",
    "request_model",
    "signature_fields",
]

_MISSING = object()

#: Route options that omit a response's unset optional fields instead of sending null.
OMIT_UNSET: Final[dict[str, Any]] = {"response_model_exclude_unset": True}


class Request(BaseModel):
    """A request body: an unknown key is a 400 naming it, never a silently ignored change."""

    model_config = ConfigDict(extra="forbid")


class Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FromRecord(Response):
    """A response read off one service record (see `from_record`)."""

    #: wire field -> the record attribute it reads, where the names differ.
    renamed: ClassVar[Mapping[str, str]] = {}
    #: wire field -> the value it always has (PropelAuth fields tenantkit has no use for).
    constants: ClassVar[Mapping[str, Any]] = {}

    @classmethod
    def from_record(cls, record: object, **values: Any) -> Self:
        """This shape of `record`; `values` gives fields by wire name instead.

        A field the record lacks keeps its default (a required one is then a bug,
        and pydantic says which).
        """
        wired: dict[str, Any] = {}
        for name, source, nested, many in _plan(cls):
            if name in values:
                value = values[name]
            elif name in cls.constants:
                value = cls.constants[name]
            else:
                value = getattr(record, source, _MISSING)
            # An optional field with no value stays unset: routes answer with
            # `response_model_exclude_unset`, so it is omitted rather than null
            # (PropelAuth's OpenAPI types these fields as not nullable).
            if value is None and name not in values and _optional(cls, name):
                continue
            if value is not _MISSING:
                wired[name] = _wire(value, nested, many)
        return cls(**wired)


def _optional(model: type[FromRecord], name: str) -> bool:
    info = model.model_fields[name]
    return not info.is_required() and info.default is None


def _wire(value: Any, nested: type[FromRecord] | None, many: bool) -> Any:
    if isinstance(value, datetime):
        return int(value.timestamp())
    if nested is None or value is None or isinstance(value, BaseModel):
        return value
    if many:
        return [item if isinstance(item, BaseModel) else nested.from_record(item)
                for item in value]
    return nested.from_record(value)


@functools.cache
def _plan(model: type[FromRecord]) -> tuple[tuple[str, str, type[FromRecord] | None, bool], ...]:
    # Per model, once: (wire name, record attribute, nested model, holds a list of them).
    return tuple(
        (name, model.renamed.get(name, name), *_nested(info.annotation))
        for name, info in model.model_fields.items()
    )


def _nested(annotation: Any) -> tuple[type[FromRecord] | None, bool]:
    """The response model a field holds (`X`, `X | None`, `list[X]`), and whether a list."""
    options = get_args(annotation) if _is_union(annotation) else (annotation,)
    for option in options:
        if get_origin(option) is list:
            (item,) = get_args(option)
            if isinstance(item, type) and issubclass(item, FromRecord):
                return item, True
        elif isinstance(option, type) and issubclass(option, FromRecord):
            return option, False
    return None, False


def _is_union(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, types.UnionType)


def _response_type(annotation: Any) -> Any:
    """A record field's type as the wire sends it: datetimes as int, tuples as lists."""
    if annotation is datetime:
        return int
    if _is_union(annotation):
        return functools.reduce(operator.or_, (_response_type(a) for a in get_args(annotation)))
    if get_origin(annotation) is tuple:
        return list[get_args(annotation)[0]]  # type: ignore[misc]
    return annotation


def record_model(
    name: str,
    record: type,
    *,
    omit: Collection[str] = (),
    also: Mapping[str, str] | None = None,
    constant: Mapping[str, tuple[Any, Any]] | None = None,
    extra: Mapping[str, tuple[Any, Any]] | None = None,
    doc: str | None = None,
) -> type[FromRecord]:
    """A response model with a field per field of the dataclass `record`, in its order.

    omit: record fields the wire does not carry. also: a second wire name for a
    record field (alias -> field), placed right after it. constant: fields the
    record does not have that always carry one value, as (type, value). extra:
    optional fields the record does not have, as (type, default).
    """
    hints = get_type_hints(record)
    aliases = dict(also or {})
    definitions: dict[str, Any] = {}
    for field in dataclasses.fields(record):
        if field.name in omit:
            continue
        wire_type = _response_type(hints[field.name])
        # Optional fields may be absent (omitted when the record has no value).
        default = None if _is_union(wire_type) and type(None) in get_args(wire_type) else ...
        definitions[field.name] = (wire_type, default)
        for alias, source in aliases.items():
            if source == field.name:
                definitions[alias] = (wire_type, default)
    constants = dict(constant or {})
    definitions.update({wire: (kind, ...) for wire, (kind, _value) in constants.items()})
    definitions.update(extra or {})
    model = create_model(
        name, __base__=FromRecord, __module__="tenantkit.server._schemas", __doc__=doc,
        **definitions,
    )
    model.renamed = aliases
    model.constants = {wire: value for wire, (_kind, value) in constants.items()}
    return model


def request_model(
    name: str, fields: Iterable[tuple[str, Any, Any]], *, doc: str | None = None
) -> type[Request]:
    """A request model from (wire name, type, default) triples (`...`: required)."""
    definitions: dict[str, Any] = {wire: (kind, default) for wire, kind, default in fields}
    return create_model(
        name, __base__=Request, __module__="tenantkit.server._schemas", __doc__=doc,
        **definitions,
    )


def signature_fields(
    method: Callable[..., Any], *, omit: Collection[str] = ()
) -> list[tuple[str, Any, Any]]:
    """(name, type, default) of a method's keyword parameters: a request mirroring a call."""
    hints = get_type_hints(method)
    found = []
    for parameter in inspect.signature(method).parameters.values():
        if parameter.name in ("self", *omit):
            continue
        default = ... if parameter.default is inspect.Parameter.empty else parameter.default
        found.append((parameter.name, hints[parameter.name], default))
    return found
