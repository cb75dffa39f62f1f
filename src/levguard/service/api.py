"""The REST API routes (read and write) and the live event stream."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from levguard.service.app import Principal, require_read
from levguard.service.runtime import Runtime, clean

router = APIRouter(prefix="/api")

Read = Annotated[Principal, Depends(require_read)]


def _rt(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


@router.get("/accounts", tags=["read"], summary="Accounts with their last cycle")
async def accounts(request: Request, who: Read) -> list[dict[str, Any]]:
    rt = _rt(request)
    out = []
    for row in rt.store.accounts():
        report = rt.guardian.last_reports.get(row["name"], {})
        out.append(clean({**row, "status": report.get("status"), "state": report.get("state")}))
    return out
