"""The notes API: notes per org, and PropelAuth's `GET /org/{org_id}/is-admin`.

    uvicorn --factory examples.notes.app:app_from_env

Every `/org/{org_id}/...` request passes TenantMiddleware: a valid token, a
member of that org, and then the org is bound, so the session below only ever
sees that org's rows. The database re-checks membership on every transaction.
"""

# No `from __future__ import annotations` here: FastAPI reads these
# Annotated[..., Depends(tk...)] hints at definition time, inside create_app.

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException
from pydantic import BaseModel, Field
from sqlalchemy import URL, delete, select
from sqlalchemy.orm import Session, sessionmaker

import tenantkit
from examples.notes.models import Note
from tenantkit import Principal, TokenVerifier
from tenantkit.selfservice import InviteSender, create_router
from tenantkit.web import TenantMiddleware, UserAndOrgMemberInfo, path_param
from tenantkit.web.fastapi import TenantKit


class NoteIn(BaseModel):
    body: str = Field(min_length=1, max_length=10_000)


class NoteOut(BaseModel):
    id: uuid.UUID
    org_id: uuid.UUID
    author_id: uuid.UUID
    body: str
    created_at: datetime


def _out(note: Note) -> NoteOut:
    return NoteOut(
        id=note.id,
        org_id=note.org_id,
        author_id=note.author_id,
        body=note.body,
        created_at=note.created_at,
    )


def create_app(
    database_url: str | URL, verifier: TokenVerifier, *, pool_size: int = 5,
    invite_sender: InviteSender | None = None,
) -> FastAPI:
    """The app, on an app-role database URL (`postgresql+psycopg://...`), with
    tenantkit's self-service org management at /api/self/v1 (invites go to
    `invite_sender`, by default the console)."""
    engine = tenantkit.create_engine(database_url, pool_size=pool_size, max_overflow=0)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await verifier.prefetch()  # remote (JWKS) keys before the first request; pinned: no-op
        yield
        engine.dispose()

    app = FastAPI(title="tenantkit notes example", lifespan=lifespan)
    app.state.engine = engine  # the demo reads its pool counters
    tk = TenantKit(verifier, sessions=sessionmaker(engine, expire_on_commit=False))
    tk.init_app(app)
    app.add_middleware(
        TenantMiddleware,
        verifier=verifier,
        org_id=path_param("/org/{org_id}"),
        public_paths=["/healthz"],
    )

    # Self-service org management: the same verifier (and TenantMiddleware's
    # principal), the same app-role engine; the database decides every operation.
    app.include_router(create_router(tk, engine, sender=invite_sender,
                                     accept_url="http://127.0.0.1/invites/accept?token={token}"),
                       prefix="/api/self/v1")

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/me")
    def me(user: Annotated[Principal, Depends(tk.require_user)]) -> dict[str, Any]:
        """Who the token says you are (a snapshot; the database decides access)."""
        orgs = {org_id: info.user_role for org_id, info in user.org_id_to_org_member_info.items()}
        return {"user_id": user.user_id, "email": user.email, "orgs": orgs}

    @app.get("/org/{org_id}/notes")
    def list_notes(
        org_id: uuid.UUID, session: Annotated[Session, Depends(tk.session)]
    ) -> list[NoteOut]:
        # No WHERE org_id: row-level security returns this org's rows only.
        notes = session.scalars(select(Note).order_by(Note.created_at, Note.id))
        return [_out(note) for note in notes]

    @app.post("/org/{org_id}/notes", status_code=201)
    def add_note(
        org_id: uuid.UUID, note: NoteIn, session: Annotated[Session, Depends(tk.session)]
    ) -> NoteOut:
        row = Note(body=note.body)  # org_id and author_id default to the bound ones
        session.add(row)
        session.flush()
        return _out(row)

    @app.delete("/org/{org_id}/notes/{note_id}", status_code=204)
    def delete_note(
        org_id: uuid.UUID,
        note_id: uuid.UUID,
        admin: Annotated[
            UserAndOrgMemberInfo, Depends(tk.require_org_member_with_minimum_role("Admin"))
        ],
        session: Annotated[Session, Depends(tk.session)],
    ) -> None:
        deleted = session.execute(delete(Note).where(Note.id == note_id).returning(Note.id))
        if deleted.first() is None:
            raise HTTPException(404, "no such note in this org")

    @app.get("/org/{org_id}/is-admin")
    def is_admin(
        org_id: uuid.UUID,
        access: Annotated[
            UserAndOrgMemberInfo, Depends(tk.require_org_member_with_exact_role("Admin"))
        ],
    ) -> dict[str, Any]:
        """PropelAuth's example route: exact role Admin (an Owner is not an Admin)."""
        return {"is_admin": True, "org_id": access.org_id, "user_id": access.user.user_id}

    return app


def app_from_env() -> FastAPI:
    """For `uvicorn --factory`: NOTES_DATABASE_URL, NOTES_ISSUER and NOTES_PUBLIC_KEY_PEM."""
    verifier = TokenVerifier(
        issuer=os.environ["NOTES_ISSUER"], public_key_pem=os.environ["NOTES_PUBLIC_KEY_PEM"]
    )
    return create_app(os.environ["NOTES_DATABASE_URL"], verifier)
