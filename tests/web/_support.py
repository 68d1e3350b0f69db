"""Tokens and a FastAPI app for the web tests.

Roles follow the seed's default mapping: Owner > Admin > Member. Owners and
Admins hold notes:read and notes:delete, Members only notes:read.
"""

# No `from __future__ import annotations`: FastAPI reads the Annotated[..., Depends(tk...)]
# hints when the routes are defined, inside build_app.

import uuid
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Depends, FastAPI, WebSocket
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, sessionmaker

from tenantkit import current_context
from tenantkit.tokens import OrgMemberInfo, Principal, TokenIssuer, TokenVerifier
from tenantkit.web import Requirement, TenantMiddleware, UserAndOrgMemberInfo, path_param
from tenantkit.web.fastapi import TenantKit

INHERITED = {
    "Owner": ("Owner", "Admin", "Member"),
    "Admin": ("Admin", "Member"),
    "Member": ("Member",),
}
PERMISSIONS = {
    "Owner": ("notes:read", "notes:delete"),
    "Admin": ("notes:read", "notes:delete"),
    "Member": ("notes:read",),
}

# Every requirement type, and which roles pass it.
REQUIREMENTS: dict[str, tuple[Requirement, frozenset[str]]] = {
    "member": (Requirement.member(), frozenset({"Owner", "Admin", "Member"})),
    "exact-admin": (Requirement.exact_role("Admin"), frozenset({"Admin"})),
    "min-admin": (Requirement.minimum_role("Admin"), frozenset({"Owner", "Admin"})),
    "permission": (Requirement.permission("notes:delete"), frozenset({"Owner", "Admin"})),
    "all-permissions": (
        Requirement.all_permissions(["notes:read", "notes:delete"]),
        frozenset({"Owner", "Admin"}),
    ),
}


def member_info(org_id: str, role: str) -> OrgMemberInfo:
    return OrgMemberInfo(
        org_id=org_id,
        user_role=role,
        inherited_user_roles_plus_current_role=INHERITED[role],
        user_permissions=PERMISSIONS[role],
        org_name=f"org {org_id[:8]}",
        url_safe_org_name=f"org-{org_id[:8]}",
    )


def mint(
    issuer: TokenIssuer,
    user_id: str,
    orgs: Mapping[str, str],
    *,
    active_org_id: str | None = None,
    **options: Any,
) -> str:
    """A token for `user_id` listing `orgs` (org_id -> role)."""
    return issuer.issue(
        user_id=user_id,
        orgs=[member_info(org_id, role) for org_id, role in orgs.items()],
        active_org_id=active_org_id,
        **options,
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def new_id() -> str:
    return str(uuid.uuid4())


class NoteIn(BaseModel):
    body: str


def build_app(
    verifier: TokenVerifier,
    *,
    sessions: sessionmaker[Session] | None = None,
    async_sessions: async_sessionmaker[AsyncSession] | None = None,
    middleware: bool = True,
) -> FastAPI:
    """Notes routes on sync and async sessions, one route per requirement type.

    With `middleware`, TenantMiddleware resolves the org from the path and
    binds it; without, the dependencies do everything themselves.
    """
    app = FastAPI()
    tk = TenantKit(verifier, sessions=sessions, async_sessions=async_sessions)
    tk.init_app(app)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/me")
    def me(user: Annotated[Principal, Depends(tk.require_user)]) -> dict[str, Any]:
        ctx = current_context()
        return {"user_id": user.user_id, "bound": ctx is not None}

    for name, (requirement, _) in REQUIREMENTS.items():

        def guarded(
            access: Annotated[UserAndOrgMemberInfo, Depends(tk.require(requirement))],
        ) -> dict[str, Any]:
            ctx = current_context()
            return {
                "user_id": access.user.user_id,
                "org_id": access.org_id,
                "role": access.org_member_info.user_role,
                "bound_org_id": None if ctx is None else ctx.org_id,
            }

        app.add_api_route(f"/org/{{org_id}}/{name}", guarded, methods=["GET"], name=name)

    @app.get("/org/{org_id}/notes")
    def list_notes(
        org_id: str, session: Annotated[Session, Depends(tk.session)]
    ) -> list[dict[str, Any]]:
        rows = session.execute(text("SELECT org_id::text, id, body FROM public.notes ORDER BY id"))
        return [dict(row._mapping) for row in rows]

    @app.post("/org/{org_id}/notes", status_code=201)
    def add_note(
        org_id: str,
        note: NoteIn,
        session: Annotated[Session, Depends(tk.session)],
        into: str | None = None,
    ) -> dict[str, Any]:
        # `into` lets a test aim the row at another org than the bound one.
        row = session.execute(
            text("INSERT INTO public.notes (org_id, body) VALUES (:org, :body) RETURNING id"),
            {"org": into or org_id, "body": note.body},
        ).one()
        return {"id": row.id}

    @app.post("/org/{org_id}/notes/fail")
    def add_note_then_fail(
        org_id: str, note: NoteIn, session: Annotated[Session, Depends(tk.session)]
    ) -> None:
        session.execute(
            text("INSERT INTO public.notes (org_id, body) VALUES (:org, :body)"),
            {"org": org_id, "body": note.body},
        )
        raise RuntimeError("the handler failed after writing")

    @app.get("/org/{org_id}/anotes")
    async def list_notes_async(
        org_id: str, session: Annotated[AsyncSession, Depends(tk.async_session)]
    ) -> list[dict[str, Any]]:
        rows = await session.execute(
            text("SELECT org_id::text, id, body FROM public.notes ORDER BY id")
        )
        return [dict(row._mapping) for row in rows]

    @app.post("/org/{org_id}/anotes/fail")
    async def add_note_then_fail_async(
        org_id: str, note: NoteIn, session: Annotated[AsyncSession, Depends(tk.async_session)]
    ) -> None:
        await session.execute(
            text("INSERT INTO public.notes (org_id, body) VALUES (:org, :body)"),
            {"org": org_id, "body": note.body},
        )
        raise RuntimeError("the handler failed after writing")

    @app.websocket("/org/{org_id}/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        ctx = current_context()
        await websocket.send_json({"bound_org_id": None if ctx is None else ctx.org_id})
        await websocket.close()

    if middleware:
        app.add_middleware(
            TenantMiddleware,
            verifier=verifier,
            org_id=path_param("/org/{org_id}"),
            public_paths=["/healthz"],
        )
    return app
