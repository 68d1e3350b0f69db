"""Path parameters, typed so the OpenAPI document says what an id looks like."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from tenantkit.server._schemas import UUID_PATTERN

__all__ = ["ApiKeyId", "EndpointId", "OrgId", "UserId"]

OrgId = Annotated[str, Path(pattern=UUID_PATTERN, description="The org's id (a UUID)")]
UserId = Annotated[str, Path(pattern=UUID_PATTERN, description="The user's id (a UUID)")]
ApiKeyId = Annotated[str, Path(pattern=UUID_PATTERN, description="The API key's id (a UUID)")]
EndpointId = Annotated[str, Path(pattern=UUID_PATTERN, description="The endpoint's id (a UUID)")]
