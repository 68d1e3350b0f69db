"""Where a request names its org: a path parameter, a header, a query parameter, or
the token's active org. Never "the user's first org": the org is always explicit.

    path_param("/org/{org_id}")   # app-wide ASGI middleware: matched against the path
    path_param()                  # FastAPI / Flask / route-level: the routed parameter
    header("X-Org-Id")
    query_param("org_id")
    active_org()                  # PropelAuth's org_member_info / WorkOS's org_id claim

An extractor is any callable `(RequestView, Principal | None) -> str | None`; None
means the request names no org. A value given twice (two headers, `?org_id=a&org_id=b`)
is refused with `InvalidField` (400): layers that pick different copies would
disagree about the tenant. UUIDs are lowercased, the form tokens carry.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final, Protocol

from tenantkit.errors import InvalidField
from tenantkit.principal import Principal

__all__ = [
    "ActiveOrg",
    "Header",
    "OrgIdExtractor",
    "PathParam",
    "QueryParam",
    "RequestView",
    "active_org",
    "header",
    "path_param",
    "query_param",
]

_UUID_ANY_CASE: Final = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_PLACEHOLDER: Final = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class Ambiguous(Exception):
    """Raised by a `RequestView` when a header or query parameter is given more than once."""


class RequestView(Protocol):
    """What an extractor may read of a request; each framework adapter provides one."""

    @property
    def path(self) -> str:
        """The path the app routes on (without any mount prefix)."""
        ...

    def path_param(self, name: str) -> str | None:
        """A routed path parameter, or None when not routed (yet) or absent."""
        ...

    def header(self, name: str) -> str | None:
        """A header by lowercase name; raises `Ambiguous` when it is repeated."""
        ...

    def query_param(self, name: str) -> str | None:
        """A query parameter; raises `Ambiguous` when it is repeated."""
        ...


OrgIdExtractor = Callable[[RequestView, Principal | None], str | None]


def _normalise(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    # Canonical lowercase for UUIDs; anything else stays as given and fails the
    # membership check (403) rather than being guessed at.
    return value.lower() if _UUID_ANY_CASE.fullmatch(value) else value


def _refuse_ambiguous(where: str) -> InvalidField:
    return InvalidField("org_id", f"the {where} is given more than once")


class PathParam:
    """The org id from a path parameter (see `path_param`)."""

    __slots__ = ("_pattern", "name", "template")

    def __init__(self, template: str | None = None, *, name: str = "org_id") -> None:
        self.name = name
        self.template = template
        self._pattern = None if template is None else _compile_template(template, name)

    def __call__(self, view: RequestView, principal: Principal | None) -> str | None:
        if self._pattern is None:
            return _normalise(view.path_param(self.name))
        match = self._pattern.match(view.path)
        return _normalise(match.group(self.name)) if match else None

    def __repr__(self) -> str:
        return f"path_param({self.template!r}, name={self.name!r})"


def _compile_template(template: str, name: str) -> re.Pattern[str]:
    if not template.startswith("/"):
        raise ValueError(f"path template must start with '/': {template!r}")
    names = _PLACEHOLDER.findall(template)
    if names.count(name) != 1:
        raise ValueError(f"path template {template!r} must contain {{{name}}} exactly once")
    parts: list[str] = []
    position = 0
    for match in _PLACEHOLDER.finditer(template):
        parts.append(re.escape(template[position : match.start()]))
        placeholder = match.group(1)
        parts.append(f"(?P<{name}>[^/]+)" if placeholder == name else "[^/]+")
        position = match.end()
    parts.append(re.escape(template[position:]))
    # A prefix match ending on a segment boundary: "/org/{org_id}" covers
    # "/org/<id>" and everything under it, never "/org/<id>extra".
    return re.compile("".join(parts) + r"(?=/|$)")


class Header:
    """The org id from a request header (see `header`)."""

    __slots__ = ("name",)

    def __init__(self, name: str = "X-Org-Id") -> None:
        if not name or not name.isascii() or any(c in name for c in " :\r\n"):
            raise ValueError(f"not a header name: {name!r}")
        self.name = name.lower()

    def __call__(self, view: RequestView, principal: Principal | None) -> str | None:
        try:
            return _normalise(view.header(self.name))
        except Ambiguous:
            raise _refuse_ambiguous(f"header {self.name}") from None

    def __repr__(self) -> str:
        return f"header({self.name!r})"


class QueryParam:
    """The org id from a query parameter (see `query_param`)."""

    __slots__ = ("name",)

    def __init__(self, name: str = "org_id") -> None:
        if not name:
            raise ValueError("query parameter name must not be empty")
        self.name = name

    def __call__(self, view: RequestView, principal: Principal | None) -> str | None:
        try:
            return _normalise(view.query_param(self.name))
        except Ambiguous:
            raise _refuse_ambiguous(f"query parameter {self.name}") from None

    def __repr__(self) -> str:
        return f"query_param({self.name!r})"


class ActiveOrg:
    """The org the token is scoped to (see `active_org`)."""

    __slots__ = ()

    def __call__(self, view: RequestView, principal: Principal | None) -> str | None:
        return None if principal is None else principal.active_org_id

    def __repr__(self) -> str:
        return "active_org()"


def path_param(template: str | None = None, *, name: str = "org_id") -> PathParam:
    """The org id from the path.

    With a `template` such as "/org/{org_id}", the path is matched against it
    (a prefix, on segment boundaries): what an app-wide ASGI middleware needs,
    since it runs before the router. Without one, the routed parameter `name`
    is read (FastAPI and Flask dependencies, route-level middleware).
    """
    return PathParam(template, name=name)


def header(name: str = "X-Org-Id") -> Header:
    """The org id from a request header (one copy only)."""
    return Header(name)


def query_param(name: str = "org_id") -> QueryParam:
    """The org id from a query parameter (one copy only)."""
    return QueryParam(name)


def active_org() -> ActiveOrg:
    """The token's active org (PropelAuth `org_member_info`, WorkOS `org_id`), if it names one."""
    return ActiveOrg()
