"""Every private psycopg name tenantkit relies on, in one place, checked at import.

The binding rides psycopg's own transaction start, which psycopg does not
expose publicly. Rather than scatter private names through the binding code,
they are read here once; if a psycopg release renames or removes one, importing
tenantkit.db raises `BindingError` naming the psycopg version, instead of
binding wrongly or failing later in a request. tests/db pins the behaviour.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import partial
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Final
from weakref import ref

import psycopg
from psycopg import generators, pq

from tenantkit.errors import BindingError

if TYPE_CHECKING:
    from psycopg.abc import PQGen
    from psycopg.pq.abc import PGconn, PGresult

__all__ = [
    "START_QUERY",
    "adopt_pgconn",
    "base_start_query",
    "connection_of",
    "exec_command",
    "fetch_many",
    "follow_pgconn",
    "is_broken",
    "pipeline_of",
    "queue_in_pipeline",
    "reset_prepared_statements",
    "results",
    "send",
    "tx_start_command",
]

#: The method psycopg calls before every statement to open a transaction if needed.
START_QUERY: Final = "_start_query"

_REQUIRED: Final = {
    psycopg.Connection: (START_QUERY, "_exec_command", "_get_tx_start_command",
                         "_notice_handler", "_notify_handler"),
    psycopg.AsyncConnection: (START_QUERY,),
    psycopg.Cursor: ("_results", "_conn", "_pgconn"),
    psycopg.Pipeline: ("_sync_gen",),
}

#: Attributes psycopg's constructors set on each instance: no instance can be made
#: at import, so their code is asked whether it still assigns them.
_ASSIGNED: Final = (
    ("psycopg._connection_base", "BaseConnection", ("_pipeline", "_prepared")),
    ("psycopg._pipeline", "BasePipeline", ("command_queue", "result_queue")),
)


def _probe() -> None:
    missing = [f"{cls.__name__}.{name}" for cls, names in _REQUIRED.items()
               for name in names if not hasattr(cls, name)]
    for module, name in ((generators, "send"), (generators, "fetch_many"),
                         (generators, "execute")):
        if not hasattr(module, name):
            missing.append(f"psycopg.generators.{name}")
    for module_name, class_name, names in _ASSIGNED:
        try:
            cls = getattr(importlib.import_module(module_name), class_name, None)
        except ImportError:
            cls = None
        init = getattr(getattr(cls, "__init__", None), "__code__", None)
        assigned = init.co_names if init is not None else ()
        missing += [f"{class_name}.{name}" for name in names if name not in assigned]
    try:
        from psycopg._preparing import PrepareManager
    except ImportError:
        missing.append("psycopg._preparing.PrepareManager")
    else:
        for attr in ("prepare_threshold", "prepared_max"):
            if not hasattr(PrepareManager(), attr):
                missing.append(f"PrepareManager.{attr}")
    if missing:
        raise BindingError(
            f"tenantkit's binding does not support psycopg {psycopg.__version__}: "
            f"missing {', '.join(missing)}; install a psycopg version allowed by tenantkit"
        )


_probe()

send: Final = generators.send
fetch_many: Final = generators.fetch_many
execute: Final = generators.execute


def base_start_query(cls: type[Any]) -> Callable[..., PQGen[None]]:
    """psycopg's own `_start_query` of `cls` (a psycopg connection class)."""
    method: Callable[..., PQGen[None]] = getattr(cls, START_QUERY)
    return method


def exec_command(conn: Any, command: bytes) -> PQGen[PGresult | None]:
    """Run one command through psycopg (inside its pipeline, if one is open)."""
    gen: PQGen[PGresult | None] = conn._exec_command(command)
    return gen


def tx_start_command(conn: Any) -> bytes:
    """The BEGIN statement psycopg would send (isolation level, read only...)."""
    command: bytes = conn._get_tx_start_command()
    return command


def pipeline_of(conn: Any) -> Any:
    """The user's open psycopg pipeline on `conn`, or None."""
    return conn._pipeline


def queue_in_pipeline(conn: Any, send_query: Callable[[], None]) -> PQGen[None]:
    """Queue a statement in the user's psycopg pipeline, whose result no cursor awaits."""
    pipeline = conn._pipeline
    pipeline.command_queue.append(send_query)
    pipeline.result_queue.append(None)
    gen: PQGen[None] = pipeline._sync_gen()
    return gen


def reset_prepared_statements(conn: Any) -> None:
    """Forget psycopg's prepared statements (after the server dropped them all)."""
    from psycopg._preparing import PrepareManager

    old = conn._prepared
    fresh = PrepareManager()
    fresh.prepare_threshold = old.prepare_threshold
    fresh.prepared_max = old.prepared_max
    conn._prepared = fresh


def adopt_pgconn(conn: Any, donor: Any) -> None:
    """Give `conn` the libpq connection of `donor` (a fresh connection), and `donor` conn's.

    The donor then holds the old, broken libpq connection and is closed by the
    caller. Notices and notifications of the adopted connection are routed to
    `conn`, as psycopg's constructor does; its prepared statements are forgotten.
    """
    conn.pgconn, donor.pgconn = donor.pgconn, conn.pgconn
    wself = ref(conn)
    base = psycopg.Connection
    conn.pgconn.notice_handler = partial(base._notice_handler, wself)
    conn.pgconn.notify_handler = partial(base._notify_handler, wself)
    reset_prepared_statements(conn)


#: Every result of a cursor's last execute (a simple query may carry several).
results: Final[Callable[[Any], list[PGresult]]] = attrgetter("_results")
#: The connection a cursor belongs to, without the public property's checks.
connection_of: Final[Callable[[Any], Any]] = attrgetter("_conn")


def follow_pgconn(cursor: Any) -> None:
    """Point `cursor` at its connection's current libpq connection (after adopt_pgconn)."""
    cursor._pgconn = cursor.connection.pgconn


def is_broken(pgconn: PGconn) -> bool:
    """True when libpq has given up on the connection (the server side is gone)."""
    return bool(pgconn.status == pq.ConnStatus.BAD)
