"""Ending a request's sync session: one place for FastAPI and Flask."""

from __future__ import annotations

from sqlalchemy.orm import Session


def finish_session(session: Session, *, commit: bool) -> None:
    """Commit (or roll back) and close; the connection returns to the pool unbound."""
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()
