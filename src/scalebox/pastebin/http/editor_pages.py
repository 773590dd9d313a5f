"""The editor: a new paste (one or more files), a clone of a readable paste, and creating it from the form.

Refused pastes come back in the form exactly as typed, with the reason, so no text is ever lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import HTMLResponse, RedirectResponse, Response

from scalebox.core.errors import DomainError, ForbiddenError, InvalidError, LimitExceededError
from scalebox.core.web.errors import status_for
from scalebox.core.web.forms import form_text
from scalebox.pastebin import render
from scalebox.pastebin.domain import DEFAULT_EXPIRY, EXPIRY_LABELS, FILES_MAX, Draft, PasteRequest, Visibility
from scalebox.pastebin.errors import InvalidPasteError, PasteTooLargeError
from scalebox.pastebin.http.deps import pastebin, viewer
from scalebox.pastebin.http.view import NO_STORE, form_texts, read_form, render_page
from scalebox.pastebin.service import Viewer

router = APIRouter(include_in_schema=False)


@dataclass
class FileForm:
    """One file as the editor shows it."""

    content: str = ""
    name: str = ""
    lexer: str = ""  # "" is auto-detect


@dataclass
class EditorForm:
    """The editor's fields, kept as typed so a refused paste is shown back exactly."""

    files: list[FileForm] = field(default_factory=lambda: [FileForm()])
    title: str = ""
    expiry: str = DEFAULT_EXPIRY
    visibility: str = Visibility.UNLISTED.value
    burn: bool = False
    password: str = ""

    @classmethod
    def from_form(cls, form: FormData) -> EditorForm:
        # Browsers send a textarea's line breaks as CRLF (HTML's form encoding); the text had LF.
        contents = [text.replace("\r\n", "\n") for text in form_texts(form, "content")] or [""]
        names, lexers = form_texts(form, "name"), form_texts(form, "lexer")
        files = [
            FileForm(text, names[i] if i < len(names) else "", lexers[i] if i < len(lexers) else "")
            for i, text in enumerate(contents)
        ]
        return cls(
            files=files,
            title=form_text(form, "title"),
            expiry=form_text(form, "expiry") or DEFAULT_EXPIRY,
            visibility=form_text(form, "visibility") or Visibility.UNLISTED.value,
            burn=bool(form_text(form, "burn")),
            password=form_text(form, "password"),
        )

    def to_request(self) -> PasteRequest:
        # Extra file slots left empty are unused slots of the form, not empty files.
        files = [f for f in self.files if f.content.strip()] or self.files[:1]
        try:
            visibility = Visibility(self.visibility)
        except ValueError:
            raise InvalidPasteError("choose public, unlisted or private", field="visibility") from None
        return PasteRequest(
            files=tuple(Draft(f.content, f.lexer or None, f.name.strip() or None) for f in files),
            title=self.title,
            expiry=self.expiry,
            visibility=visibility,
            burn_after_reading=self.burn,
            password=self.password or None,
            source="web",
        )


@router.get("/")
async def show_editor(request: Request, clone: str | None = None) -> HTMLResponse:
    who = await viewer(request)
    form, flashes = EditorForm(), list[tuple[str, str]]()
    if clone:
        form, flashes = await _clone_form(request, clone, who)
    return _editor(request, form, who, flashes=flashes)


@router.get("/clone/{paste_id}")
async def clone(paste_id: str) -> RedirectResponse:
    return RedirectResponse(f"/?clone={quote(paste_id, safe='')}", status_code=303)


@router.post("/create")
async def create(request: Request) -> Response:
    who = await viewer(request)
    form = await read_form(request)
    editor = EditorForm.from_form(form)
    if form_text(form, "add_file"):
        if len(editor.files) < FILES_MAX:
            editor.files.append(FileForm())
        return _editor(request, editor, who, headers=NO_STORE)
    try:
        created = await pastebin(request).pastes.create(editor.to_request(), who)
    except (InvalidError, LimitExceededError, ForbiddenError) as exc:
        return _editor(request, editor, who, error=exc)
    token = quote(created.removal_token, safe="")
    return RedirectResponse(f"/{created.paste.id}?created={token}", status_code=303)


async def _clone_form(
    request: Request, paste_id: str, who: Viewer
) -> tuple[EditorForm, list[tuple[str, str]]]:
    pastes = pastebin(request).pastes
    paste = await pastes.get(paste_id, who)
    if paste.encrypted or paste.burn_after_reading:
        notice = "Password-protected and burn-after-reading pastes cannot be cloned."
        return EditorForm(), [("warn", notice)]
    texts = [await pastes.text_of(paste, file, None) for file in paste.files]
    files = [FileForm(text, f.name or "", f.lexer) for f, text in zip(paste.files, texts, strict=True)]
    notice = f"Editing a copy of paste {paste.id}. Saving makes a new paste; the original stays as it is."
    return EditorForm(files=files, title=paste.title), [("ok", notice)]


def _editor(
    request: Request,
    form: EditorForm,
    who: Viewer,
    *,
    error: DomainError | None = None,
    flashes: list[tuple[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    status, response_headers = 200, dict(headers or {})
    if error is not None:
        status = 413 if isinstance(error, PasteTooLargeError) else status_for(error)
        response_headers.update(NO_STORE)  # the form is shown back, password included
        retry = getattr(error, "retry_after_seconds", None)
        if retry is not None:
            response_headers["Retry-After"] = str(max(1, round(retry + 0.49)))
    context = {
        "form": form,
        "lexers": render.list_lexers(),
        "common_lexers": render.COMMON_LEXERS,
        "expiries": EXPIRY_LABELS,
        "files_max": FILES_MAX,
        "signed_in": who.account_id is not None,
        "flashes": [*(flashes or []), *([("error", error.detail)] if error else [])],
        "error_field": getattr(error, "field", None) if error else None,
    }
    return render_page(request, "editor.html", context, status_code=status, headers=response_headers)
