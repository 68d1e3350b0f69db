"""Where a request names its org: a path parameter, a header, a query parameter, or
the token's active org. Never "the user's first org": the org is always explicit.

    path_param("/org/{org_id}")   # app-wide ASGI middleware: matched against the path
    path_param()                  # FastAPI / Flask / route-level: the routed parameter
    header("X-Org-Id")
    query_param("org_id")
    active_org()                  # PropelAuth's org_member_info / WorkOS's org_id claim

An extractor is any callable `(RequestView, Principal | None) -> str | None`; None
means the request names no org. Every refusal is `InvalidField` (400), raised
before any database work:
- a value given twice (two headers, `?org_id=a&org_id=b`): layers that pick
  different copies would disagree about the tenant;
- a value that is not a UUID (8-4-4-4-12 hex digits, any case; lowercased, the
  form tokens carry): NUL, control characters and surrogates never get further;
- several sources that name different orgs (`org_from`, and each adapter's
  check of the route's own `org_id` parameter): the org that is authorised is
  the org that is bound, and the only org the request names.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Final, Protocol

from tenantkit.context import UUID_PATTERN
from tenantkit.errors import InvalidField
from tenantkit.tokens import Principal

__all__ = [
    "ROUTE_ORG",
    "ActiveOrg",
    "Header",
    "OrgFrom",
    "OrgIdExtractor",
    "OrgIdSources",
    "PathParam",
    "QueryParam",
    "RequestView",
    "active_org",
    "agree",
    "header",
    "normalise_org_id",
    "org_from",
    "path_param",
    "query_param",
    "sources_with_route",
]

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
#: What the adapters' `org_id=` takes: one extractor, or several that must agree.
OrgIdSources = OrgIdExtractor | Sequence[OrgIdExtractor]


def normalise_org_id(value: object, where: str = "org id") -> str | None:
    """A requested org id in canonical lowercase; None when absent or empty.

    Anything but an 8-4-4-4-12 hex UUID (braces, bare hex, NUL, control
    characters, surrogates, other text) is `InvalidField` (400): two layers that
    parsed looser forms differently could disagree about the tenant.
    """
    if value is None or value == "":
        return None
    if isinstance(value, str) and len(value) == 36:
        lowered = value.lower()
        if UUID_PATTERN.fullmatch(lowered):
            return lowered
    raise InvalidField("org_id", f"{where} must be a UUID")


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
            return normalise_org_id(view.path_param(self.name), f"path parameter {self.name}")
        match = self._pattern.match(view.path)
        return normalise_org_id(match.group(self.name), "path") if match else None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PathParam):
            return NotImplemented
        return (self.template, self.name) == (other.template, other.name)

    def __hash__(self) -> int:
        return hash((PathParam, self.template, self.name))

    def __repr__(self) -> str:
        args = [] if self.template is None else [repr(self.template)]
        if self.name != "org_id":
            args.append(f"name={self.name!r}")
        return f"path_param({', '.join(args)})"


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
            value = view.header(self.name)
        except Ambiguous:
            raise _refuse_ambiguous(f"header {self.name}") from None
        return normalise_org_id(value, f"header {self.name}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Header) and self.name == other.name

    def __hash__(self) -> int:
        return hash((Header, self.name))

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
            value = view.query_param(self.name)
        except Ambiguous:
            raise _refuse_ambiguous(f"query parameter {self.name}") from None
        return normalise_org_id(value, f"query parameter {self.name}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, QueryParam) and self.name == other.name

    def __hash__(self) -> int:
        return hash((QueryParam, self.name))

    def __repr__(self) -> str:
        return f"query_param({self.name!r})"


class ActiveOrg:
    """The org the token is scoped to (see `active_org`)."""

    __slots__ = ()

    def __call__(self, view: RequestView, principal: Principal | None) -> str | None:
        if principal is None:
            return None
        return normalise_org_id(principal.active_org_id, "the token's active org")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ActiveOrg)

    def __hash__(self) -> int:
        return hash(ActiveOrg)

    def __repr__(self) -> str:
        return "active_org()"


class OrgFrom:
    """The org named by each of several sources, which must agree (see `org_from`)."""

    __slots__ = ("_labelled", "sources")

    def __init__(self, sources: Iterable[OrgIdExtractor]) -> None:
        flat: list[OrgIdExtractor] = []
        for source in sources:
            inner = source.sources if isinstance(source, OrgFrom) else (source,)
            for extractor in inner:
                if not callable(extractor):
                    raise TypeError(f"not an org id extractor: {extractor!r}")
                if extractor not in flat:
                    flat.append(extractor)
        if not flat:
            raise ValueError("org_from() needs at least one extractor")
        self.sources: tuple[OrgIdExtractor, ...] = tuple(flat)
        # Labels for the refusal, built once: resolving runs on every request.
        self._labelled = tuple((_label(source), source) for source in flat)

    def __call__(self, view: RequestView, principal: Principal | None) -> str | None:
        return self.resolve(view, principal)

    def resolve(
        self,
        view: RequestView,
        principal: Principal | None,
        *,
        also: Iterable[tuple[str, str | None]] = (),
    ) -> str | None:
        """The one org every source that names one names; `also`: (label, org) read elsewhere."""
        named = [(label, normalise_org_id(value, label)) for label, value in also]
        named += [(label, source(view, principal)) for label, source in self._labelled]
        return agree(named)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OrgFrom) and self.sources == other.sources

    def __hash__(self) -> int:
        return hash((OrgFrom, self.sources))

    def __repr__(self) -> str:
        return f"org_from({', '.join(repr(source) for source in self.sources)})"


def _label(source: OrgIdExtractor) -> str:
    if isinstance(source, PathParam | Header | QueryParam | ActiveOrg):
        return repr(source)
    # An app's own extractor: its name, never a repr with a memory address.
    name = getattr(source, "__qualname__", None) or type(source).__qualname__
    return f"{name}()"


def agree(named: Iterable[tuple[str, str | None]]) -> str | None:
    """The org id every source that names one agrees on; None if none names one.

    Two sources naming different orgs are `InvalidField` (400): authorising one
    and binding (or handing the view) the other is exactly the confusion to refuse.
    """
    found: tuple[str, str] | None = None
    for label, org_id in named:
        if org_id is None:
            continue
        if found is None:
            found = (label, org_id)
        elif found[1] != org_id:
            raise InvalidField("org_id", f"{found[0]} and {label} name different orgs")
    return None if found is None else found[1]


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


def org_from(*extractors: OrgIdExtractor) -> OrgFrom:
    """The org named by any of `extractors`; when several name one, they must agree (else 400).

        org_from(header("X-Org-Id"), path_param("/org/{org_id}"))

    The adapters' `org_id=` also takes a list of extractors, meaning this.
    """
    return OrgFrom(extractors)


#: The route's own org: the routed `org_id` path parameter. Every adapter
#: compares it with the org it resolves, whatever its configured extractors.
ROUTE_ORG: Final = PathParam()


def sources_with_route(org_id: OrgIdSources) -> OrgFrom:
    """`org_id` (one extractor or several) plus `ROUTE_ORG`, all of which must agree."""
    if isinstance(org_id, OrgFrom):
        extractors: Sequence[OrgIdExtractor] = org_id.sources
    elif callable(org_id):
        extractors = (org_id,)
    elif isinstance(org_id, Sequence) and not isinstance(org_id, str | bytes):
        extractors = org_id
    else:
        raise TypeError("org_id must be an org id extractor or a list of them")
    return OrgFrom([*extractors, ROUTE_ORG])
