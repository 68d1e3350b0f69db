"""The statements the binding sends, read once from `sql/runtime/`."""

from __future__ import annotations

import re
from typing import Final

from tenantkit.sqlfiles import load_sql

__all__ = [
    "BACKEND",
    "BIND",
    "BINDING_REQUIRED",
    "BIND_AFTER_CHECKOUT",
    "BIND_AFTER_CHECKOUT_FULL",
    "BIND_SET_LOCAL",
    "KEY_CHECK",
    "PROBE",
    "PROBE_FULL",
    "RESET",
    "RESTORE",
    "SAFETY",
    "SAFETY_AND_BASELINE",
    "Prepared",
]


def _statement(name: str) -> bytes:
    # The .sql files carry comments for readers; the wire gets the bare statement.
    lines = (line.split("--", 1)[0].strip() for line in load_sql(name).splitlines())
    return " ".join(line for line in lines if line).encode()


def _select_list(statement: bytes) -> bytes:
    assert statement.startswith(b"SELECT ")
    return statement.removeprefix(b"SELECT ")


class Prepared:
    """A statement the binding prepares once per connection, under a fixed name."""

    __slots__ = ("name", "sql")

    def __init__(self, name: bytes, sql: bytes) -> None:
        self.name = name
        self.sql = sql


SAFETY: Final = _statement("runtime/connection_safety.sql")
_PROBE_SQL: Final = _statement("runtime/checkout_probe.sql")
_OBJECTS_SQL: Final = _statement("runtime/checkout_probe_objects.sql")
_BIND_SQL: Final = _statement("runtime/bind.sql")
_BASELINE_SQL: Final = _statement("runtime/session_baseline.sql")


def _merged(name: bytes, *statements: bytes) -> Prepared:
    # One statement from several SELECT lists, in order: the probes read the
    # tenantkit.* settings before the bind sets them.
    return Prepared(name, b"SELECT " + b", ".join(_select_list(s) for s in statements))


#: Columns of the probes, as the client reads them.
PROBE_TEMP_SCHEMA, PROBE_SETTINGS, PROBE_LEFTOVERS = 0, 1, 3

#: BEGIN's companion on a bound transaction.
BIND: Final = Prepared(b"_tenantkit_bind", _BIND_SQL)
#: The first bound transaction after a checkout: the cheap probe, then the bind.
BIND_AFTER_CHECKOUT: Final = _merged(b"_tenantkit_bind_checkout", _PROBE_SQL, _BIND_SQL)
#: ... when the last user's statements may have left session objects: both probes.
BIND_AFTER_CHECKOUT_FULL: Final = _merged(
    b"_tenantkit_bind_checkout_full", _PROBE_SQL, _OBJECTS_SQL, _BIND_SQL
)
#: The first unbound transaction (or autocommit statement) after a checkout.
PROBE: Final = Prepared(b"_tenantkit_probe", _PROBE_SQL)
PROBE_FULL: Final = _merged(b"_tenantkit_probe_full", _PROBE_SQL, _OBJECTS_SQL)
#: First use of a physical connection: the gate ($1 NULL), the probe, the baseline.
SAFETY_AND_BASELINE: Final = (SAFETY, _PROBE_SQL, _BASELINE_SQL)
#: Cleanup after an earlier user, one statement per line of the file.
RESET: Final = tuple(
    line.encode()
    for line in (raw.split("--", 1)[0].strip() for raw in load_sql("runtime/session_reset.sql")
                 .splitlines())
    if line
)
RESTORE: Final = _statement("runtime/session_restore.sql")
#: First use with a signing engine: does the app's key match the database's verifier?
KEY_CHECK: Final = _statement("runtime/binding_key_check.sql")
BACKEND: Final = _statement("runtime/backend.sql")
#: First use of a connection whose engine does not sign (is signing required?).
BINDING_REQUIRED: Final = _statement("runtime/binding_required.sql")

_LITERAL: Final = re.compile(rb"@(user|org|sig|key)@")
_SET_LOCAL_TEMPLATE: Final = _statement("runtime/bind_set_local.sql")


def bind_set_local(user: bytes, org: bytes, sig: bytes, key: bytes) -> bytes:
    """The set_local (Citus) binding with the ids and the signature as quoted literals."""
    values = {b"user": user, b"org": org, b"sig": sig, b"key": key}
    return _LITERAL.sub(lambda m: values[m.group(1)], _SET_LOCAL_TEMPLATE)


BIND_SET_LOCAL: Final = bind_set_local
