"""Kafka requests and responses, sans-IO, over kio's generated message classes.

kio (Aiven) holds one frozen dataclass per message and version, generated from Apache Kafka's own
JSON schemas, with readers and writers that follow the flexible-version rules (compact types,
tagged fields). This module adds what a broker needs around them: the request header, the
versions we implement (`SUPPORTED`), the response header rules (ApiVersions always answers with
header v0, KIP-511), and `build`, which makes a response of any version from plain values so the
handlers write one code path for every version.
"""

from __future__ import annotations

import io
import struct
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, is_dataclass
from datetime import timedelta
from functools import cache
from typing import Any, TypeVar

from kio.index import load_request_schema, load_response_schema
from kio.schema.errors import ErrorCode
from kio.serial import entity_reader, entity_writer
from kio.serial.errors import DecodeError

from scalebox.core.errors import ProtocolError

API_VERSIONS = 18
SASL_HANDSHAKE = 17
SASL_AUTHENTICATE = 36

# api key -> (name, lowest version, highest version) this broker implements and advertises.
# Ceilings stop where a version needs something we do not do: Produce v13 / Fetch v13 / OffsetCommit
# v10 / OffsetFetch v10 address topics by id only (KIP-516); transactions are not implemented.
SUPPORTED: dict[int, tuple[str, int, int]] = {
    0: ("Produce", 3, 12),
    1: ("Fetch", 4, 12),
    2: ("ListOffsets", 1, 9),
    3: ("Metadata", 0, 12),
    8: ("OffsetCommit", 2, 9),
    9: ("OffsetFetch", 1, 9),
    10: ("FindCoordinator", 0, 6),
    11: ("JoinGroup", 0, 9),
    12: ("Heartbeat", 0, 4),
    13: ("LeaveGroup", 0, 5),
    14: ("SyncGroup", 0, 5),
    15: ("DescribeGroups", 0, 5),
    16: ("ListGroups", 0, 4),
    17: ("SaslHandshake", 1, 1),
    18: ("ApiVersions", 0, 4),
    19: ("CreateTopics", 2, 7),
    20: ("DeleteTopics", 1, 6),
    22: ("InitProducerId", 0, 5),
    32: ("DescribeConfigs", 1, 4),
    36: ("SaslAuthenticate", 0, 2),
    37: ("CreatePartitions", 0, 3),
    42: ("DeleteGroups", 0, 2),
    44: ("IncrementalAlterConfigs", 0, 1),
    60: ("DescribeCluster", 0, 1),
}

_HEADER = struct.Struct(">hhih")  # api key, api version, correlation id, client id length
_INT32 = struct.Struct(">i")

E = TypeVar("E")


class UnsupportedRequestError(ProtocolError):
    """A request for an API key or version this broker does not implement."""

    def __init__(self, api_key: int, api_version: int, correlation_id: int) -> None:
        name = SUPPORTED.get(api_key, (f"api key {api_key}", 0, 0))[0]
        super().__init__(f"{name} v{api_version} is not supported")
        self.api_key = api_key
        self.api_version = api_version
        self.correlation_id = correlation_id


@dataclass(frozen=True, slots=True)
class Request:
    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None
    body: Any  # the kio request entity of this key and version

    @property
    def name(self) -> str:
        return SUPPORTED[self.api_key][0]


def decode_request(frame: bytes) -> Request:
    """Parse one frame (without its size prefix). Raises UnsupportedRequestError for a key or version
    we do not implement (the caller answers ApiVersions and closes otherwise), ProtocolError for
    malformed bytes."""
    if len(frame) < _HEADER.size:
        raise ProtocolError(f"request of {len(frame)} bytes is shorter than a request header")
    api_key, api_version, correlation_id, client_id_length = _HEADER.unpack_from(frame)
    offset = _HEADER.size
    client_id: str | None = None
    if client_id_length >= 0:
        end = offset + client_id_length
        if end > len(frame):
            raise ProtocolError("client id runs past the end of the request")
        client_id = _text(frame[offset:end], "client id")
        offset = end
    supported = SUPPORTED.get(api_key)
    if supported is None or not supported[1] <= api_version <= supported[2]:
        raise UnsupportedRequestError(api_key, api_version, correlation_id)
    request_class = _request_class(api_key, api_version)
    try:
        if request_class.__flexible__:
            offset = _skip_tagged_fields(frame, offset)
        body, _ = _reader(request_class)(frame, offset)
    except (DecodeError, ValueError, TypeError, IndexError, OverflowError) as exc:
        raise ProtocolError(f"malformed {supported[0]} v{api_version} request: {exc}") from exc
    return Request(api_key, api_version, correlation_id, client_id, body)


def encode_response(request: Request, body: object) -> bytes:
    """The size-prefixed response frame to `request`."""
    return _frame(request.api_key, request.api_version, request.correlation_id, body)


def response_class(api_key: int, api_version: int) -> type[Any]:
    return _response_class(api_key, api_version)


