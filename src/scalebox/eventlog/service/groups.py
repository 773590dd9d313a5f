"""The classic consumer group coordinator: JoinGroup, SyncGroup, Heartbeat, LeaveGroup and offsets.

It follows Apache Kafka's GroupCoordinator and GroupMetadata (the protocol before KIP-848) for one
broker that coordinates every group. State persists through a GroupLog in Kafka's own
`__consumer_offsets` layout (see group_records.py): a group record on every completed SyncGroup, on
every group becoming Empty and on a static member's replacement; one record per committed partition;
tombstones on deletes.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Awaitable, Mapping, Sequence
from typing import TypeVar

import structlog

from scalebox.core.clock import Clock
from scalebox.core.errors import DomainError, IntegrityError
from scalebox.eventlog.errors import (
    CoordinatorLoadInProgressError,
    FencedInstanceIdError,
    GroupError,
    GroupIdNotFoundError,
    GroupMaxSizeReachedError,
    IllegalGenerationError,
    InconsistentGroupProtocolError,
    InvalidGroupIdError,
    InvalidRequestError,
    InvalidSessionTimeoutError,
    MemberIdRequiredError,
    NotEmptyGroupError,
    RebalanceInProgressError,
    UnknownMemberIdError,
)
from scalebox.eventlog.service.group_records import (
    CommittedOffset,
    GroupDescription,
    GroupKey,
    GroupListing,
    GroupLog,
    GroupMetadata,
    GroupState,
    JoinedMember,
    JoinRequest,
    JoinResult,
    MemberDescription,
    MemberMetadata,
    OffsetKey,
    StoredGroup,
    StoredMember,
    SyncResult,
    decode_group_value,
    decode_key,
    decode_offset_value,
    encode_group_key,
    encode_group_value,
    encode_offset_key,
    encode_offset_value,
)

log = structlog.get_logger("scalebox.eventlog.groups")

# Kafka's GroupCoordinator.NewMemberJoinTimeoutMs: a new member's JoinGroup may wait this long at most.
NEW_MEMBER_JOIN_TIMEOUT_MS = 5 * 60 * 1000

_T = TypeVar("_T")
# A client that retried after its request timed out replaces its own earlier request.
_SUPERSEDED = "superseded by a newer request from the same member"


class GroupCoordinator:
    """Every consumer group of the broker, their rebalances, sessions and committed offsets."""

    def __init__(
        self,
        log: GroupLog,
        clock: Clock,
        *,
        initial_rebalance_delay_ms: int = 3000,
        min_session_timeout_ms: int = 6000,
        max_session_timeout_ms: int = 1_800_000,
        group_max_size: int = 1000,
        group_id_max_chars: int = 255,
        offset_metadata_max_bytes: int = 4096,
        rng: random.Random | None = None,
    ) -> None:
        self._log = log
        self._clock = clock
        self._initial_delay_ms = initial_rebalance_delay_ms
        self._min_session_ms = min_session_timeout_ms
        self._max_session_ms = max_session_timeout_ms
        self._group_max_size = group_max_size
        self._group_id_max_chars = group_id_max_chars
        self._metadata_max_bytes = offset_metadata_max_bytes
        self._rng = rng or random.Random()
        self._groups: dict[str, GroupMetadata] = {}
        self._ready = False
        self._last_write: asyncio.Task[None] | None = None
        self._writes: set[asyncio.Task[None]] = set()

    # -- lifecycle ---------------------------------------------------------------------------------

    async def load(self) -> None:
        """Rebuild offsets and each group's last stable generation from the log."""
        stored_groups: dict[str, StoredGroup | None] = {}
        stored_offsets: dict[str, dict[tuple[str, int], CommittedOffset | None]] = {}
        for key, value in self._log.replay():
            decoded = decode_key(key)
            if isinstance(decoded, OffsetKey):
                committed = None if value is None else decode_offset_value(value)
                stored_offsets.setdefault(decoded.group_id, {})[(decoded.topic, decoded.partition)] = (
                    committed
                )
            elif isinstance(decoded, GroupKey):
                stored_groups[decoded.group_id] = None if value is None else decode_group_value(value)
        self._groups = {}
        for group_id in [*stored_groups, *(g for g in stored_offsets if g not in stored_groups)]:
            stored = stored_groups.get(group_id)
            offsets = {tp: c for tp, c in stored_offsets.get(group_id, {}).items() if c is not None}
            if stored is None and not offsets:
                continue  # deleted
            group = GroupMetadata(group_id) if stored is None else self._restore_group(group_id, stored)
            group.offsets = offsets
            self._groups[group_id] = group
        self._ready = True

    async def close(self) -> None:
        """Answer every waiting JoinGroup and SyncGroup, then wait for the writes in flight."""
        self._ready = False
        for group in self._groups.values():
            for member in group.members.values():
                _fail(member.join_waiter, CoordinatorLoadInProgressError("the coordinator is shutting down"))
                _fail(member.sync_waiter, RebalanceInProgressError("the coordinator is shutting down"))
                member.join_waiter = member.sync_waiter = None
        if self._writes:
            await asyncio.wait(set(self._writes))

    def tick(self) -> None:
        """Expire silent members and pending ids, finish rebalances whose delay or timeout passed."""
        if not self._ready:
            return
        now = self._now()
        for group in list(self._groups.values()):
            expired = [mid for mid, deadline in group.pending_members.items() if now >= deadline]
            for member_id in expired:
                del group.pending_members[member_id]
            for member in list(group.members.values()):
                alive = group.members.get(member.member_id) is member
                if alive and now >= member.deadline and not member.keeps_alive():
                    log.info("member session expired", group_id=group.group_id, member_id=member.member_id)
                    self._remove_member_and_update(group, member)
            self._try_complete_join(group)
            if group.sync_deadline is not None and now >= group.sync_deadline:
                self._expire_pending_sync(group)
            self._forget_if_vacant(group)

    # -- membership --------------------------------------------------------------------------------

    async def join(self, request: JoinRequest) -> JoinResult:
        self._check_ready()
        self._check_group_id(request.group_id)
        if not self._min_session_ms <= request.session_timeout_ms <= self._max_session_ms:
            raise InvalidSessionTimeoutError(
                f"session timeout must be between {self._min_session_ms} and {self._max_session_ms} ms"
            )
        group = self._groups.get(request.group_id)
        if group is None:
            if request.member_id:
                raise UnknownMemberIdError(f"group {request.group_id!r} does not exist")
            group = self._groups[request.group_id] = GroupMetadata(request.group_id)
        try:
            outcome = self._join(group, request)
        finally:
            self._forget_if_vacant(group)
        self._try_complete_join(group)
        if isinstance(outcome, JoinResult):
            return outcome
        return await outcome

    async def sync(  # noqa: PLR0917 - positional like the SyncGroup fields the wire layer passes
        self,
        group_id: str,
        member_id: str,
        generation_id: int,
        group_instance_id: str | None,
        protocol_type: str | None,
        protocol_name: str | None,
        assignments: Mapping[str, bytes],
    ) -> SyncResult:
        self._check_ready()
        self._check_group_id(group_id)
        group = self._groups.get(group_id)
        if group is None:
            raise UnknownMemberIdError(f"group {group_id!r} does not exist")
        member = _current_member(group, member_id, group_instance_id)
        if generation_id != group.generation_id:
            raise IllegalGenerationError(f"generation {generation_id} is not {group.generation_id}")
        if protocol_type is not None and protocol_type != group.protocol_type:
            raise InconsistentGroupProtocolError(f"the group's protocol type is {group.protocol_type!r}")
        if protocol_name is not None and protocol_name != group.protocol_name:
            raise InconsistentGroupProtocolError(f"the group's protocol is {group.protocol_name!r}")
        if group.state is GroupState.PREPARING_REBALANCE:
            raise RebalanceInProgressError()
        group.pending_sync.discard(member_id)
        if group.state is GroupState.STABLE:
            self._refresh_session(member)
            return SyncResult(group.protocol_type or "", group.protocol_name or "", member.assignment)
        assert group.state is GroupState.COMPLETING_REBALANCE, group.state
        waiter = _await_sync(member)
        if member_id == group.leader_id:
            store = asyncio.ensure_future(self._store_assignment(group, dict(assignments)))
            await asyncio.shield(store)  # the group completes even if the leader hangs up meanwhile
        return await waiter

    async def heartbeat(
        self, group_id: str, member_id: str, generation_id: int, group_instance_id: str | None
    ) -> None:
        self._check_ready()
        self._check_group_id(group_id)
        group = self._groups.get(group_id)
        if group is None:
            raise UnknownMemberIdError(f"group {group_id!r} does not exist")
        member = _current_member(group, member_id, group_instance_id)
        if generation_id != group.generation_id:
            raise IllegalGenerationError(f"generation {generation_id} is not {group.generation_id}")
        self._refresh_session(member)
        if group.state is GroupState.PREPARING_REBALANCE:
            raise RebalanceInProgressError()

    async def leave(
        self, group_id: str, members: Sequence[tuple[str, str | None]]
    ) -> list[GroupError | None]:
        """Remove members, each named by member id or (for an admin removal) by instance id alone."""
        self._check_ready()
        self._check_group_id(group_id)
        group = self._groups.get(group_id)
        if group is None:
            return [UnknownMemberIdError(f"group {group_id!r} does not exist") for _ in members]
        errors = [self._leave_one(group, member_id, instance_id) for member_id, instance_id in members]
        self._forget_if_vacant(group)
        return errors

    # -- offsets -----------------------------------------------------------------------------------

    async def commit_offsets(
        self,
        group_id: str,
        member_id: str,
        generation_id: int,
        group_instance_id: str | None,
        offsets: Mapping[tuple[str, int], tuple[int, int, str]],
    ) -> dict[tuple[str, int], DomainError | None]:
        """Commit (offset, leader_epoch, metadata) per partition; generation -1 and no member id is a
        "simple" consumer, allowed while the group has no members."""
        self._check_ready()
        if len(group_id) > self._group_id_max_chars:
            raise InvalidGroupIdError(f"group id is longer than {self._group_id_max_chars} characters")
        group = self._groups.get(group_id)
        if group is None:
            if generation_id >= 0:
                raise IllegalGenerationError(f"group {group_id!r} does not exist")
            group = self._groups[group_id] = GroupMetadata(group_id)
        try:
            self._validate_commit(group, member_id, generation_id, group_instance_id)
            return await self._commit(group, offsets)
        finally:
            self._forget_if_vacant(group)

    def fetch_offsets(
        self, group_id: str, partitions: Sequence[tuple[str, int]] | None
    ) -> dict[tuple[str, int], CommittedOffset]:
        """The committed offsets asked for (None: all of the group's); partitions without one are absent."""
        self._check_ready()
        group = self._groups.get(group_id)
        if group is None:
            return {}
        if partitions is None:
            return dict(group.offsets)
        return {tp: group.offsets[tp] for tp in partitions if tp in group.offsets}

    async def delete_topic_offsets(self, topic: str) -> None:
        """Forget every group's offsets for a deleted topic."""
        self._check_ready()
        records: list[tuple[bytes, bytes | None]] = []
        for group in self._groups.values():
            for tp in [tp for tp in group.offsets if tp[0] == topic]:
                del group.offsets[tp]
                records.append((encode_offset_key(group.group_id, *tp), None))
        if records:
            await self._append(records)

    # -- administration ----------------------------------------------------------------------------

    def list_groups(self, states: Sequence[str] = ()) -> list[GroupListing]:
        self._check_ready()
        wanted = {state.lower() for state in states}
        return [
            GroupListing(group.group_id, group.protocol_type or "", group.state.value)
            for group in self._groups.values()
            if not wanted or group.state.value.lower() in wanted
        ]

    def describe(self, group_id: str) -> GroupDescription:
        self._check_ready()
        group = self._groups.get(group_id)
        if group is None:
            return GroupDescription(group_id, GroupState.DEAD.value, "", "", -1, ())
        protocol = group.protocol_name if group.state is GroupState.STABLE else None
        members = tuple(
            MemberDescription(
                m.member_id,
                m.group_instance_id,
                m.client_id,
                m.client_host,
                m.metadata(protocol) if protocol is not None else b"",
                m.assignment if protocol is not None else b"",
            )
            for m in group.members.values()
        )
        return GroupDescription(
            group_id,
            group.state.value,
            group.protocol_type or "",
            protocol or "",
            group.generation_id,
            members,
        )

    async def delete_groups(self, group_ids: Sequence[str]) -> dict[str, GroupError | None]:
        """Delete Empty groups and their offsets (tombstones); others answer with their error."""
        self._check_ready()
        results: dict[str, GroupError | None] = {}
        records: list[tuple[bytes, bytes | None]] = []
        for group_id in group_ids:
            group = self._groups.get(group_id)
            if group_id in results:
                continue
            if group is None:
                results[group_id] = GroupIdNotFoundError(f"group {group_id!r} does not exist")
            elif group.state is not GroupState.EMPTY:
                results[group_id] = NotEmptyGroupError(f"group {group_id!r} is {group.state.value}")
            else:
                del self._groups[group_id]
                group.state = GroupState.DEAD
                records += [(encode_offset_key(group_id, *tp), None) for tp in group.offsets]
                records.append((encode_group_key(group_id), None))
                results[group_id] = None
        if records:
            await self._append(records)
        return results

    # -- join phase --------------------------------------------------------------------------------

    def _join(self, group: GroupMetadata, request: JoinRequest) -> JoinResult | Awaitable[JoinResult]:
        if not self._accepts(group, request):
            member = group.members.get(request.member_id)
            if member is not None:
                self._remove_member_and_update(group, member)
            raise GroupMaxSizeReachedError(f"group {group.group_id!r} has {self._group_max_size} members")
        if not group.supports(request.protocol_type, (name for name, _ in request.protocols)):
            raise InconsistentGroupProtocolError(
                f"protocol type {request.protocol_type!r} or assignors {[n for n, _ in request.protocols]}"
                f" do not match group {group.group_id!r}"
            )
        if not request.member_id:
            return self._join_new_member(group, request)
        return self._join_current_member(group, request)

    def _accepts(self, group: GroupMetadata, request: JoinRequest) -> bool:
        """Kafka's acceptJoiningMember, except that a static restart never counts as growth."""
        member_id = request.member_id
        if not member_id and request.group_instance_id is not None:
            member_id = group.static_members.get(request.group_instance_id, "")
        member = group.members.get(member_id)
        if group.state is GroupState.EMPTY:
            return True
        if group.state is GroupState.PREPARING_REBALANCE:
            # Counting members already waiting lets a shrunk limit drop the last to rejoin.
            waiting = member is not None and member.join_waiter is not None
            return waiting or group.awaiting_join() < self._group_max_size
        return member is not None or len(group.members) < self._group_max_size

    def _join_new_member(
        self, group: GroupMetadata, request: JoinRequest
    ) -> JoinResult | Awaitable[JoinResult]:
        instance_id = request.group_instance_id
        member_id = (
            f"{instance_id or request.client_id}-{uuid.UUID(int=self._rng.getrandbits(128), version=4)}"
        )
        if instance_id is not None:
            old_member_id = group.static_members.get(instance_id)
            if old_member_id is not None:
                return self._replace_static_member(group, old_member_id, member_id, request)
        elif request.require_known_member_id:
            group.pending_members[member_id] = self._now() + request.session_timeout_ms / 1000
            raise MemberIdRequiredError(member_id)
        return self._add_member_and_rebalance(group, member_id, request)

    def _join_current_member(
        self, group: GroupMetadata, request: JoinRequest
    ) -> JoinResult | Awaitable[JoinResult]:
        if request.member_id in group.pending_members:
            if request.group_instance_id is not None:
                raise UnknownMemberIdError("a member id handed out by KIP-394 is for a dynamic member")
            return self._add_member_and_rebalance(group, request.member_id, request)
        member = _current_member(group, request.member_id, request.group_instance_id)
        if not member.is_new:
            self._refresh_session(member)
        unchanged = member.protocols == request.protocols
        if group.state is GroupState.COMPLETING_REBALANCE and unchanged:
            # The member lost the JoinGroup answer: give it again.
            return self._join_result(group, member)
        if group.state is GroupState.STABLE and unchanged and member.member_id != group.leader_id:
            # A follower with nothing new learns the current generation and syncs. A leader's rejoin
            # always rebalances: that is how it reacts to changes the metadata does not show (topics).
            return self._join_result(group, member)
        self._update_member(member, request)
        waiter = _await_join(member)
        self._maybe_prepare_rebalance(group)
        return waiter

    def _add_member_and_rebalance(
        self, group: GroupMetadata, member_id: str, request: JoinRequest
    ) -> Awaitable[JoinResult]:
        member = MemberMetadata(
            member_id,
            request.group_instance_id,
            request.client_id,
            request.client_host,
            request.rebalance_timeout_ms,
            request.session_timeout_ms,
            request.protocol_type,
            request.protocols,
            deadline=self._now() + NEW_MEMBER_JOIN_TIMEOUT_MS / 1000,
            is_new=True,
        )
        if group.state is GroupState.PREPARING_REBALANCE and group.generation_id == 0:
            group.new_member_added = True
        group.add(member)
        waiter = _await_join(member)
        self._maybe_prepare_rebalance(group)
        return waiter

    def _replace_static_member(
        self, group: GroupMetadata, old_member_id: str, member_id: str, request: JoinRequest
    ) -> JoinResult | Awaitable[JoinResult]:
        """A static member restarted: the new id takes over the old one's place and assignment."""
        old_leader = group.leader_id
        member = group.members.pop(old_member_id)
        fenced = f"instance {request.group_instance_id!r} rejoined as {member_id}"
        _fail(member.join_waiter, FencedInstanceIdError(fenced))
        _fail(member.sync_waiter, FencedInstanceIdError(fenced))
        member.join_waiter = member.sync_waiter = None
        protocol = group.protocol_name
        stable_metadata = member.metadata(protocol) if group.state is GroupState.STABLE and protocol else None
        member.member_id = member_id
        group.members[member_id] = member
        assert request.group_instance_id is not None
        group.static_members[request.group_instance_id] = member_id
        if group.leader_id == old_member_id:
            group.leader_id = member_id
        if old_member_id in group.pending_sync:
            group.pending_sync.discard(old_member_id)
            group.pending_sync.add(member_id)
        self._update_member(member, request)
        self._refresh_session(member)
        if (
            protocol is not None
            and stable_metadata is not None
            and member.supports(protocol)
            and member.metadata(protocol) == stable_metadata
            and group.select_protocol() == protocol
        ):
            # Nothing the assignment depends on changed: no rebalance. The old leader id is returned
            # so that a restarted leader does not compute an assignment nobody would receive.
            result = JoinResult(
                group.generation_id, group.protocol_type or "", protocol, old_leader or "", member_id, ()
            )
            return self._persist_then(group, result)
        waiter = _await_join(member)
        if group.state is not GroupState.PREPARING_REBALANCE:
            # Stable with a change the assignment depends on, or CompletingRebalance, where the leader
            # may be assigning to the old id: start over.
            self._prepare_rebalance(group)
        return waiter

    async def _persist_then(self, group: GroupMetadata, result: _T) -> _T:
        await self._append([self._group_record(group)])
        return result

    def _update_member(self, member: MemberMetadata, request: JoinRequest) -> None:
        member.protocols = request.protocols
        member.rebalance_timeout_ms = request.rebalance_timeout_ms
        member.session_timeout_ms = request.session_timeout_ms
        member.client_id = request.client_id
        member.client_host = request.client_host

    def _maybe_prepare_rebalance(self, group: GroupMetadata) -> None:
        if group.state in (GroupState.STABLE, GroupState.COMPLETING_REBALANCE, GroupState.EMPTY):
            self._prepare_rebalance(group)

    def _prepare_rebalance(self, group: GroupMetadata) -> None:
        if group.state is GroupState.COMPLETING_REBALANCE:
            self._reset_assignments(group)
        group.sync_deadline = None
        timeout_ms = group.rebalance_timeout_ms()
        if group.state is GroupState.EMPTY:
            # Members starting together should land in one generation: wait a little for the others.
            group.join_deadline = self._now() + self._initial_delay_ms / 1000
            group.initial_delay_remaining_ms = max(timeout_ms - self._initial_delay_ms, 0)
        else:
            group.join_deadline = self._now() + timeout_ms / 1000
            group.initial_delay_remaining_ms = None
        group.new_member_added = False
        group.state = GroupState.PREPARING_REBALANCE
        log.info("preparing rebalance", group_id=group.group_id, generation_id=group.generation_id)
        self._try_complete_join(group)

    def _try_complete_join(self, group: GroupMetadata) -> None:
        if group.state is not GroupState.PREPARING_REBALANCE:
            return
        assert group.join_deadline is not None
        now = self._now()
        if group.initial_delay_remaining_ms is not None:
            if now < group.join_deadline:
                return
            remaining = group.initial_delay_remaining_ms
            if group.new_member_added and remaining > 0:
                group.new_member_added = False
                delay_ms = min(self._initial_delay_ms, remaining)
                group.initial_delay_remaining_ms = remaining - delay_ms
                group.join_deadline = now + delay_ms / 1000
                return
            self._complete_join(group)
        elif group.all_joined() or now >= group.join_deadline:
            self._complete_join(group)

    def _complete_join(self, group: GroupMetadata) -> None:
        group.join_deadline = group.initial_delay_remaining_ms = None
        for member in list(group.members.values()):
            # Dynamic members that did not rejoin in time are out; static ones keep their place.
            if member.join_waiter is None and member.group_instance_id is None:
                self._drop_member(group, member)
        if group.members and not group.elect_joined_leader():
            # Only absent static members remain: wait again while their sessions run out.
            group.join_deadline = self._now() + group.rebalance_timeout_ms() / 1000
            return
        group.generation_id += 1
        group.pending_sync.clear()
        if not group.members:
            group.protocol_name = None
            group.state = GroupState.EMPTY
            log.info("group is empty", group_id=group.group_id, generation_id=group.generation_id)
            self._write([self._group_record(group)])  # the answer does not wait for it
            return
        group.protocol_name = group.select_protocol()
        group.state = GroupState.COMPLETING_REBALANCE
        log.info("join phase complete", group_id=group.group_id, generation_id=group.generation_id)
        for member in group.members.values():
            _resolve(member.join_waiter, self._join_result(group, member))
            member.join_waiter = None
            member.is_new = False
            self._refresh_session(member)
            group.pending_sync.add(member.member_id)
        group.sync_deadline = self._now() + group.rebalance_timeout_ms() / 1000

    def _join_result(self, group: GroupMetadata, member: MemberMetadata) -> JoinResult:
        assert group.protocol_name is not None
        protocol = group.protocol_name
        everyone: tuple[JoinedMember, ...] = ()
        if member.member_id == group.leader_id:
            everyone = tuple(
                JoinedMember(m.member_id, m.group_instance_id, m.metadata(protocol))
                for m in group.members.values()
            )
        return JoinResult(
            group.generation_id,
            group.protocol_type or "",
            protocol,
            group.leader_id or "",
            member.member_id,
            everyone,
        )

    # -- sync phase --------------------------------------------------------------------------------

    async def _store_assignment(self, group: GroupMetadata, assignments: dict[str, bytes]) -> None:
        """Persist the leader's assignment, then hand every member its part (empty if left out)."""
        generation_id = group.generation_id
        assignment = {member_id: assignments.get(member_id, b"") for member_id in group.members}
        stored = False
        try:
            await self._append([self._group_record(group, assignment)])
            stored = True
        finally:
            # Someone may have joined or left while the record was written: then it is stale.
            if group.state is GroupState.COMPLETING_REBALANCE and group.generation_id == generation_id:
                if stored:
                    self._propagate_assignment(group, assignment)
                else:
                    self._reset_assignments(group)
                    self._maybe_prepare_rebalance(group)

    def _propagate_assignment(self, group: GroupMetadata, assignment: Mapping[str, bytes]) -> None:
        assert group.protocol_name is not None
        for member_id, member in group.members.items():
            member.assignment = assignment.get(member_id, b"")
            if member.sync_waiter is not None:
                _resolve(
                    member.sync_waiter,
                    SyncResult(group.protocol_type or "", group.protocol_name, member.assignment),
                )
                member.sync_waiter = None
                self._refresh_session(member)
        group.state = GroupState.STABLE
        log.info("group is stable", group_id=group.group_id, generation_id=group.generation_id)

    def _reset_assignments(self, group: GroupMetadata) -> None:
        """The generation is being abandoned: members waiting in SyncGroup must rejoin."""
        for member in group.members.values():
            member.assignment = b""
            if member.sync_waiter is not None:
                _fail(member.sync_waiter, RebalanceInProgressError())
                member.sync_waiter = None
                self._refresh_session(member)

    def _expire_pending_sync(self, group: GroupMetadata) -> None:
        group.sync_deadline = None
        if group.state not in (GroupState.COMPLETING_REBALANCE, GroupState.STABLE) or not group.pending_sync:
            return
        log.info("members did not sync in time", group_id=group.group_id, members=sorted(group.pending_sync))
        for member_id in list(group.pending_sync):
            self._drop_member(group, group.members[member_id])
        self._prepare_rebalance(group)

    # -- leaving -----------------------------------------------------------------------------------

    def _leave_one(self, group: GroupMetadata, member_id: str, instance_id: str | None) -> GroupError | None:
        if not member_id:
            current = group.static_members.get(instance_id) if instance_id is not None else None
            if current is None:
                return UnknownMemberIdError(f"no member has instance id {instance_id!r}")
            self._remove_member_and_update(group, group.members[current])
            return None
        if member_id in group.pending_members:
            del group.pending_members[member_id]
            self._try_complete_join(group)
            return None
        try:
            member = _current_member(group, member_id, instance_id)
        except (UnknownMemberIdError, FencedInstanceIdError) as exc:
            return exc
        self._remove_member_and_update(group, member)
        return None

    def _remove_member_and_update(self, group: GroupMetadata, member: MemberMetadata) -> None:
        self._drop_member(group, member)
        if group.state in (GroupState.STABLE, GroupState.COMPLETING_REBALANCE):
            self._maybe_prepare_rebalance(group)
        else:
            self._try_complete_join(group)

    def _drop_member(self, group: GroupMetadata, member: MemberMetadata) -> None:
        gone = UnknownMemberIdError(f"member {member.member_id} left group {group.group_id!r}")
        _fail(member.join_waiter, gone)
        _fail(member.sync_waiter, gone)
        member.join_waiter = member.sync_waiter = None
        group.remove(member.member_id)

    # -- offsets -----------------------------------------------------------------------------------

    def _validate_commit(
        self, group: GroupMetadata, member_id: str, generation_id: int, group_instance_id: str | None
    ) -> None:
        """Kafka's validateOffsetCommit plus the state rule of handleCommitOffsets."""
        if generation_id >= 0 or member_id or group_instance_id is not None:
            member = _current_member(group, member_id, group_instance_id)
            if generation_id != group.generation_id:
                raise IllegalGenerationError(f"generation {generation_id} is not {group.generation_id}")
            if group.state is GroupState.COMPLETING_REBALANCE:
                # The member has its new generation but not yet its assignment.
                raise RebalanceInProgressError()
            # Stable or PreparingRebalance (the heartbeat tells it to rejoin): accepted.
            self._refresh_session(member)
        elif group.state is not GroupState.EMPTY:
            raise UnknownMemberIdError(f"group {group.group_id!r} has members: only they may commit")

    async def _commit(
        self, group: GroupMetadata, offsets: Mapping[tuple[str, int], tuple[int, int, str]]
    ) -> dict[tuple[str, int], DomainError | None]:
        results: dict[tuple[str, int], DomainError | None] = {}
        accepted: dict[tuple[str, int], CommittedOffset] = {}
        timestamp_ms = self._now_ms()
        for (topic, partition), (offset, leader_epoch, metadata) in offsets.items():
            if len(metadata.encode()) > self._metadata_max_bytes:
                results[(topic, partition)] = InvalidRequestError(
                    f"offset metadata is longer than {self._metadata_max_bytes} bytes"
                )
            else:
                accepted[(topic, partition)] = CommittedOffset(offset, leader_epoch, metadata, timestamp_ms)
                results[(topic, partition)] = None
        if accepted:
            group.commits_in_flight += 1  # a tick() during the write must not forget a brand-new group
            try:
                await self._append(
                    [
                        (encode_offset_key(group.group_id, *tp), encode_offset_value(c))
                        for tp, c in accepted.items()
                    ]
                )
            finally:
                group.commits_in_flight -= 1
            if self._groups.get(group.group_id) is group:  # not deleted while the records were written
                group.offsets.update(accepted)
        return results

    # -- persistence -------------------------------------------------------------------------------

    def _group_record(
        self, group: GroupMetadata, assignment: Mapping[str, bytes] | None = None
    ) -> tuple[bytes, bytes]:
        protocol = group.protocol_name
        members = tuple(
            StoredMember(
                m.member_id,
                m.group_instance_id,
                m.client_id,
                m.client_host,
                m.rebalance_timeout_ms,
                m.session_timeout_ms,
                m.metadata(protocol) if protocol is not None else b"",
                m.assignment if assignment is None else assignment.get(m.member_id, b""),
            )
            for m in group.members.values()
        )
        stored = StoredGroup(
            group.protocol_type or "", group.generation_id, protocol, group.leader_id, self._now_ms(), members
        )
        return encode_group_key(group.group_id), encode_group_value(stored)

    def _restore_group(self, group_id: str, stored: StoredGroup) -> GroupMetadata:
        group = GroupMetadata(
            group_id,
            generation_id=stored.generation_id,
            protocol_type=stored.protocol_type or None,
            protocol_name=stored.protocol_name,
        )
        if stored.members and stored.protocol_name is None:
            raise IntegrityError(f"group {group_id!r} has members but no protocol")
        for s in stored.members:
            protocols = ((stored.protocol_name, s.subscription),) if stored.protocol_name is not None else ()
            # The session restarts now: members that heartbeat again carry on, the others expire.
            deadline = self._now() + s.session_timeout_ms / 1000
            member = MemberMetadata(
                s.member_id,
                s.group_instance_id,
                s.client_id,
                s.client_host,
                s.rebalance_timeout_ms,
                s.session_timeout_ms,
                stored.protocol_type,
                protocols,
                deadline=deadline,
                assignment=s.assignment,
            )
            group.add(member)
        if stored.leader in group.members:
            group.leader_id = stored.leader
        group.protocol_type = stored.protocol_type or None
        group.state = GroupState.STABLE if group.members else GroupState.EMPTY
        return group

    def _write(self, records: Sequence[tuple[bytes, bytes | None]]) -> asyncio.Task[None]:
        """Append after every earlier write, so the compacted log keeps the latest state per key."""
        task = asyncio.ensure_future(self._append_after(self._last_write, records))
        self._last_write = task
        self._writes.add(task)
        task.add_done_callback(self._write_done)
        return task

    async def _append_after(
        self, previous: asyncio.Task[None] | None, records: Sequence[tuple[bytes, bytes | None]]
    ) -> None:
        if previous is not None and not previous.done():
            await asyncio.wait([previous])
        await self._log.append(records)

    def _write_done(self, task: asyncio.Task[None]) -> None:
        self._writes.discard(task)
        if self._last_write is task:
            self._last_write = None
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.warning("writing group state failed", error=repr(exc))

    async def _append(self, records: Sequence[tuple[bytes, bytes | None]]) -> None:
        # Shielded: a caller that goes away must not cancel a write the next ones are queued behind.
        await asyncio.shield(self._write(records))

    # -- small things ------------------------------------------------------------------------------

    def _check_ready(self) -> None:
        if not self._ready:
            raise CoordinatorLoadInProgressError("group state is not loaded")

    def _check_group_id(self, group_id: str) -> None:
        if not group_id or len(group_id) > self._group_id_max_chars:
            raise InvalidGroupIdError(f"group id must be 1 to {self._group_id_max_chars} characters")

    def _forget_if_vacant(self, group: GroupMetadata) -> None:
        if group.is_vacant() and self._groups.get(group.group_id) is group:
            del self._groups[group.group_id]

    def _refresh_session(self, member: MemberMetadata) -> None:
        member.deadline = self._now() + member.session_timeout_ms / 1000

    def _now(self) -> float:
        return self._clock.monotonic()

    def _now_ms(self) -> int:
        return int(self._clock.now().timestamp() * 1000)


