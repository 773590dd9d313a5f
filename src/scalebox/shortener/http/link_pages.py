"""One link's page: edit its options, disable or enable it, edit its redirect rules, delete it (after a
confirmation page). Only its owner (or an administrator) sees it; anyone else gets the 404 page."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import HTMLResponse, RedirectResponse, Response

from scalebox.core.errors import DomainError
from scalebox.core.web.forms import form_text
from scalebox.shortener.domain import CONDITION_TYPES, CONDITIONS_MAX, RULES_MAX, Link, RedirectRule
from scalebox.shortener.http.account_pages import require_account
from scalebox.shortener.http.deps import actor, current_account, shortener
from scalebox.shortener.http.pages import LinkForm, Refusal, read_form, refusal, render_page, short_url
from scalebox.shortener.service.links import Actor, LinkService

router = APIRouter(include_in_schema=False)

CONDITION_LABELS = {
    "device": "Device is",
    "language": "Language is",
    "query-param": "Query parameter equals",
    "any-value-query-param": "Query parameter has any value",
    "valueless-query-param": "Query parameter has no value",
}
assert set(CONDITION_LABELS) == set(CONDITION_TYPES)


@dataclass(frozen=True, slots=True)
class ConditionRow:
    type: str = ""
    key: str = ""
    value: str = ""


@dataclass
class RuleRow:
    """One redirect rule in the editor: its URL and condition rows (with one blank row to add)."""

    long_url: str = ""
    conditions: list[ConditionRow] = field(default_factory=list)

    def with_blank(self) -> RuleRow:
        rows = [row for row in self.conditions if row.type]
        if len(rows) < CONDITIONS_MAX:
            rows.append(ConditionRow())
        return RuleRow(self.long_url, rows)

    @property
    def is_blank(self) -> bool:
        return not self.long_url and not any(row.type for row in self.conditions)

    def to_json(self) -> dict[str, Any]:
        """The Shlink JSON shape the service checks."""
        return {
            "longUrl": self.long_url,
            "conditions": [
                {"type": row.type, "matchKey": row.key or None, "matchValue": row.value or None}
                for row in self.conditions
                if row.type
            ],
        }


def rule_rows(rules: tuple[RedirectRule, ...]) -> list[RuleRow]:
    return [
        RuleRow(
            rule.long_url,
            [ConditionRow(c.type, c.match_key or "", c.match_value or "") for c in rule.conditions],
        )
        for rule in rules
    ]


def read_rules(form: FormData) -> list[RuleRow]:
    """The editor's rows in order: rule-N-url, rule-N-type-M, rule-N-key-M, rule-N-value-M, and
    rule-N-remove; blank and removed rules are dropped."""
    rows = []
    for number in range(RULES_MAX + 1):
        prefix = f"rule-{number}"
        if f"{prefix}-url" not in form:
            continue
        conditions = [
            ConditionRow(
                form_text(form, f"{prefix}-type-{index}").strip(),
                form_text(form, f"{prefix}-key-{index}").strip(),
                form_text(form, f"{prefix}-value-{index}").strip(),
            )
            for index in range(CONDITIONS_MAX + 1)
            if f"{prefix}-type-{index}" in form
        ]
        row = RuleRow(form_text(form, f"{prefix}-url").strip(), conditions)
        if not row.is_blank and form_text(form, f"{prefix}-remove") != "1":
            rows.append(row)
    return rows


@router.get("/links/{code}")
async def show_link(request: Request, code: str, saved: str = "") -> Response:
    if await current_account(request) is None:
        return RedirectResponse(f"/login?next=/links/{quote(code, safe='')}", status_code=303)
    link = await shortener(request).links.get(await actor(request), code)
    flashes = [("ok", _SAVED[saved])] if saved in _SAVED else []
    return _link_page(request, link, flashes=flashes)


_SAVED = {
    "options": "Saved. The link redirects with its new options from now on.",
    "rules": "Redirect rules saved.",
    "disabled": "The link is disabled: it answers 404 until you enable it again.",
    "enabled": "The link is enabled again.",
}


@dataclass(frozen=True, slots=True)
class _Posted:
    """A signed-in owner's form about one of their links: the form, who, the service, the link."""

    form: FormData
    who: Actor
    links: LinkService
    link: Link