def build(cls: type[E], values: Mapping[str, Any]) -> E:
    """An entity of `cls` from plain values: keys the class does not have are dropped (a field that
    appeared in a later version), nested entities may be given as mappings (or sequences of them),
    error codes as ints, durations as milliseconds, and fields left out take the schema's default."""
    kwargs: dict[str, Any] = {}
    for name, (nested, is_sequence) in _field_plan(cls).items():
        if name not in values:
            continue
        value = values[name]
        if nested is ErrorCode:
            value = ErrorCode(value)
        elif nested is timedelta:
            value = value if isinstance(value, timedelta) else timedelta(milliseconds=value)
        elif nested is not None and value is not None:
            if is_sequence:
                value = tuple(item if is_dataclass(item) else build(nested, item) for item in value)
            elif not is_dataclass(value):
                value = build(nested, value)
        kwargs[name] = value
    return cls(**kwargs)


def api_versions_error_frame(correlation_id: int, error_code: int) -> bytes:
    """ApiVersions v0 with an error and our key ranges: the answer to a version we do not know (KIP-511)."""
    body = build(
        _response_class(API_VERSIONS, 0),
        {"error_code": error_code, "api_keys": supported_api_keys()},
    )
    return _frame(API_VERSIONS, 0, correlation_id, body)


def supported_api_keys() -> list[dict[str, int]]:
    return [
        {"api_key": key, "min_version": low, "max_version": high} for key, (_, low, high) in SUPPORTED.items()
    ]


def _frame(api_key: int, api_version: int, correlation_id: int, body: Any) -> bytes:
    cls: type[Any] = type(body)
    buffer = io.BytesIO()
    buffer.write(b"\x00\x00\x00\x00")
    buffer.write(_INT32.pack(correlation_id))
    if cls.__flexible__ and api_key != API_VERSIONS:  # response header v1: an empty tagged-field section
        buffer.write(b"\x00")
    _writer(cls)(buffer, body)
    frame = buffer.getbuffer()
    _INT32.pack_into(frame, 0, len(frame) - 4)
    return bytes(frame)


def _text(raw: bytes, what: str) -> str:
    try:
        return raw.decode()
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"{what} is not UTF-8") from exc


def _skip_tagged_fields(frame: bytes, offset: int) -> int:
    count, offset = _uvarint(frame, offset)
    for _ in range(count):
        _, offset = _uvarint(frame, offset)
        size, offset = _uvarint(frame, offset)
        offset += size
        if offset > len(frame):
            raise ProtocolError("tagged field runs past the end of the request")
    return offset


def _uvarint(data: bytes, offset: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if offset >= len(data) or shift > 28:
            raise ProtocolError("malformed unsigned varint")
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, offset
        shift += 7


@cache
def _request_class(api_key: int, api_version: int) -> type[Any]:
    return load_request_schema(api_key, api_version)


@cache
def _response_class(api_key: int, api_version: int) -> type[Any]:
    return load_response_schema(api_key, api_version)


_READERS: dict[type[Any], Callable[[bytes, int], tuple[Any, int]]] = {}
_WRITERS: dict[type[Any], Callable[[io.BytesIO, Any], None]] = {}
_PLANS: dict[type[Any], dict[str, tuple[type[Any] | None, bool]]] = {}


def _reader(cls: type[Any]) -> Callable[[bytes, int], tuple[Any, int]]:
    reader = _READERS.get(cls)
    if reader is None:
        reader = _READERS[cls] = entity_reader(cls)
    return reader


def _writer(cls: type[Any]) -> Callable[[io.BytesIO, Any], None]:
    writer = _WRITERS.get(cls)
    if writer is None:
        writer = _WRITERS[cls] = entity_writer(cls)
    return writer


def _field_plan(cls: type[Any]) -> dict[str, tuple[type[Any] | None, bool]]:
    """Per field: the class a value converts to (a nested entity, ErrorCode, timedelta), and whether
    the field is a sequence of them."""
    plan = _PLANS.get(cls)
    if plan is None:
        plan = _PLANS[cls] = {field.name: _nested(field.type) for field in fields(cls)}
    return plan


def _nested(annotation: Any) -> tuple[type[Any] | None, bool]:
    """(the class `build` converts a value to, whether the field is a sequence of them)."""
    if annotation is ErrorCode:
        found: tuple[type[Any] | None, bool] = (ErrorCode, False)
    elif isinstance(annotation, type) and issubclass(annotation, timedelta):
        found = (timedelta, False)
    elif typing.get_origin(annotation) is tuple:
        args = [arg for arg in typing.get_args(annotation) if arg is not Ellipsis]
        found = (
            (args[0], True) if args and isinstance(args[0], type) and is_dataclass(args[0]) else (None, False)
        )
    elif typing.get_origin(annotation) in (typing.Union, types.UnionType):
        found = (None, False)
        for arg in typing.get_args(annotation):
            found = _nested(arg)
            if found[0] is not None:
                break
    elif isinstance(annotation, type) and is_dataclass(annotation):
        found = (annotation, False)
    else:
        found = (None, False)
    return found