def _current_member(group: GroupMetadata, member_id: str, group_instance_id: str | None) -> MemberMetadata:
    """Kafka's validateCurrentMember: the instance id (if any) maps to this member, which exists."""
    if group_instance_id is not None:
        current = group.static_members.get(group_instance_id)
        if current is None:
            raise UnknownMemberIdError(f"no member has instance id {group_instance_id!r}")
        if current != member_id:
            raise FencedInstanceIdError(f"instance {group_instance_id!r} is now member {current}")
    member = group.members.get(member_id)
    if member is None:
        raise UnknownMemberIdError(f"{member_id!r} is not a member of group {group.group_id!r}")
    return member


def _await_join(member: MemberMetadata) -> asyncio.Future[JoinResult]:
    future: asyncio.Future[JoinResult] = asyncio.get_running_loop().create_future()
    future.add_done_callback(_consume_exception)
    _fail(member.join_waiter, RebalanceInProgressError(_SUPERSEDED))
    member.join_waiter = future
    return future


def _await_sync(member: MemberMetadata) -> asyncio.Future[SyncResult]:
    future: asyncio.Future[SyncResult] = asyncio.get_running_loop().create_future()
    future.add_done_callback(_consume_exception)
    _fail(member.sync_waiter, RebalanceInProgressError(_SUPERSEDED))
    member.sync_waiter = future
    return future


def _resolve(future: asyncio.Future[_T] | None, result: _T) -> None:
    if future is not None and not future.done():
        future.set_result(result)


def _fail(future: asyncio.Future[_T] | None, error: BaseException) -> None:
    if future is not None and not future.done():
        future.set_exception(error)


def _consume_exception(future: asyncio.Future[_T]) -> None:
    # A waiter whose caller went away may still be failed: that is expected, not worth a log line.
    if not future.cancelled():
        future.exception()


__all__ = [
    "CommittedOffset",
    "GroupCoordinator",
    "GroupDescription",
    "GroupListing",
    "GroupLog",
    "GroupState",
    "JoinRequest",
    "JoinResult",
    "JoinedMember",
    "MemberDescription",
    "SyncResult",
]
