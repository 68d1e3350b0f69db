"""Connection strings for a TCP server with a password, built from the harness's URLs."""

from __future__ import annotations

import pytest
from psycopg import ProgrammingError
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy.engine import URL, make_url

from tenantkit.testing.database import libpq_conninfo

pytestmark = pytest.mark.nodb

# What a generated or pasted password may hold: URL delimiters, quotes, a space.
AWKWARD = "tk a1 @:/?#%'\"\\+&="


def tcp_url(**query: str) -> URL:
    return URL.create(
        "postgresql+psycopg",
        username="postgres",
        password=AWKWARD,
        host="127.0.0.1",
        port=49153,
        database="tenantkit_test_1",
        query=query,
    )


def test_any_password_survives_the_conninfo() -> None:
    params = conninfo_to_dict(libpq_conninfo(tcp_url()))
    assert params == {
        "host": "127.0.0.1",
        "port": "49153",
        "dbname": "tenantkit_test_1",
        "user": "postgres",
        "password": AWKWARD,
    }


def test_rendering_the_url_instead_would_break() -> None:
    """Why conninfo() does not hand libpq `render_as_string()`: the space stays raw."""
    rendered = tcp_url().render_as_string(hide_password=False)
    assert make_url(rendered).password == AWKWARD  # SQLAlchemy reads its own rendering back
    with pytest.raises(ProgrammingError, match="spaces"):
        conninfo_to_dict(rendered.replace("postgresql+psycopg://", "postgresql://", 1))


def test_query_parameters_reach_libpq() -> None:
    params = conninfo_to_dict(libpq_conninfo(tcp_url(sslmode="require", connect_timeout="5")))
    assert params["sslmode"] == "require"
    assert params["connect_timeout"] == "5"


def test_a_unix_socket_directory_stays_the_host() -> None:
    socket_url = URL.create(
        "postgresql+psycopg",
        username="postgres",
        database="postgres",
        query={"host": "/tmp/tenantkit-pg-x"},
    )
    assert conninfo_to_dict(libpq_conninfo(socket_url)) == {
        "host": "/tmp/tenantkit-pg-x",
        "dbname": "postgres",
        "user": "postgres",
    }
