"""The home page (shorten a URL) and what every shortener page shares: rendering, CSRF-checked form
reading, the link form as typed, and refused use cases turned into a message beside the right field."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import HTMLResponse

from scalebox.core.errors import DomainError, InvalidError, UnauthorizedError
from scalebox.core.web import Pages
from scalebox.core.web import forms as core_forms
from scalebox.core.web.errors import status_for
from scalebox.core.web.forms import form_text
from scalebox.shortener.domain import REDIRECT_TYPES, Link
from scalebox.shortener.errors import InvalidLinkError, SlugTakenError
from scalebox.shortener.http.deps import actor, base_url, current_account, shortener
from scalebox.shortener.service.links import LinkSpec

router = APIRouter(include_in_schema=False)

NO_STORE = {"Cache-Control": "no-store"}  # a page holding a secret shown once, or a fresh result
PAGE_CACHE = {"Cache-Control": "private, no-cache"}  # pages carry this browser's CSRF token
# The rules editor posts 3 fields per condition, at most 8 conditions in each of 32 rules, plus a few.
FORM_FIELDS_MAX = 1000
REDIRECT_LABELS = {
    301: "301 · moved permanently (browsers cache it)",
    302: "302 · found (every visit is counted)",
    307: "307 · temporary, keeps the method",
    308: "308 · permanent, keeps the method",
}
# The domain names fields as the Shlink API spells them; the forms use snake_case.
_FORM_FIELD = {
    "longUrl": "long_url",
    "customSlug": "custom_slug",
    "title": "title",
    "tags": "tags",
    "validSince": "valid_since",
    "validUntil": "valid_until",
    "maxVisits": "max_visits",
    "redirectType": "redirect_type",
    "redirectRules": "rules",
}


# -- rendering and forms ---------------------------------------------------------------------------


def render_page(
    request: Request,
    name: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    pages: Pages = request.app.state.pages
    merged = {"now": shortener(request).clock.now(), **(context or {})}
    return pages.render(request, name, merged, status_code=status_code, headers=headers or PAGE_CACHE)


async def read_form(request: Request, *, max_files: int = 0) -> FormData:
    """The posted form, CSRF-checked, with the shortener's field limit (bulk and rules forms post many)."""
    return await core_forms.read_form(request, fields_max=FORM_FIELDS_MAX, files_max=max_files)


@dataclass(frozen=True, slots=True)
class Refusal:
    """A use case's refusal as a form shows it: the message, the field to mark, the status."""

    message: str
    field: str | None
    status: int

    @property
    def flashes(self) -> list[tuple[str, str]]:
        return [("error", self.message)]


def refusal(exc: DomainError) -> Refusal:
    field_name = None
    if isinstance(exc, SlugTakenError):
        field_name = "custom_slug"
    elif isinstance(exc, InvalidError) and exc.field:
        field_name = _FORM_FIELD.get(exc.field, exc.field)
    return Refusal(sentence(exc.detail), field_name, status_for(exc))


