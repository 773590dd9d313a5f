"""The consumer groups list and a group's page: its state, protocol and generation, its members with
the partitions each was assigned, and per partition the committed offset, the high watermark and the
lag, as a table and a bar chart."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

from scalebox.core.errors import NotFoundError
from scalebox.eventlog.http.console_session import console, render_page
from scalebox.eventlog.http.console_view import layout_bar_chart
from scalebox.eventlog.service.group_view import get_group_view, list_group_views

router = APIRouter(include_in_schema=False)

GROUP_ID_CHARS_MAX = 32_767  # Kafka's int16 string length
CHART_ROWS_MAX = 50  # partitions in the lag chart; the table below it lists them all
GroupIdQuery = Annotated[str, Query(alias="id", max_length=GROUP_ID_CHARS_MAX)]


class UnknownGroupError(NotFoundError):
    """The coordinator knows no such consumer group."""


@router.get("/groups")
async def groups_page(request: Request) -> Response:
    wiring = console(request)
    views = list_group_views(wiring.broker, wiring.groups)
    return render_page(request, "eventlog/groups.html", {"groups": views})


@router.get("/group")
async def group_page(request: Request, group_id: GroupIdQuery) -> Response:
    wiring = console(request)
    view = get_group_view(wiring.broker, wiring.groups, group_id)
    if view is None:
        raise UnknownGroupError(f"there is no consumer group named {group_id!r}")
    rows = view.partitions
    if len(rows) > CHART_ROWS_MAX:  # a long group's chart shows the partitions furthest behind
        rows = tuple(sorted(rows, key=lambda row: row.lag or 0, reverse=True)[:CHART_ROWS_MAX])
    chart = layout_bar_chart([(f"{row.topic}-{row.partition}", row.lag or 0) for row in rows])
    context = {"group": view, "chart": chart, "chart_clipped": len(view.partitions) > CHART_ROWS_MAX}
    return render_page(request, "eventlog/group.html", context)
