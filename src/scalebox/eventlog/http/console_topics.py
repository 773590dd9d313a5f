"""The topics list, a topic's page (partitions, configs and a live tail of its newest records, which
the page's script refreshes from `records` JSON), and the form that produces a test message (signed-in
users only: reading needs no sign-in, as the Kafka listener on loopback needs none)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from scalebox.core.errors import DomainError, InvalidError, TooLargeError
from scalebox.core.web.account_pages import NO_STORE
from scalebox.core.web.errors import status_for
from scalebox.core.web.forms import form_text, read_form
from scalebox.eventlog.domain import TopicConfig
from scalebox.eventlog.errors import UnknownTopicError
from scalebox.eventlog.http.console_session import (
    console,
    login_redirect,
    render_page,
    require_user,
    signed_in,
)
from scalebox.eventlog.http.console_view import render_record, topic_url
from scalebox.eventlog.service.topic_view import (
    TAIL_RECORDS_MAX,
    TopicSummary,
    get_topic,
    list_topics,
    newest_records,
    publish,
)

router = APIRouter(include_in_schema=False)

TAIL_RECORDS = 20  # on a topic's page
REFRESH_MS = 2000  # how often the page's script asks for the newest records
KEY_CHARS_MAX = 16 * 1024
VALUE_CHARS_MAX = 512 * 1024
OffsetQuery = Annotated[int | None, Query(ge=0)]
LimitQuery = Annotated[int, Query(ge=1, le=TAIL_RECORDS_MAX)]
TopicQuery = Annotated[str, Query(max_length=249)]
Flashes = list[tuple[str, str]]


@router.get("/")
async def topics_page(request: Request) -> Response:
    topics = list_topics(console(request).broker)
    return render_page(request, "eventlog/topics.html", {"topics": topics})


@router.get("/topics/{name}")
async def topic_page(
    request: Request, name: str, produced_partition: OffsetQuery = None, produced_offset: OffsetQuery = None
) -> Response:
    wiring = console(request)
    topic = _topic(request, name)
    records = newest_records(wiring.broker, name, TAIL_RECORDS)
    flashes: Flashes = []
    if produced_partition is not None and produced_offset is not None:
        flashes.append(
            ("ok", f"Message produced to partition {produced_partition} at offset {produced_offset}.")
        )
    context = {
        "topic": topic,
        "configs": _configs(topic.config, topic.overrides),
        "records": [render_record(record) for record in records],
        "tail_records": TAIL_RECORDS,
        "refresh_ms": REFRESH_MS,
        "user": signed_in(request),
        "flashes": flashes,
    }
    return render_page(request, "eventlog/topic.html", context)


@router.get("/topics/{name}/records")
async def topic_records(
    request: Request, name: str, limit: LimitQuery = TAIL_RECORDS, partition: OffsetQuery = None
) -> Response:
    """The newest records as JSON, for the topic page's live tail (and for anyone with curl)."""
    records = newest_records(console(request).broker, name, limit, partition)
    body = {"topic": name, "records": [render_record(record) for record in records]}
    return JSONResponse(body, headers=NO_STORE)


@router.get("/produce")
async def produce_page(request: Request, topic: TopicQuery = "") -> Response:
    if signed_in(request) is None:
        return login_redirect(request)
    return _produce_page(request, {"topic": topic, "key": "", "value": "", "partition": ""}, [])


@router.post("/produce")
async def produce(request: Request) -> Response:
    require_user(request)
    form = await read_form(request)
    typed = {field: form_text(form, field) for field in ("topic", "key", "value", "partition")}
    try:
        partition = _partition(typed["partition"])
        if len(typed["key"]) > KEY_CHARS_MAX or len(typed["value"]) > VALUE_CHARS_MAX:
            raise TooLargeError(
                f"keys are limited to {KEY_CHARS_MAX} and values to {VALUE_CHARS_MAX} characters here"
            )
        key = typed["key"].encode() if typed["key"] else None
        published = await publish(
            console(request).broker, typed["topic"], key, typed["value"].encode(), partition
        )
    except DomainError as exc:
        return _produce_page(request, typed, [("error", exc.detail)], status=status_for(exc))
    target = f"{topic_url(published.topic)}?produced_partition={published.partition}"
    return RedirectResponse(f"{target}&produced_offset={published.offset}#tail", status_code=303)


def _partition(text: str) -> int | None:
    """The form's partition: blank lets the key choose (as a Kafka client's partitioner would)."""
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 6:
        raise InvalidError(f"the partition must be a number, not {text!r}", field="partition")
    return int(text)


def _produce_page(
    request: Request, typed: dict[str, str], flashes: Flashes, *, status: int = 200
) -> HTMLResponse:
    writable = [topic.name for topic in list_topics(console(request).broker) if not topic.internal]
    context = {
        "typed": typed,
        "topics": writable,
        "key_chars_max": KEY_CHARS_MAX,
        "value_chars_max": VALUE_CHARS_MAX,
        "flashes": flashes,
    }
    return render_page(request, "eventlog/produce.html", context, status_code=status)


def _topic(request: Request, name: str) -> TopicSummary:
    topic = get_topic(console(request).broker, name)
    if topic is None:
        raise UnknownTopicError(f"there is no topic named {name!r}")
    return topic


def _configs(config: TopicConfig, overrides: dict[str, str]) -> list[tuple[str, str, bool]]:
    """(name, value, set on the topic) for every config, Kafka-named, in name order."""
    return [(name, value, name in overrides) for name, value in sorted(config.to_kafka().items())]