def sentence(text: str) -> str:
    """Domain messages are lower-case clauses; a flash reads as a sentence."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def short_url(request: Request, link: Link) -> str:
    return f"{base_url(request)}{link.code}"


# -- the link form -----------------------------------------------------------------------------------


@dataclass
class LinkForm:
    """A link's options as the form holds them: text, so a refused form comes back as it was typed.

    `valid_since` and `valid_until` are `datetime-local` values, read as UTC (the form says so).
    """

    long_url: str = ""
    custom_slug: str = ""
    title: str = ""
    tags: str = ""
    valid_since: str = ""
    valid_until: str = ""
    max_visits: str = ""
    redirect_type: str = "302"
    forward_query: bool = True

    @classmethod
    def read(cls, form: FormData) -> LinkForm:
        return cls(
            long_url=form_text(form, "long_url").strip(),
            custom_slug=form_text(form, "custom_slug").strip(),
            title=form_text(form, "title").strip(),
            tags=form_text(form, "tags"),
            valid_since=form_text(form, "valid_since").strip(),
            valid_until=form_text(form, "valid_until").strip(),
            max_visits=form_text(form, "max_visits").strip(),
            redirect_type=form_text(form, "redirect_type").strip() or "302",
            forward_query=form_text(form, "forward_query") == "1",
        )

    @classmethod
    def of(cls, link: Link) -> LinkForm:
        return cls(
            long_url=link.long_url,
            custom_slug=link.code if link.custom else "",
            title=link.title or "",
            tags=", ".join(link.tags),
            valid_since=local_input(link.valid_since),
            valid_until=local_input(link.valid_until),
            max_visits="" if link.max_visits is None else str(link.max_visits),
            redirect_type=str(link.redirect_type),
            forward_query=link.forward_query,
        )

    @property
    def has_options(self) -> bool:
        """Whether anything beyond the URL was set (the home page opens its options then)."""
        return any((self.custom_slug, self.title, self.tags.strip(), self.valid_since, self.valid_until)) or (
            self.max_visits,
            self.redirect_type,
            self.forward_query,
        ) != ("", "302", True)

    def spec(self) -> LinkSpec:
        """The create request; InvalidLinkError naming the field when a value cannot be read."""
        return LinkSpec(
            long_url=self.long_url,
            custom_slug=self.custom_slug or None,
            title=self.title or None,
            tags=split_tags(self.tags),
            valid_since=parse_moment(self.valid_since, "validSince"),
            valid_until=parse_moment(self.valid_until, "validUntil"),
            max_visits=parse_count(self.max_visits, "maxVisits"),
            redirect_type=parse_redirect_type(self.redirect_type),
            forward_query=self.forward_query,
        )

    def changes(self) -> dict[str, Any]:
        """The edit request: every editable option (the code itself never changes)."""
        spec = self.spec()
        return {
            "long_url": spec.long_url,
            "title": spec.title,
            "tags": spec.tags,
            "valid_since": spec.valid_since,
            "valid_until": spec.valid_until,
            "max_visits": spec.max_visits,
            "redirect_type": spec.redirect_type,
            "forward_query": spec.forward_query,
        }


def split_tags(text: str) -> tuple[str, ...]:
    return tuple(tag.strip() for tag in text.split(",") if tag.strip())


def parse_moment(text: str, name: str) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidLinkError(f"{text} is not a date and time", field=name) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_count(text: str, name: str) -> int | None:
    if not text:
        return None
    if not text.isdigit() or len(text) > 10:
        raise InvalidLinkError("the visit limit is a positive whole number", field=name)
    return int(text)


def parse_redirect_type(text: str) -> int:
    if not text.isdigit() or int(text) not in REDIRECT_TYPES:
        raise InvalidLinkError("redirect type is one of 301, 302, 307 and 308", field="redirectType")
    return int(text)


def local_input(moment: datetime | None) -> str:
    """A `datetime-local` value in UTC."""
    return "" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


# -- template helpers ---------------------------------------------------------------------------------


def format_moment(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def format_count(count: int) -> str:
    return f"{count:,}"


def template_globals() -> dict[str, Any]:
    """What every shortener template may call, whichever handler (or error handler) renders it."""
    return {
        "format_moment": format_moment,
        "format_count": format_count,
        "redirect_labels": REDIRECT_LABELS,
    }


# -- the home page -------------------------------------------------------------------------------------


@router.get("/")
async def home(request: Request) -> HTMLResponse:
    await current_account(request)
    return _home(request, LinkForm())


@router.post("/")
async def shorten(request: Request) -> HTMLResponse:
    """Create a link from the home form and show it on the same page, above a fresh form."""
    account = await current_account(request)
    form = await read_form(request)
    link_form = LinkForm.read(form)
    sb = shortener(request)
    if account is None and not sb.settings.anonymous_create:
        why = refusal(UnauthorizedError("sign in to shorten links on this server"))
        return _home(request, link_form, why, status_code=401)
    try:
        link, created = await sb.links.create(await actor(request), link_form.spec())
    except DomainError as exc:
        return _home(request, link_form, refusal(exc))
    result = {
        "link": link,
        "short_url": short_url(request, link),
        "created": created,
        "owned": account is not None and link.owner_id == account.id,
        "active": link.status(sb.clock.now()) == "active",
    }
    return _home(request, LinkForm(), result=result, headers=NO_STORE)


def _home(
    request: Request,
    link_form: LinkForm,
    refused: Refusal | None = None,
    *,
    result: dict[str, Any] | None = None,
    status_code: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    sb = shortener(request)
    context = {
        "form": link_form,
        "error_field": refused.field if refused else None,
        "flashes": refused.flashes if refused else [],
        "result": result,
        "anonymous_create": sb.settings.anonymous_create,
    }
    status = status_code or (refused.status if refused else 200)
    return render_page(request, "home.html", context, status_code=status, headers=headers)
