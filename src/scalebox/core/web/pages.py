"""Server-rendered pages: one Jinja2 environment per app over the system's templates and core's layout."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

CORE_TEMPLATES = Path(__file__).parent / "templates"
CORE_STATIC = Path(__file__).parent / "static"

ContextHook = Callable[[Request], Mapping[str, Any]]


class Pages:
    """Renders templates with autoescaping; a template named `x.html` may have a partial `x_partial.html`.

    `context_hooks` add values every page needs (the signed-in account, the CSRF token, the nav).
    """

    def __init__(
        self,
        template_dir: Path,
        *,
        site_name: str,
        nav: tuple[tuple[str, str], ...] = (),
        context_hooks: tuple[ContextHook, ...] = (),
        globals_: Mapping[str, Any] | None = None,
    ) -> None:
        self.env = jinja2.Environment(
            # The system's templates win; core's fill in (base.html, error.html, the account pages),
            # and stay reachable as "core/<name>" so a system's template can extend the one it replaces.
            loader=jinja2.ChoiceLoader(
                [
                    jinja2.FileSystemLoader(template_dir),
                    jinja2.FileSystemLoader(CORE_TEMPLATES),
                    jinja2.PrefixLoader({"core": jinja2.FileSystemLoader(CORE_TEMPLATES)}),
                ]
            ),
            autoescape=True,
            auto_reload=False,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals.update(site_name=site_name, nav=nav, **(globals_ or {}))
        self.context_hooks = context_hooks

    def render_text(self, name: str, context: Mapping[str, Any]) -> str:
        return self.env.get_template(name).render(context)

    def render(
        self,
        request: Request,
        name: str,
        context: Mapping[str, Any] | None = None,
        *,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        """The full page, or its `_partial` variant for htmx requests (HX-Request header) when one exists."""
        merged: dict[str, Any] = {"request": request}
        for hook in self.context_hooks:
            merged.update(hook(request))
        merged.update(context or {})
        template = self.env.get_template(name)
        if request.headers.get("hx-request") == "true":
            with contextlib.suppress(jinja2.TemplateNotFound):  # no partial: htmx swaps the full page
                template = self.env.get_template(name.replace(".html", "_partial.html"))
        return HTMLResponse(template.render(merged), status_code=status_code, headers=headers)
