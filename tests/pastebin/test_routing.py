"""The hot read routes are matched first; they must never shadow a fixed route."""

from __future__ import annotations

import re

from starlette.routing import Route

from scalebox.pastebin.domain import ID_LENGTH
from scalebox.pastebin.http import routers
from scalebox.pastebin.http.routing import PasteIdConvertor


def test_no_fixed_route_has_the_shape_of_a_paste_id():
    shape = re.compile(rf"^/{PasteIdConvertor.regex}(/.*)?$")
    fixed = [
        route.path
        for router in routers()
        for route in router.routes
        if isinstance(route, Route) and "{" not in route.path.split("/")[1]
    ]
    assert fixed, "expected fixed routes"
    assert [path for path in fixed if shape.match(path)] == []


def test_hot_routes_come_first_and_match_only_paste_ids():
    first = routers()[0]
    paths = {route.path for route in first.routes if isinstance(route, Route)}
    assert "/{paste_id:paste_id}" in paths
    assert "/raw/{paste_id:paste_id}" in paths
    assert re.fullmatch(PasteIdConvertor.regex, "a" * ID_LENGTH)
    assert not re.fullmatch(PasteIdConvertor.regex, "recent")
    assert not re.fullmatch(PasteIdConvertor.regex, "a" * (ID_LENGTH + 1))
