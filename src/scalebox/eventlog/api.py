"""The Kafka API: one handler per request key, translating kio entities to broker and coordinator
calls and their results (or errors, through protocol/errors.py) back to responses.

Handlers build responses with `codec.build`, which drops fields a version does not have, so one
handler serves every version of its key. Version differences that change meaning (Metadata v0's
empty topic list, LeaveGroup's single member before v3, OffsetFetch's group batches from v8,
FindCoordinator's key batches from v4) are handled where they occur.

Produce handlers append before their first `await`: the server starts one task per request in
arrival order, so pipelined produce requests on a connection are appended in that order.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from kio.schema.errors import ErrorCode

from scalebox.core.errors import DomainError, IntegrityError
from scalebox.eventlog.domain import TopicConfig, config_names
from scalebox.eventlog.errors import (
    GroupError,
    IllegalSaslStateError,
    InvalidRequestError,
    MemberIdRequiredError,
    UnknownTopicError,
)
from scalebox.eventlog.protocol import codec
from scalebox.eventlog.protocol.codec import Request
from scalebox.eventlog.protocol.errors import error_code
from scalebox.eventlog.service.broker import Broker, Partition
from scalebox.eventlog.service.groups import GroupCoordinator, JoinRequest
from scalebox.eventlog.service.sasl import SaslSession

NODE_ID = 0
TOPIC_RESOURCE = 2
BROKER_RESOURCE = 4
_ALLOWED_BEFORE_AUTH = {codec.API_VERSIONS, codec.SASL_HANDSHAKE, codec.SASL_AUTHENTICATE}
_CONFIG_SOURCE_TOPIC = 1
_CONFIG_SOURCE_DEFAULT = 5
_CONFIG_TYPES = {"cleanup.policy": 7, "message.timestamp.type": 2, "min.cleanable.dirty.ratio": 6}
_INT_CONFIGS = {"segment.index.bytes", "index.interval.bytes", "max.message.bytes"}
_DOCUMENTATION = {
    "cleanup.policy": "delete: drop old segments by retention; compact: keep the latest record per key",
    "retention.ms": "how long a segment is kept after its newest record (-1: forever)",
    "retention.bytes": "the most a partition holds before its oldest segments go (-1: no limit)",
    "segment.bytes": "a segment rolls when it would grow past this size",
    "segment.ms": "a segment rolls when its first record is this old",
    "flush.messages": "fsync after this many records (1: every batch); acks=all waits for it",
    "flush.ms": "fsync at most this long after a write (-1: not by time)",
    "max.message.bytes": "the largest record batch accepted",
    "delete.retention.ms": "how long tombstones stay in a compacted topic",
}


@dataclass(frozen=True, slots=True)
class Listener:
    host: str
    port: int
    sasl: bool


@dataclass
class Connection:
    """What a handler knows about the connection its request came on."""

    listener: Listener
    client_host: str
    sasl: SaslSession = field(default_factory=lambda: SaslSession(()))
    close_after_response: bool = False  # a failed SASL exchange or a refused request ends the connection

    @property
    def authenticated(self) -> bool:
        return not self.listener.sasl or self.sasl.user is not None


class AuthenticationRequiredError(DomainError):
    """A request other than ApiVersions / SASL on a SASL listener before authenticating: the
    connection is closed, as Kafka does."""


Handler = Callable[[Request, Connection], Awaitable[object]]


class KafkaApi:
    def __init__(
        self,
        broker: Broker,
        groups: GroupCoordinator,
        *,
        advertised: Listener,
        fetch_bytes_max: int,
        sasl_mechanisms: tuple[str, ...],
    ) -> None:
        self.broker = broker
        self.groups = groups
        self.advertised = advertised
        self.fetch_bytes_max = fetch_bytes_max
        self.sasl_mechanisms = sasl_mechanisms
        self._handlers: dict[int, Handler] = {
            0: self.produce,
            1: self.fetch,
            2: self.list_offsets,
            3: self.metadata,
            8: self.offset_commit,
            9: self.offset_fetch,
            10: self.find_coordinator,
            11: self.join_group,
            12: self.heartbeat,
            13: self.leave_group,
            14: self.sync_group,
            15: self.describe_groups,
            16: self.list_groups,
            17: self.sasl_handshake,
            18: self.api_versions,
            19: self.create_topics,
            20: self.delete_topics,
            22: self.init_producer_id,
            32: self.describe_configs,
            36: self.sasl_authenticate,
            37: self.create_partitions,
            42: self.delete_groups,
            44: self.incremental_alter_configs,
            60: self.describe_cluster,
        }

    async def handle(self, request: Request, connection: Connection) -> object:
        if not connection.authenticated and request.api_key not in _ALLOWED_BEFORE_AUTH:
            raise AuthenticationRequiredError(f"{request.name} before SASL authentication")
        return await self._handlers[request.api_key](request, connection)

    def respond(self, request: Request, values: dict[str, Any]) -> object:
        values.setdefault("throttle_time", 0)
        return codec.build(codec.response_class(request.api_key, request.api_version), values)

    # -- versions and SASL -------------------------------------------------------------------------

    async def api_versions(self, request: Request, connection: Connection) -> object:
        return self.respond(request, {"error_code": 0, "api_keys": codec.supported_api_keys()})

    async def sasl_handshake(self, request: Request, connection: Connection) -> object:
        mechanisms = self.sasl_mechanisms if connection.listener.sasl else ()
        if not connection.listener.sasl:
            code = ErrorCode.illegal_sasl_state
        else:
            connection.sasl = SaslSession(mechanisms)
            try:
                connection.sasl.handshake(request.body.mechanism)
                code = ErrorCode.none
            except DomainError as exc:
                code = _code(exc)
        return self.respond(request, {"error_code": code, "mechanisms": mechanisms})

    async def sasl_authenticate(self, request: Request, connection: Connection) -> object:
        try:
            if not connection.listener.sasl:
                raise IllegalSaslStateError("this listener does not use SASL")
            users = self.broker.users.load()
            # PBKDF2 of a PLAIN password takes milliseconds: off the event loop.
            reply = await asyncio.to_thread(connection.sasl.authenticate, request.body.auth_bytes, users)
        except DomainError as exc:
            connection.close_after_response = True
            return self.respond(
                request, {"error_code": _code(exc), "error_message": exc.detail, "auth_bytes": b""}
            )
        return self.respond(
            request, {"error_code": 0, "error_message": None, "auth_bytes": reply, "session_lifetime": 0}
        )

    # -- produce and fetch -------------------------------------------------------------------------

    async def produce(self, request: Request, connection: Connection) -> object | None:
        body = request.body
        if body.transactional_id is not None:
            raise InvalidRequestError("transactions are not supported by this broker")
        results: dict[tuple[str, int], dict[str, Any]] = {}
        waits: list[tuple[tuple[str, int], Partition, int]] = []
        for topic_data in body.topic_data:
            for partition_data in topic_data.partition_data:
                key = (topic_data.name, partition_data.index)
                try:
                    partition = self.broker.partition(*key)
                    if not partition_data.records:
                        raise InvalidRequestError("a produce request with no record batch")
                    appended = self.broker.append(partition, partition_data.records)
                except (DomainError, IntegrityError) as exc:
                    results[key] = _produce_error(exc)
                    continue
                results[key] = {
                    "index": key[1],
                    "error_code": 0,
                    "base_offset": appended.base_offset,
                    "log_start_offset": appended.log_start_offset,
                    "record_errors": (),
                    "error_message": None,
                }
                if body.acks == -1 and not appended.duplicate:
                    waits.append((key, partition, appended.next_offset))
        if waits:
            outcomes = await asyncio.gather(
                *(self.broker.wait_durable(partition, end) for _, partition, end in waits),
                return_exceptions=True,
            )
            for (key, _, _), outcome in zip(waits, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    if not isinstance(outcome, DomainError | IntegrityError):
                        raise outcome
                    results[key] = _produce_error(outcome, key[1])
        if body.acks == 0:
            return None  # acks=0: the producer reads no response
        return self.respond(
            request,
            {
                "responses": [
                    {"name": name, "partition_responses": [r | {"index": r.get("index", index)}]}
                    for (name, index), r in results.items()
                ]
            },
        )

    async def fetch(self, request: Request, connection: Connection) -> object:
        body = request.body
        max_bytes = max(1, min(body.max_bytes, self.fetch_bytes_max))
        deadline = asyncio.get_running_loop().time() + body.max_wait.total_seconds()
        wanted = [(t.topic, p) for t in body.topics for p in t.partitions]
        while True:
            responses, total, partitions = self._read_partitions(wanted, max_bytes)
            remaining = deadline - asyncio.get_running_loop().time()
            if total >= body.min_bytes or remaining <= 0 or not partitions:
                break
            await self.broker.wait_for_data(partitions, remaining)
        by_topic: dict[str, list[dict[str, Any]]] = {}
        for name, entry in responses:
            by_topic.setdefault(name, []).append(entry)
        return self.respond(
            request,
            {
                "error_code": 0,
                "session_id": 0,
                "responses": [{"topic": name, "partitions": entries} for name, entries in by_topic.items()],
            },
        )

    def _read_partitions(
        self, wanted: list[tuple[str, Any]], max_bytes: int
    ) -> tuple[list[tuple[str, dict[str, Any]]], int, list[Partition]]:
        responses: list[tuple[str, dict[str, Any]]] = []
        partitions: list[Partition] = []
        total = 0
        for name, wanted_partition in wanted:
            entry: dict[str, Any] = {
                "partition_index": wanted_partition.partition,
                "error_code": 0,
                "high_watermark": -1,
                "last_stable_offset": -1,
                "log_start_offset": -1,
                "aborted_transactions": None,
                "preferred_read_replica": -1,
                "records": b"",
            }
            try:
                partition = self.broker.partition(name, wanted_partition.partition)
                budget = min(wanted_partition.partition_max_bytes, max_bytes - total)
                if budget <= 0 and total:
                    fetched = self.broker.read(partition, wanted_partition.fetch_offset, 0)
                    records = b""
                else:
                    fetched = self.broker.read(partition, wanted_partition.fetch_offset, max(budget, 1))
                    records = fetched.records
                partitions.append(partition)
                total += len(records)
                entry |= {
                    "high_watermark": fetched.high_watermark,
                    "last_stable_offset": fetched.high_watermark,
                    "log_start_offset": fetched.log_start_offset,
                    "records": records,
                }
            except DomainError as exc:
                entry["error_code"] = _code(exc)
            responses.append((name, entry))
        return responses, total, partitions

    async def list_offsets(self, request: Request, connection: Connection) -> object:
        topics = []
        for topic in request.body.topics:
            partitions = []
            for wanted in topic.partitions:
                entry: dict[str, Any] = {"partition_index": wanted.partition_index, "error_code": 0}
                try:
                    partition = self.broker.partition(topic.name, wanted.partition_index)
                    offset, timestamp = self.broker.list_offset(partition, wanted.timestamp)
                    entry |= {"offset": offset, "timestamp": timestamp, "leader_epoch": 0}
                except DomainError as exc:
                    entry |= {"error_code": _code(exc), "offset": -1, "timestamp": -1}
                partitions.append(entry)
            topics.append({"name": topic.name, "partitions": partitions})
        return self.respond(request, {"topics": topics})

    # -- metadata and admin ------------------------------------------------------------------------

    def _brokers(self) -> list[dict[str, Any]]:
        return [
            {
                "node_id": NODE_ID,
                "broker_id": NODE_ID,
                "host": self.advertised.host,
                "port": self.advertised.port,
            }
        ]

    async def metadata(self, request: Request, connection: Connection) -> object:
        body = request.body
        names: list[str] | None
        if body.topics is None or (request.api_version == 0 and not body.topics):
            names = None
        else:
            names = [t.name for t in body.topics]
        allow_create = getattr(body, "allow_auto_topic_creation", True)
        topics = []
        for name in names if names is not None else sorted(self.broker.topics):
            topics.append(self._topic_metadata(name, allow_create=allow_create and names is not None))
        return self.respond(
            request,
            {
                "brokers": self._brokers(),
                "cluster_id": self.broker.cluster_id,
                "controller_id": NODE_ID,
                "topics": topics,
                "cluster_authorized_operations": -2147483648,
            },
        )

    def _topic_metadata(self, name: str | None, *, allow_create: bool) -> dict[str, Any]:
        try:
            if name is None:
                raise InvalidRequestError("metadata by topic id is not supported")
            topic = self.broker.topic_for_metadata(name, allow_create=allow_create)
        except DomainError as exc:
            return {"error_code": _code(exc), "name": name, "topic_id": None, "partitions": ()}
        return {
            "error_code": 0,
            "name": topic.name,
            "topic_id": _uuid(topic.record.topic_id),
            "is_internal": topic.internal,
            "partitions": [
                {
                    "error_code": 0,
                    "partition_index": p.index,
                    "leader_id": NODE_ID,
                    "leader_epoch": 0,
                    "replica_nodes": (NODE_ID,),
                    "isr_nodes": (NODE_ID,),
                    "offline_replicas": (),
                }
                for p in topic.partitions
            ],
        }

    async def describe_cluster(self, request: Request, connection: Connection) -> object:
        return self.respond(
            request,
            {
                "error_code": 0,
                "error_message": None,
                "cluster_id": self.broker.cluster_id,
                "controller_id": NODE_ID,
                "brokers": self._brokers(),
            },
        )

    async def create_topics(self, request: Request, connection: Connection) -> object:
        body = request.body
        results = []
        for wanted in body.topics:
            entry: dict[str, Any] = {
                "name": wanted.name,
                "topic_id": None,
                "error_code": 0,
                "error_message": None,
            }
            try:
                if wanted.assignments:
                    raise InvalidRequestError("manual replica assignments are not supported on one broker")
                configs = {c.name: c.value for c in wanted.configs}
                created = self.broker.create_topic(
                    wanted.name,
                    wanted.num_partitions,
                    configs,
                    replication_factor=wanted.replication_factor,
                    validate_only=body.validate_only,
                )
                if isinstance(created, TopicConfig):
                    config, partitions, topic_id = created, wanted.num_partitions, None
                else:
                    config, partitions, topic_id = (
                        created.config,
                        len(created.partitions),
                        created.record.topic_id,
                    )
                entry |= {
                    "topic_id": _uuid(topic_id),
                    "num_partitions": partitions if partitions > 0 else self.broker.limits.num_partitions,
                    "replication_factor": 1,
                    "configs": self._creatable_configs(config),
                }
            except DomainError as exc:
                entry |= {"error_code": _code(exc), "error_message": exc.detail, "configs": None}
                entry |= {"num_partitions": -1, "replication_factor": -1}
            results.append(entry)
        return self.respond(request, {"topics": results})

    def _creatable_configs(self, config: TopicConfig) -> list[dict[str, Any]]:
        defaults = self.broker.defaults.to_kafka()
        return [
            {
                "name": name,
                "value": value,
                "read_only": False,
                "config_source": _CONFIG_SOURCE_DEFAULT if defaults[name] == value else _CONFIG_SOURCE_TOPIC,
                "is_sensitive": False,
            }
            for name, value in config.to_kafka().items()
        ]

    async def delete_topics(self, request: Request, connection: Connection) -> object:
        body = request.body
        if hasattr(body, "topic_names"):
            wanted = [(name, None) for name in body.topic_names]
        else:
            wanted = [(t.name, t.topic_id) for t in body.topics]
        results = []
        for name, topic_id in wanted:
            entry: dict[str, Any] = {
                "name": name,
                "topic_id": topic_id,
                "error_code": 0,
                "error_message": None,
            }
            try:
                resolved = name if name is not None else self._topic_name_by_id(topic_id)
                entry["name"] = resolved
                await self.broker.delete_topic(resolved)
                await self.groups.delete_topic_offsets(resolved)
            except DomainError as exc:
                entry |= {"error_code": _code(exc), "error_message": exc.detail}
            results.append(entry)
        return self.respond(request, {"responses": results})

    def _topic_name_by_id(self, topic_id: Any) -> str:
        for topic in self.broker.topics.values():
            if topic.record.topic_id == str(topic_id):
                return topic.name
        raise UnknownTopicError(f"no topic has id {topic_id}")

    async def create_partitions(self, request: Request, connection: Connection) -> object:
        body = request.body
        results = []
        for wanted in body.topics:
            entry: dict[str, Any] = {"name": wanted.name, "error_code": 0, "error_message": None}
            try:
                if wanted.assignments:
                    raise InvalidRequestError("manual replica assignments are not supported on one broker")
                self.broker.create_partitions(wanted.name, wanted.count, validate_only=body.validate_only)
            except DomainError as exc:
                entry |= {"error_code": _code(exc), "error_message": exc.detail}
            results.append(entry)
        return self.respond(request, {"results": results})

    async def describe_configs(self, request: Request, connection: Connection) -> object:
        body = request.body
        include_synonyms = getattr(body, "include_synonyms", False)
        include_documentation = getattr(body, "include_documentation", False)
        results = []
        for resource in body.resources:
            entry: dict[str, Any] = {
                "error_code": 0,
                "error_message": None,
                "resource_type": resource.resource_type,
                "resource_name": resource.resource_name,
                "configs": (),
            }
            try:
                values, sources = self._config_values(resource.resource_type, resource.resource_name)
                keys = resource.configuration_keys
                entry["configs"] = [
                    {
                        "name": name,
                        "value": value,
                        "read_only": resource.resource_type == BROKER_RESOURCE,
                        "is_default": sources[name] == _CONFIG_SOURCE_DEFAULT,
                        "config_source": sources[name],
                        "is_sensitive": False,
                        "synonyms": (
                            [{"name": name, "value": value, "source": sources[name]}]
                            if include_synonyms
                            else ()
                        ),
                        "config_type": _config_type(name),
                        "documentation": _DOCUMENTATION.get(name) if include_documentation else None,
                    }
                    for name, value in values.items()
                    if keys is None or name in keys
                ]
            except DomainError as exc:
                entry |= {"error_code": _code(exc), "error_message": exc.detail}
            results.append(entry)
        return self.respond(request, {"results": results})

    def _config_values(self, resource_type: int, resource_name: str) -> tuple[dict[str, str], dict[str, int]]:
        defaults = self.broker.defaults.to_kafka()
        if resource_type == TOPIC_RESOURCE:
            values = self.broker.topic(resource_name).config.to_kafka()
            sources = {
                name: _CONFIG_SOURCE_DEFAULT if defaults[name] == value else _CONFIG_SOURCE_TOPIC
                for name, value in values.items()
            }
            return values, sources
        if resource_type == BROKER_RESOURCE:
            if resource_name not in ("", str(NODE_ID)):
                raise InvalidRequestError(f"unknown broker {resource_name!r}; this is broker {NODE_ID}")
            values = {
                f"log.{name}" if not name.startswith("log.") else name: v for name, v in defaults.items()
            }
            values |= {
                "broker.id": str(NODE_ID),
                "num.partitions": str(self.broker.limits.num_partitions),
                "auto.create.topics.enable": str(self.broker.limits.auto_create_topics).lower(),
            }
            return values, dict.fromkeys(values, 4)
        raise InvalidRequestError(f"resource type {resource_type} is not supported (2 topic, 4 broker)")

    async def incremental_alter_configs(self, request: Request, connection: Connection) -> object:
        body = request.body
        results = []
        for resource in body.resources:
            entry: dict[str, Any] = {
                "error_code": 0,
                "error_message": None,
                "resource_type": resource.resource_type,
                "resource_name": resource.resource_name,
            }
            try:
                if resource.resource_type != TOPIC_RESOURCE:
                    raise InvalidRequestError(
                        "only topic configs can be altered (broker configs are read-only)"
                    )
                topic = self.broker.topic(resource.resource_name)
                changes = _config_changes(topic.config.to_kafka(), resource.configs)
                self.broker.alter_configs(resource.resource_name, changes, validate_only=body.validate_only)
            except DomainError as exc:
                entry |= {"error_code": _code(exc), "error_message": exc.detail}
            results.append(entry)
        return self.respond(request, {"responses": results})

    async def init_producer_id(self, request: Request, connection: Connection) -> object:
        body = request.body
        if body.transactional_id is not None:
            return self.respond(
                request,
                {
                    "error_code": ErrorCode.transactional_id_authorization_failed,
                    "producer_id": -1,
                    "producer_epoch": -1,
                },
            )
        producer_id = getattr(body, "producer_id", -1)
        epoch = getattr(body, "producer_epoch", -1)
        if producer_id >= 0 and epoch >= 0 and epoch < 32766:
            # KIP-360: a producer that hit an error asks for its epoch to be bumped.
            return self.respond(
                request, {"error_code": 0, "producer_id": producer_id, "producer_epoch": epoch + 1}
            )
        return self.respond(
            request, {"error_code": 0, "producer_id": self.broker.allocate_producer_id(), "producer_epoch": 0}
        )

    # -- consumer groups ---------------------------------------------------------------------------

    async def find_coordinator(self, request: Request, connection: Connection) -> object:
        body = request.body
        coordinator = {"node_id": NODE_ID, "host": self.advertised.host, "port": self.advertised.port}
        key_type = getattr(body, "key_type", 0)
        error = ErrorCode.none if key_type == 0 else ErrorCode.coordinator_not_available
        message = None if key_type == 0 else "transactions are not supported"
        if request.api_version >= 4:
            return self.respond(
                request,
                {
                    "coordinators": [
                        {"key": key, **coordinator, "error_code": error, "error_message": message}
                        for key in body.coordinator_keys
                    ]
                },
            )
        return self.respond(request, {"error_code": error, "error_message": message, **coordinator})

    async def join_group(self, request: Request, connection: Connection) -> object:
        body = request.body
        session_ms = _ms(body.session_timeout)
        rebalance = getattr(body, "rebalance_timeout", None)
        join = JoinRequest(
            group_id=body.group_id,
            member_id=body.member_id,
            group_instance_id=getattr(body, "group_instance_id", None),
            protocol_type=body.protocol_type,
            protocols=tuple((p.name, p.metadata) for p in body.protocols),
            session_timeout_ms=session_ms,
            rebalance_timeout_ms=_ms(rebalance) if rebalance is not None else session_ms,
            client_id=request.client_id or "",
            client_host=connection.client_host,
            require_known_member_id=request.api_version >= 4,
        )
        empty = {
            "generation_id": -1,
            "protocol_type": None,
            "protocol_name": None if request.api_version >= 7 else "",  # nullable from v7
            "leader": "",
            "members": (),
        }
        try:
            result = await self.groups.join(join)
        except MemberIdRequiredError as exc:
            return self.respond(request, empty | {"error_code": _code(exc), "member_id": exc.member_id})
        except (GroupError, IntegrityError) as exc:
            return self.respond(request, empty | {"error_code": _code(exc), "member_id": body.member_id})
        return self.respond(
            request,
            {
                "error_code": 0,
                "generation_id": result.generation_id,
                "protocol_type": result.protocol_type,
                "protocol_name": result.protocol_name,
                "leader": result.leader,
                "skip_assignment": False,
                "member_id": result.member_id,
                "members": [
                    {
                        "member_id": m.member_id,
                        "group_instance_id": m.group_instance_id,
                        "metadata": m.metadata,
                    }
                    for m in result.members
                ],
            },
        )

    async def sync_group(self, request: Request, connection: Connection) -> object:
        body = request.body
        try:
            result = await self.groups.sync(
                body.group_id,
                body.member_id,
                body.generation_id,
                getattr(body, "group_instance_id", None),
                getattr(body, "protocol_type", None),
                getattr(body, "protocol_name", None),
                {a.member_id: a.assignment for a in body.assignments},
            )
        except (GroupError, IntegrityError) as exc:
            return self.respond(
                request,
                {
                    "error_code": _code(exc),
                    "protocol_type": None,
                    "protocol_name": None,
                    "assignment": b"",
                },
            )
        return self.respond(
            request,
            {
                "error_code": 0,
                "protocol_type": result.protocol_type,
                "protocol_name": result.protocol_name,
                "assignment": result.assignment,
            },
        )

    async def heartbeat(self, request: Request, connection: Connection) -> object:
        body = request.body
        try:
            await self.groups.heartbeat(
                body.group_id, body.member_id, body.generation_id, getattr(body, "group_instance_id", None)
            )
            code = ErrorCode.none
        except (GroupError, IntegrityError) as exc:
            code = _code(exc)
        return self.respond(request, {"error_code": code})

    async def leave_group(self, request: Request, connection: Connection) -> object:
        body = request.body
        if request.api_version < 3:
            members = [(body.member_id, None)]
        else:
            members = [(m.member_id, m.group_instance_id) for m in body.members]
        try:
            outcomes = await self.groups.leave(body.group_id, members)
        except (GroupError, IntegrityError) as exc:
            return self.respond(request, {"error_code": _code(exc), "members": ()})
        top = (
            next((error_code(e) for e in outcomes if e is not None), ErrorCode.none)
            if request.api_version < 3
            else 0
        )
        return self.respond(
            request,
            {
                "error_code": top,
                "members": [
                    {
                        "member_id": member_id,
                        "group_instance_id": instance_id,
                        "error_code": error_code(outcome) if outcome is not None else 0,
                    }
                    for (member_id, instance_id), outcome in zip(members, outcomes, strict=True)
                ],
            },
        )

    async def offset_commit(self, request: Request, connection: Connection) -> object:
        body = request.body
        offsets = {
            (t.name, p.partition_index): (
                p.committed_offset,
                getattr(p, "committed_leader_epoch", -1),
                p.committed_metadata or "",
            )
            for t in body.topics
            for p in t.partitions
        }
        unknown = {key for key in offsets if not self._partition_exists(*key)}
        try:
            outcomes = await self.groups.commit_offsets(
                body.group_id,
                body.member_id,
                body.generation_id_or_member_epoch,
                getattr(body, "group_instance_id", None),
                {key: value for key, value in offsets.items() if key not in unknown},
            )
            codes = {key: error_code(e) if e is not None else 0 for key, e in outcomes.items()}
            codes |= dict.fromkeys(unknown, ErrorCode.unknown_topic_or_partition)
        except (GroupError, IntegrityError) as exc:
            codes = dict.fromkeys(offsets, _code(exc))
        topics: dict[str, list[dict[str, Any]]] = {}
        for (name, index), code in codes.items():
            topics.setdefault(name, []).append({"partition_index": index, "error_code": code})
        return self.respond(
            request, {"topics": [{"name": name, "partitions": parts} for name, parts in topics.items()]}
        )

    def _partition_exists(self, topic: str, index: int) -> bool:
        try:
            self.broker.partition(topic, index)
        except UnknownTopicError:
            return False
        return True

    async def offset_fetch(self, request: Request, connection: Connection) -> object:
        body = request.body
        if request.api_version >= 8:
            groups = [self._group_offsets(g.group_id, g.topics) for g in body.groups]
            return self.respond(request, {"groups": groups})
        found = self._group_offsets(body.group_id, body.topics)
        return self.respond(request, {"topics": found["topics"], "error_code": found["error_code"]})

    def _group_offsets(self, group_id: str, topics: Any) -> dict[str, Any]:
        wanted = None
        if topics is not None:
            indexes = [getattr(t, "partition_indexes", None) for t in topics]
            wanted = [(t.name, index) for t, idx in zip(topics, indexes, strict=True) for index in idx or ()]
        try:
            committed = self.groups.fetch_offsets(group_id, wanted)
        except (GroupError, IntegrityError) as exc:
            return {"group_id": group_id, "topics": (), "error_code": _code(exc)}
        keys = wanted if wanted is not None else sorted(committed)
        by_topic: dict[str, list[dict[str, Any]]] = {}
        for name, index in keys:
            offset = committed.get((name, index))
            by_topic.setdefault(name, []).append(
                {
                    "partition_index": index,
                    "committed_offset": offset.offset if offset else -1,
                    "committed_leader_epoch": offset.leader_epoch if offset else -1,
                    "metadata": offset.metadata if offset else "",
                    "error_code": 0,
                }
            )
        return {
            "group_id": group_id,
            "topics": [{"name": name, "partitions": parts} for name, parts in by_topic.items()],
            "error_code": 0,
        }

    async def list_groups(self, request: Request, connection: Connection) -> object:
        states = tuple(getattr(request.body, "states_filter", ()) or ())
        return self.respond(
            request,
            {
                "error_code": 0,
                "groups": [
                    {"group_id": g.group_id, "protocol_type": g.protocol_type, "group_state": g.state}
                    for g in self.groups.list_groups(states)
                ],
            },
        )

    async def describe_groups(self, request: Request, connection: Connection) -> object:
        groups = []
        for group_id in request.body.groups:
            description = self.groups.describe(group_id)
            groups.append(
                {
                    "error_code": 0,
                    "group_id": group_id,
                    "group_state": description.state,
                    "protocol_type": description.protocol_type,
                    "protocol_data": description.protocol_name,
                    "members": [
                        {
                            "member_id": m.member_id,
                            "group_instance_id": m.group_instance_id,
                            "client_id": m.client_id,
                            "client_host": m.client_host,
                            "member_metadata": m.metadata,
                            "member_assignment": m.assignment,
                        }
                        for m in description.members
                    ],
                }
            )
        return self.respond(request, {"groups": groups})

    async def delete_groups(self, request: Request, connection: Connection) -> object:
        outcomes = await self.groups.delete_groups(list(request.body.groups_names))
        return self.respond(
            request,
            {
                "results": [
                    {"group_id": group_id, "error_code": error_code(e) if e is not None else 0}
                    for group_id, e in outcomes.items()
                ]
            },
        )


def _code(exc: DomainError | IntegrityError) -> ErrorCode:
    """The Kafka code for a domain error; COORDINATOR_NOT_AVAILABLE when the group log could not be
    written (the disk under __consumer_offsets failed): the client finds the coordinator again and
    retries."""
    if isinstance(exc, DomainError):
        return error_code(exc)
    return ErrorCode.coordinator_not_available


def _produce_error(exc: DomainError | IntegrityError, index: int | None = None) -> dict[str, Any]:
    code = error_code(exc) if isinstance(exc, DomainError) else ErrorCode.kafka_storage_error
    entry: dict[str, Any] = {
        "error_code": code,
        "base_offset": -1,
        "log_start_offset": -1,
        "record_errors": (),
        "error_message": str(exc),
    }
    if index is not None:
        entry["index"] = index
    return entry


def _ms(duration: Any) -> int:
    return int(duration.total_seconds() * 1000)


def _uuid(value: str | None) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None


def _config_type(name: str) -> int:
    if name in _CONFIG_TYPES:
        return _CONFIG_TYPES[name]
    return 3 if name in _INT_CONFIGS else 5


def _config_changes(current: dict[str, str], operations: Any) -> dict[str, str | None]:
    """IncrementalAlterConfigs operations (0 SET, 1 DELETE, 2 APPEND, 3 SUBTRACT) as changes."""
    changes: dict[str, str | None] = {}
    for operation in operations:
        name = operation.name
        if name not in config_names():
            raise InvalidRequestError(f"unknown topic config {name!r}")
        if operation.config_operation == 0:
            changes[name] = operation.value
        elif operation.config_operation == 1:
            changes[name] = None
        elif operation.config_operation in (2, 3):
            items = [item for item in (changes.get(name) or current[name]).split(",") if item]
            value = operation.value or ""
            if operation.config_operation == 2 and value not in items:
                items.append(value)
            elif operation.config_operation == 3:
                with contextlib.suppress(ValueError):
                    items.remove(value)
            changes[name] = ",".join(items)
        else:
            raise InvalidRequestError(f"unknown config operation {operation.config_operation}")
    return changes