async def _posted(request: Request, code: str) -> _Posted:
    """The prologue of every form on a link's page: signed in, CSRF-checked, and the link theirs
    (LinkNotFoundError, a 404, otherwise)."""
    await require_account(request)
    form = await read_form(request)
    who = await actor(request)
    links = shortener(request).links
    return _Posted(form, who, links, await links.get(who, code))


@router.post("/links/{code}")
async def edit_link(request: Request, code: str) -> Response:
    posted = await _posted(request, code)
    form, who, links, link = posted.form, posted.who, posted.links, posted.link
    link_form = LinkForm.read(form)
    link_form.custom_slug = link.code if link.custom else ""
    try:
        await links.edit(who, link.code, link_form.changes())
    except DomainError as exc:
        return _link_page(request, link, form=link_form, refused=refusal(exc))
    return RedirectResponse(f"/links/{quote(link.code, safe='')}?saved=options", status_code=303)


@router.post("/links/{code}/state")
async def set_state(request: Request, code: str) -> Response:
    posted = await _posted(request, code)
    form, who, links, link = posted.form, posted.who, posted.links, posted.link
    disable = form_text(form, "disabled") == "1"
    try:
        await links.edit(who, link.code, {"disabled": disable})
    except DomainError as exc:
        return _link_page(request, link, refused=refusal(exc))
    state = "disabled" if disable else "enabled"
    return RedirectResponse(f"/links/{quote(link.code, safe='')}?saved={state}", status_code=303)


@router.post("/links/{code}/rules")
async def save_rules(request: Request, code: str) -> Response:
    posted = await _posted(request, code)
    form, who, links, link = posted.form, posted.who, posted.links, posted.link
    rows = read_rules(form)
    try:
        await links.set_rules(who, link.code, [row.to_json() for row in rows])
    except DomainError as exc:
        return _link_page(request, link, rules=rows, refused=refusal(exc))
    return RedirectResponse(f"/links/{quote(link.code, safe='')}?saved=rules#rules", status_code=303)


@router.get("/links/{code}/delete")
async def confirm_delete(request: Request, code: str) -> Response:
    if await current_account(request) is None:
        return RedirectResponse(f"/login?next=/links/{quote(code, safe='')}", status_code=303)
    link = await shortener(request).links.get(await actor(request), code)
    return render_page(request, "delete.html", {"link": link, "short_url": short_url(request, link)})


@router.post("/links/{code}/delete")
async def delete_link(request: Request, code: str) -> Response:
    posted = await _posted(request, code)
    await posted.links.delete(posted.who, posted.link.code)
    link = posted.link
    return RedirectResponse(f"/links?deleted={quote(link.code, safe='')}", status_code=303)


def _link_page(
    request: Request,
    link: Link,
    *,
    form: LinkForm | None = None,
    rules: list[RuleRow] | None = None,
    refused: Refusal | None = None,
    flashes: list[tuple[str, str]] | None = None,
) -> HTMLResponse:
    sb = shortener(request)
    rows = [row.with_blank() for row in (rules if rules is not None else rule_rows(link.rules))]
    if len(rows) < RULES_MAX:
        rows.append(RuleRow().with_blank())
    context: Mapping[str, Any] = {
        "link": link,
        "short_url": short_url(request, link),
        "status": link.status(sb.clock.now()),
        "form": form or LinkForm.of(link),
        "rules": rows,
        "condition_labels": CONDITION_LABELS,
        "error_field": refused.field if refused else None,
        "flashes": refused.flashes if refused else (flashes or []),
    }
    return render_page(request, "link.html", context, status_code=refused.status if refused else 200)
