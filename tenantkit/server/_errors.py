"""Every error as a JSON body with its status: typed errors, bad input, unknown routes."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from tenantkit.errors import InvalidField, RateLimited, TenantkitError
from tenantkit.server._schemas import ErrorBody

__all__ = ["ERROR_RESPONSES", "PayloadTooLarge", "install_error_handlers"]

_log = logging.getLogger("tenantkit.server")

_DESCRIPTIONS = {
    400: "Invalid input; `fields` names each bad field",
    401: "Missing or invalid integration API key",
    403: "Not allowed (a rule of the org or the project refused it)",
    404: "Not found",
    409: "Conflict with existing state, or a limit reached",
    413: "Request body larger than the server's limit (1 MiB by default)",
    426: "Feature disabled",
    429: "Rate limited; see Retry-After",
}
#: Documented on every operation, so clients and schema checkers know the bodies.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "model": ErrorBody} for status, text in _DESCRIPTIONS.items()
}
_HTTP_CODES = {400: "invalid_field", 401: "unauthorized", 404: "not_found",
               405: "method_not_allowed", 413: "payload_too_large"}


class PayloadTooLarge(TenantkitError):
    """The request body exceeds the server's `max_body_bytes`."""

    status_code = 413
    code = "payload_too_large"


def _field(loc: tuple[Any, ...]) -> str:
    # ("body", "user_ids", 0) -> "user_ids": the field, not the list position
    parts = [str(p) for p in loc
             if not isinstance(p, int) and p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(TenantkitError)
    async def typed(_request: Request, exc: TenantkitError) -> JSONResponse:
        headers = {}
        if isinstance(exc, RateLimited):
            headers["Retry-After"] = str(getattr(exc, "retry_after", 1))
        if exc.status_code >= 500:
            _log.error("tenantkit error %s: %s", exc.code, exc.message)
            return JSONResponse({"error": "internal_error", "message": "internal error"}, 500)
        return JSONResponse(exc.to_dict(), exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        fields: dict[str, str] = {}
        for error in exc.errors():
            fields.setdefault(_field(tuple(error.get("loc", ()))), str(error.get("msg", "invalid")))
        return JSONResponse(InvalidField(fields or {"body": "invalid"}).to_dict(), 400)

    @app.exception_handler(HTTPException)
    async def http(_request: Request, exc: HTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return JSONResponse({"error": code, "message": str(exc.detail)}, exc.status_code,
                            headers=getattr(exc, "headers", None))
