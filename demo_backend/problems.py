"""Error responses of the demo backend as RFC 9457 problem details.

Every error the app answers, including FastAPI's own 404/405/422, is rendered
here as ``application/problem+json``; nothing ever carries a stack trace.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

PROBLEM_MEDIA_TYPE = "application/problem+json"


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE


def problem(status: int, detail: str, headers: Mapping[str, str] | None = None) -> ProblemResponse:
    """One RFC 9457 problem object (section 3.1 members type/title/status/detail)."""
    body = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    return ProblemResponse(body, status_code=status, headers=headers)


async def _http_error(_: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, HTTPException)
    return problem(exc.status_code, str(exc.detail), exc.headers)


async def _validation_error(_: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, RequestValidationError)
    # Name the offending parameters only; the input values may be large or secret.
    where = sorted({".".join(str(p) for p in err.get("loc", ())) for err in exc.errors()})
    return problem(422, "invalid parameters: " + ", ".join(where))


async def _unexpected(_: Request, exc: Exception) -> ProblemResponse:
    return problem(500, "the demo backend failed to answer")


def install_problem_handlers(app: FastAPI) -> None:
    """Route every error the framework knows through ``problem``."""
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
