"""The classic group coordinator, driven through its API with a FakeClock and an in-memory GroupLog.

Nothing sleeps: joins and syncs that must wait run as tasks, time moves with FakeClock.advance and
coordinator.tick(), and `settle()` lets the event loop run what became ready.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from scalebox.core.clock import FakeClock
from scalebox.core.errors import IntegrityError
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
    GroupKey,
    OffsetKey,
    StoredGroup,
    StoredMember,
    decode_group_value,
    decode_key,
    decode_offset_value,
    encode_group_key,
    encode_group_value,
    encode_offset_key,
    encode_offset_value,
)
from scalebox.eventlog.service.groups import (
    GroupCoordinator,
    GroupListing,
    JoinRequest,
    JoinResult,
    SyncResult,
)

GROUP = "orders"


class MemoryGroupLog:
    """The GroupLog port kept in a list: every record ever appended, oldest first."""

    def __init__(self) -> None:
        self.records: list[tuple[bytes, bytes | None]] = []

    async def append(self, records: Sequence[tuple[bytes, bytes | None]]) -> None:
        self.records.extend(records)

    def replay(self) -> list[tuple[bytes, bytes | None]]:
        return list(self.records)


def make_join(**overrides: Any) -> JoinRequest:
    fields: dict[str, Any] = {
        "group_id": GROUP,
        "member_id": "",
        "group_instance_id": None,
        "protocol_type": "consumer",
        "protocols": (("range", b"topics=orders"),),
        "session_timeout_ms": 10_000,
        "rebalance_timeout_ms": 30_000,
        "client_id": "client",
        "client_host": "/127.0.0.1",
        "require_known_member_id": False,
    }
    fields.update(overrides)
    return JoinRequest(**fields)


def make_coordinator(log: MemoryGroupLog, clock: FakeClock, **overrides: Any) -> GroupCoordinator:
    return GroupCoordinator(log, clock, rng=random.Random(7), **overrides)


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def advance(coordinator: GroupCoordinator, clock: FakeClock, seconds: float) -> None:
    await settle()  # requests already started reach the coordinator before time moves
    clock.advance(seconds=seconds)
    coordinator.tick()
    await settle()


def start_join(coordinator: GroupCoordinator, **overrides: Any) -> asyncio.Task[JoinResult]:
    task = asyncio.create_task(coordinator.join(make_join(**overrides)))
    # Some tests leave a join waiting; closing the coordinator fails it, which is expected.
    task.add_done_callback(lambda done: done.cancelled() or done.exception())
    return task


async def form_group(
    coordinator: GroupCoordinator, clock: FakeClock, joins: Sequence[dict[str, Any]]
) -> list[JoinResult]:
    """Members starting together (the initial delay puts them in one generation), in join order."""
    tasks = [start_join(coordinator, **join) for join in joins]
    await advance(coordinator, clock, 3)
    if not all(task.done() for task in tasks):
        await advance(coordinator, clock, 3)  # others arrived during the delay: it ran once more
    return [await asyncio.wait_for(task, 1) for task in tasks]


def assignment_for(result: JoinResult) -> dict[str, bytes]:
    return {m.member_id: f"{result.generation_id}:{m.member_id}".encode() for m in result.members}


async def sync_all(
    coordinator: GroupCoordinator, results: Sequence[JoinResult], instance_ids: Sequence[str | None] = ()
) -> list[SyncResult]:
    """Followers sync first and wait; the leader's assignment answers everyone. In join order."""
    instances = list(instance_ids) or [None] * len(results)
    tasks: dict[int, asyncio.Task[SyncResult]] = {}
    for i in sorted(range(len(results)), key=lambda i: results[i].member_id == results[i].leader):
        result = results[i]
        assignments = assignment_for(result) if result.member_id == result.leader else {}
        call = coordinator.sync(
            GROUP, result.member_id, result.generation_id, instances[i], None, None, assignments
        )
        tasks[i] = asyncio.create_task(call)
        await settle()
    return [await asyncio.wait_for(tasks[i], 1) for i in range(len(results))]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def group_log() -> MemoryGroupLog:
    return MemoryGroupLog()


@pytest.fixture
async def coordinator(group_log: MemoryGroupLog, clock: FakeClock) -> AsyncIterator[GroupCoordinator]:
    coordinator = make_coordinator(group_log, clock)
    await coordinator.load()
    yield coordinator
    await coordinator.close()


async def stable_group(
    coordinator: GroupCoordinator, clock: FakeClock, count: int, **join: Any
) -> list[JoinResult]:
    results = await form_group(coordinator, clock, [join] * count)
    await sync_all(coordinator, results)
    assert coordinator.describe(GROUP).state == "Stable"
    return results


# -- joining -------------------------------------------------------------------------------------


async def test_single_member_joins_syncs_and_heartbeats(coordinator: GroupCoordinator, clock: FakeClock):
    task = start_join(coordinator)
    await settle()
    assert not task.done()  # the initial rebalance delay
    assert coordinator.describe(GROUP).state == "PreparingRebalance"

    await advance(coordinator, clock, 3)
    joined = task.result()

    assert joined.generation_id == 1
    assert joined.protocol_type == "consumer"
    assert joined.protocol_name == "range"
    assert joined.leader == joined.member_id
    assert joined.member_id.startswith("client-")
    assert [(m.member_id, m.metadata) for m in joined.members] == [(joined.member_id, b"topics=orders")]
    assert coordinator.describe(GROUP).state == "CompletingRebalance"

    synced = await coordinator.sync(
        GROUP, joined.member_id, 1, None, "consumer", "range", {joined.member_id: b"p0,p1"}
    )
    assert synced == SyncResult("consumer", "range", b"p0,p1")
    await coordinator.heartbeat(GROUP, joined.member_id, 1, None)
    description = coordinator.describe(GROUP)
    assert description.state == "Stable"
    assert description.generation_id == 1
    assert [(m.member_id, m.metadata, m.assignment) for m in description.members] == [
        (joined.member_id, b"topics=orders", b"p0,p1")
    ]


async def test_new_member_gets_its_id_first_when_required(coordinator: GroupCoordinator, clock: FakeClock):
    with pytest.raises(MemberIdRequiredError) as raised:
        await coordinator.join(make_join(require_known_member_id=True))
    member_id = raised.value.member_id
    assert member_id.startswith("client-")

    task = start_join(coordinator, member_id=member_id, require_known_member_id=True)
    await advance(coordinator, clock, 3)

    assert task.result().member_id == member_id
    assert task.result().leader == member_id


async def test_member_id_handed_out_expires_when_not_used(coordinator: GroupCoordinator, clock: FakeClock):
    with pytest.raises(MemberIdRequiredError) as raised:
        await coordinator.join(make_join(require_known_member_id=True))
    await advance(coordinator, clock, 10)

    assert coordinator.list_groups() == []
    with pytest.raises(UnknownMemberIdError):
        await coordinator.join(make_join(member_id=raised.value.member_id))


async def test_members_starting_together_land_in_one_generation(
    coordinator: GroupCoordinator, clock: FakeClock
):
    tasks = [start_join(coordinator, client_id=f"c{i}") for i in range(3)]
    await advance(coordinator, clock, 3)
    assert not any(task.done() for task in tasks)  # members arrived during the delay: once more

    await advance(coordinator, clock, 3)
    results = [task.result() for task in tasks]

    assert {r.generation_id for r in results} == {1}
    assert {r.leader for r in results} == {results[0].member_id}
    assert [m.member_id for m in results[0].members] == [r.member_id for r in results]
    assert results[1].members == results[2].members == ()


async def test_initial_delay_extends_for_late_joiners_up_to_rebalance_timeout(
    coordinator: GroupCoordinator, clock: FakeClock
):
    first = start_join(coordinator, rebalance_timeout_ms=5000)
    await advance(coordinator, clock, 2)
    second = start_join(coordinator, rebalance_timeout_ms=5000)
    await advance(coordinator, clock, 1)  # t=3: a member arrived during the delay, wait min(3, 5-3) more
    assert not first.done()
    await advance(coordinator, clock, 1)
    third = start_join(coordinator, rebalance_timeout_ms=5000)
    await advance(coordinator, clock, 0.9)
    assert not first.done()

    await advance(coordinator, clock, 0.1)  # t=5: the rebalance timeout caps the delay

    assert {t.result().generation_id for t in (first, second, third)} == {1}
    assert len(first.result().members) == 3


async def test_new_member_of_stable_group_triggers_rebalance(coordinator: GroupCoordinator, clock: FakeClock):
    first, second = await stable_group(coordinator, clock, 2)
    newcomer = start_join(coordinator, client_id="late")
    await settle()
    assert not newcomer.done()

    with pytest.raises(RebalanceInProgressError):
        await coordinator.heartbeat(GROUP, first.member_id, 1, None)
    rejoins = [start_join(coordinator, member_id=r.member_id) for r in (first, second)]
    await settle()

    results = [await asyncio.wait_for(t, 1) for t in (*rejoins, newcomer)]
    assert {r.generation_id for r in results} == {2}
    assert {r.leader for r in results} == {first.member_id}
    synced = await sync_all(coordinator, results)
    assert len({s.assignment for s in synced}) == 3
    await coordinator.heartbeat(GROUP, first.member_id, 2, None)
    with pytest.raises(IllegalGenerationError):
        await coordinator.heartbeat(GROUP, first.member_id, 1, None)


async def test_leaving_member_triggers_rebalance(coordinator: GroupCoordinator, clock: FakeClock):
    first, second, third = await stable_group(coordinator, clock, 3)

    assert await coordinator.leave(GROUP, [(second.member_id, None)]) == [None]
    with pytest.raises(RebalanceInProgressError):
        await coordinator.heartbeat(GROUP, third.member_id, 1, None)
    rejoins = [start_join(coordinator, member_id=r.member_id) for r in (first, third)]
    results = [await asyncio.wait_for(t, 1) for t in rejoins]

    assert [m.member_id for m in results[0].members] == [first.member_id, third.member_id]
    synced = await sync_all(coordinator, results)
    assert synced[1].assignment == f"2:{third.member_id}".encode()
    with pytest.raises(UnknownMemberIdError):
        await coordinator.heartbeat(GROUP, second.member_id, 1, None)


async def test_leader_leaving_hands_leadership_to_a_rejoined_member(
    coordinator: GroupCoordinator, clock: FakeClock
):
    leader, follower = await stable_group(coordinator, clock, 2)
    await coordinator.leave(GROUP, [(leader.member_id, None)])

    rejoined = await asyncio.wait_for(coordinator.join(make_join(member_id=follower.member_id)), 1)

    assert rejoined.leader == follower.member_id
    assert [m.member_id for m in rejoined.members] == [follower.member_id]


async def test_last_member_leaving_empties_group_and_keeps_offsets(
    coordinator: GroupCoordinator, clock: FakeClock, group_log: MemoryGroupLog
):
    (only,) = await stable_group(coordinator, clock, 1)
    await coordinator.commit_offsets(GROUP, only.member_id, 1, None, {("orders", 0): (42, 3, "")})

    await coordinator.leave(GROUP, [(only.member_id, None)])
    await settle()

    description = coordinator.describe(GROUP)
    assert (description.state, description.generation_id, description.members) == ("Empty", 2, ())
    assert coordinator.fetch_offsets(GROUP, None)[("orders", 0)].offset == 42
    key, value = group_log.records[-1]
    assert decode_key(key) == GroupKey(GROUP)
    assert value is not None
    assert decode_group_value(value).members == ()


async def test_leave_reports_unknown_and_fenced_members_and_removes_by_instance_id(
    coordinator: GroupCoordinator, clock: FakeClock
):
    first, _ = await form_group(coordinator, clock, [{"group_instance_id": "a"}, {"group_instance_id": "b"}])

    outcomes = await coordinator.leave(
        GROUP, [("nobody", None), ("", "b"), (first.member_id, "zzz"), ("", "b")]
    )

    assert [type(o) for o in outcomes] == [
        UnknownMemberIdError,
        type(None),
        UnknownMemberIdError,
        UnknownMemberIdError,
    ]
    assert [m.group_instance_id for m in coordinator.describe(GROUP).members] == ["a"]
    assert await coordinator.leave("nothing", [("x", None)]) != [None]


async def test_session_expiry_removes_silent_member(coordinator: GroupCoordinator, clock: FakeClock):
    talker, silent = await stable_group(coordinator, clock, 2)

    await advance(coordinator, clock, 6)
    await coordinator.heartbeat(GROUP, talker.member_id, 1, None)
    await advance(coordinator, clock, 4)  # silent for 10 s: its session timeout

    assert [m.member_id for m in coordinator.describe(GROUP).members] == [talker.member_id]
    with pytest.raises(RebalanceInProgressError):
        await coordinator.heartbeat(GROUP, talker.member_id, 1, None)
    rejoined = await asyncio.wait_for(coordinator.join(make_join(member_id=talker.member_id)), 1)
    assert rejoined.generation_id == 2
    with pytest.raises(UnknownMemberIdError):
        await coordinator.heartbeat(GROUP, silent.member_id, 1, None)


async def test_pending_join_completes_when_the_member_it_waits_for_expires(
    coordinator: GroupCoordinator, clock: FakeClock
):
    rejoining, silent = await stable_group(coordinator, clock, 2)
    task = start_join(coordinator, member_id=rejoining.member_id)  # the leader rejoins: a rebalance
    await settle()
    assert not task.done()

    await advance(coordinator, clock, 10)  # the other one's session runs out, long before 30 s

    assert task.result().generation_id == 2
    assert [m.member_id for m in task.result().members] == [rejoining.member_id]
    assert silent.member_id not in {m.member_id for m in coordinator.describe(GROUP).members}


async def test_pending_join_completes_when_the_member_it_waits_for_leaves(
    coordinator: GroupCoordinator, clock: FakeClock
):
    first, leaving, third = await stable_group(coordinator, clock, 3)
    rejoins = [start_join(coordinator, member_id=r.member_id) for r in (first, third)]
    await settle()
    assert not any(task.done() for task in rejoins)

    await coordinator.leave(GROUP, [(leaving.member_id, None)])
    await settle()

    assert [task.result().generation_id for task in rejoins] == [2, 2]


async def test_member_id_handed_out_holds_the_join_phase_until_used(
    coordinator: GroupCoordinator, clock: FakeClock
):
    (leader,) = await stable_group(coordinator, clock, 1)
    with pytest.raises(MemberIdRequiredError) as raised:
        await coordinator.join(make_join(require_known_member_id=True))
    assert coordinator.describe(GROUP).state == "Stable"  # an id handed out is not a member yet
    rejoin = start_join(coordinator, member_id=leader.member_id)
    await settle()
    assert not rejoin.done()  # it waits for the member that was told to come back

    newcomer = await asyncio.wait_for(coordinator.join(make_join(member_id=raised.value.member_id)), 1)

    assert newcomer.generation_id == rejoin.result().generation_id == 2
    assert len(rejoin.result().members) == 2


async def test_rebalance_timeout_removes_member_that_never_rejoins(
    coordinator: GroupCoordinator, clock: FakeClock
):
    first, stubborn = await stable_group(coordinator, clock, 2)
    newcomer = start_join(coordinator)
    rejoin = start_join(coordinator, member_id=first.member_id)
    await settle()
    for _ in range(5):
        # It heartbeats (so its session holds) but ignores the call to rejoin.
        with pytest.raises(RebalanceInProgressError):
            await coordinator.heartbeat(GROUP, stubborn.member_id, 1, None)
        await advance(coordinator, clock, 5)
    assert not rejoin.done()

    await advance(coordinator, clock, 5)  # 30 s: the rebalance timeout

    assert rejoin.result().generation_id == newcomer.result().generation_id == 2
    assert [m.member_id for m in rejoin.result().members] == [first.member_id, newcomer.result().member_id]
    with pytest.raises(UnknownMemberIdError):
        await coordinator.heartbeat(GROUP, stubborn.member_id, 1, None)


async def test_member_that_never_syncs_is_removed_after_rebalance_timeout(
    coordinator: GroupCoordinator, clock: FakeClock
):
    leader, follower = await form_group(coordinator, clock, [{}, {}])
    await coordinator.sync(GROUP, leader.member_id, 1, None, None, None, assignment_for(leader))
    for _ in range(6):  # both heartbeat, but the follower never asks for its assignment
        await coordinator.heartbeat(GROUP, leader.member_id, 1, None)
        await coordinator.heartbeat(GROUP, follower.member_id, 1, None)
        await advance(coordinator, clock, 5)

    assert [m.member_id for m in coordinator.describe(GROUP).members] == [leader.member_id]
    assert coordinator.describe(GROUP).state == "PreparingRebalance"


# -- syncing -------------------------------------------------------------------------------------


async def test_follower_sync_waits_for_leader(coordinator: GroupCoordinator, clock: FakeClock):
    leader, follower = await form_group(coordinator, clock, [{}, {}])
    waiting = asyncio.create_task(coordinator.sync(GROUP, follower.member_id, 1, None, None, None, {}))
    for _ in range(4):  # the follower needs no heartbeat while it waits in SyncGroup
        await coordinator.heartbeat(GROUP, leader.member_id, 1, None)
        await advance(coordinator, clock, 5)
    assert not waiting.done()

    mine = await coordinator.sync(GROUP, leader.member_id, 1, None, None, None, {leader.member_id: b"all"})

    assert mine.assignment == b"all"
    assert (await asyncio.wait_for(waiting, 1)).assignment == b""  # left out by the leader
    assert coordinator.describe(GROUP).state == "Stable"


class FailingGroupLog(MemoryGroupLog):
    """Fails the next append after `fail` is set; `gate` (when set) holds appends until released."""

    def __init__(self) -> None:
        super().__init__()
        self.fail = False
        self.gate: asyncio.Event | None = None

    async def append(self, records: Sequence[tuple[bytes, bytes | None]]) -> None:
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            self.fail = False
            raise OSError("disk full")
        await super().append(records)


async def test_failed_assignment_write_sends_everyone_back_to_join(clock: FakeClock):
    group_log = FailingGroupLog()
    coordinator = make_coordinator(group_log, clock)
    await coordinator.load()
    leader, follower = await form_group(coordinator, clock, [{}, {}])
    waiting = asyncio.create_task(coordinator.sync(GROUP, follower.member_id, 1, None, None, None, {}))
    await settle()
    group_log.fail = True

    with pytest.raises(OSError, match="disk full"):
        await coordinator.sync(GROUP, leader.member_id, 1, None, None, None, assignment_for(leader))

    with pytest.raises(RebalanceInProgressError):
        await asyncio.wait_for(waiting, 1)
    assert coordinator.describe(GROUP).state == "PreparingRebalance"
    await coordinator.close()


async def test_group_completes_when_the_leader_hangs_up_during_the_write(clock: FakeClock):
    group_log = FailingGroupLog()
    coordinator = make_coordinator(group_log, clock)
    await coordinator.load()
    leader, follower = await form_group(coordinator, clock, [{}, {}])
    waiting = asyncio.create_task(coordinator.sync(GROUP, follower.member_id, 1, None, None, None, {}))
    group_log.gate = asyncio.Event()
    leader_sync = asyncio.create_task(
        coordinator.sync(GROUP, leader.member_id, 1, None, None, None, assignment_for(leader))
    )
    await settle()

    leader_sync.cancel()  # its connection closed
    group_log.gate.set()

    assert (await asyncio.wait_for(waiting, 1)).assignment == f"1:{follower.member_id}".encode()
    assert coordinator.describe(GROUP).state == "Stable"
    await coordinator.close()


async def test_sync_and_heartbeat_reject_wrong_member_generation_and_state(
    coordinator: GroupCoordinator, clock: FakeClock
):
    leader, follower = await stable_group(coordinator, clock, 2)

    with pytest.raises(IllegalGenerationError):
        await coordinator.sync(GROUP, leader.member_id, 7, None, None, None, {})
    with pytest.raises(UnknownMemberIdError):
        await coordinator.sync(GROUP, "stranger", 1, None, None, None, {})
    with pytest.raises(UnknownMemberIdError):
        await coordinator.sync("no-such-group", leader.member_id, 1, None, None, None, {})
    with pytest.raises(InconsistentGroupProtocolError):
        await coordinator.sync(GROUP, leader.member_id, 1, None, "connect", None, {})
    with pytest.raises(InconsistentGroupProtocolError):
        await coordinator.sync(GROUP, leader.member_id, 1, None, None, "roundrobin", {})
    with pytest.raises(IllegalGenerationError):
        await coordinator.heartbeat(GROUP, leader.member_id, 0, None)
    with pytest.raises(UnknownMemberIdError):
        await coordinator.heartbeat(GROUP, "stranger", 1, None)
    with pytest.raises(InvalidGroupIdError):
        await coordinator.heartbeat("", leader.member_id, 1, None)

    start_join(coordinator)  # a newcomer: PreparingRebalance
    await settle()
    with pytest.raises(RebalanceInProgressError):
        await coordinator.sync(GROUP, follower.member_id, 1, None, None, None, {})


async def test_rejoin_during_completing_rebalance_cancels_waiting_syncs(
    coordinator: GroupCoordinator, clock: FakeClock
):
    leader, follower = await form_group(coordinator, clock, [{}, {}])
    waiting = asyncio.create_task(coordinator.sync(GROUP, follower.member_id, 1, None, None, None, {}))
    await settle()

    rejoin = start_join(coordinator, member_id=leader.member_id, protocols=(("range", b"topics=more"),))
    await settle()

    with pytest.raises(RebalanceInProgressError):
        await asyncio.wait_for(waiting, 1)
    again = await asyncio.wait_for(coordinator.join(make_join(member_id=follower.member_id)), 1)
    assert again.generation_id == (await asyncio.wait_for(rejoin, 1)).generation_id == 2


async def test_lost_join_answer_is_given_again_during_completing_rebalance(
    coordinator: GroupCoordinator, clock: FakeClock
):
    leader, follower = await form_group(coordinator, clock, [{}, {}])

    again = await coordinator.join(make_join(member_id=leader.member_id))
    assert again == leader
    assert await coordinator.join(make_join(member_id=follower.member_id)) == follower


# -- protocols -----------------------------------------------------------------------------------


async def test_protocol_is_chosen_by_vote_among_common_ones(coordinator: GroupCoordinator, clock: FakeClock):
    results = await form_group(
        coordinator,
        clock,
        [
            {"protocols": (("roundrobin", b"rr"), ("range", b"r1"), ("sticky", b"s1"))},
            {"protocols": (("sticky", b"s2"), ("range", b"r2"), ("roundrobin", b"rr2"))},
            {"protocols": (("range", b"r3"), ("roundrobin", b"rr3"))},
        ],
    )

    # sticky is not common; of the rest, range has two first choices and roundrobin one.
    assert {r.protocol_name for r in results} == {"range"}
    assert [m.metadata for m in results[0].members] == [b"r1", b"r2", b"r3"]


async def test_inconsistent_protocols_are_rejected(coordinator: GroupCoordinator, clock: FakeClock):
    with pytest.raises(InconsistentGroupProtocolError):
        await coordinator.join(make_join(protocols=()))
    with pytest.raises(InconsistentGroupProtocolError):
        await coordinator.join(make_join(protocol_type=""))
    assert coordinator.list_groups() == []
    await stable_group(coordinator, clock, 1)

    with pytest.raises(InconsistentGroupProtocolError):
        await coordinator.join(make_join(protocols=(("roundrobin", b""),)))
    with pytest.raises(InconsistentGroupProtocolError):
        await coordinator.join(make_join(protocol_type="connect"))
    assert coordinator.describe(GROUP).state == "Stable"


async def test_join_validates_session_timeout_group_id_and_size(group_log: MemoryGroupLog, clock: FakeClock):
    coordinator = make_coordinator(group_log, clock, group_max_size=2, group_id_max_chars=10)
    await coordinator.load()
    with pytest.raises(InvalidSessionTimeoutError):
        await coordinator.join(make_join(session_timeout_ms=5999))
    with pytest.raises(InvalidSessionTimeoutError):
        await coordinator.join(make_join(session_timeout_ms=1_800_001))
    with pytest.raises(InvalidGroupIdError):
        await coordinator.join(make_join(group_id=""))
    with pytest.raises(InvalidGroupIdError):
        await coordinator.join(make_join(group_id="x" * 11))
    with pytest.raises(UnknownMemberIdError):
        await coordinator.join(make_join(member_id="made-up"))

    first, second = start_join(coordinator), start_join(coordinator)
    await settle()
    with pytest.raises(GroupMaxSizeReachedError):
        await coordinator.join(make_join())
    await advance(coordinator, clock, 3)
    await advance(coordinator, clock, 3)
    assert len(first.result().members) == 2
    assert second.done()
    await coordinator.close()


# -- static membership ---------------------------------------------------------------------------


async def test_static_member_restart_replaces_old_id_without_rebalance(
    coordinator: GroupCoordinator, clock: FakeClock, group_log: MemoryGroupLog
):
    results = await form_group(coordinator, clock, [{"group_instance_id": "a"}, {"group_instance_id": "b"}])
    await sync_all(coordinator, results, ["a", "b"])
    leader, old = results
    assert leader.member_id.startswith("a-")

    restarted = await coordinator.join(make_join(group_instance_id="b"))

    assert restarted.member_id != old.member_id
    assert restarted.member_id.startswith("b-")
    assert (restarted.generation_id, restarted.leader, restarted.members) == (1, leader.member_id, ())
    assert coordinator.describe(GROUP).state == "Stable"
    synced = await coordinator.sync(GROUP, restarted.member_id, 1, "b", None, None, {})
    assert synced.assignment == f"1:{old.member_id}".encode()  # the old id's assignment carries over
    await coordinator.heartbeat(GROUP, restarted.member_id, 1, "b")
    with pytest.raises(FencedInstanceIdError):
        await coordinator.heartbeat(GROUP, old.member_id, 1, "b")
    with pytest.raises(FencedInstanceIdError):
        await coordinator.commit_offsets(GROUP, old.member_id, 1, "b", {("orders", 0): (1, -1, "")})
    with pytest.raises(FencedInstanceIdError):
        await coordinator.join(make_join(member_id=old.member_id, group_instance_id="b"))
    stored = decode_group_value(group_log.records[-1][1] or b"")
    assert [m.member_id for m in stored.members] == [leader.member_id, restarted.member_id]


async def test_static_leader_restart_keeps_the_old_leader_id_in_its_answer(
    coordinator: GroupCoordinator, clock: FakeClock
):
    results = await form_group(coordinator, clock, [{"group_instance_id": "a"}, {"group_instance_id": "b"}])
    await sync_all(coordinator, results, ["a", "b"])

    restarted = await coordinator.join(make_join(group_instance_id="a"))

    # Not told it leads, so it does not compute an assignment that would never be delivered.
    assert restarted.leader == results[0].member_id != restarted.member_id
    assert coordinator.describe(GROUP).state == "Stable"


async def test_static_member_restart_with_new_metadata_rebalances(
    coordinator: GroupCoordinator, clock: FakeClock
):
    results = await form_group(coordinator, clock, [{"group_instance_id": "a"}, {"group_instance_id": "b"}])
    await sync_all(coordinator, results, ["a", "b"])

    task = start_join(coordinator, group_instance_id="b", protocols=(("range", b"topics=orders,refunds"),))
    await settle()

    assert coordinator.describe(GROUP).state == "PreparingRebalance"
    assert not task.done()
    leader = await asyncio.wait_for(
        coordinator.join(make_join(member_id=results[0].member_id, group_instance_id="a")), 1
    )
    assert leader.generation_id == 2
    assert [m.metadata for m in leader.members] == [b"topics=orders", b"topics=orders,refunds"]


async def test_absent_static_member_keeps_its_place_across_a_rebalance(
    coordinator: GroupCoordinator, clock: FakeClock
):
    results = await form_group(coordinator, clock, [{"group_instance_id": "a"}, {"group_instance_id": "b"}])
    await sync_all(coordinator, results, ["a", "b"])
    rejoin = start_join(coordinator, member_id=results[0].member_id, group_instance_id="a")
    await settle()
    for _ in range(6):  # b heartbeats through the whole rebalance timeout but does not rejoin
        with pytest.raises(RebalanceInProgressError):
            await coordinator.heartbeat(GROUP, results[1].member_id, 1, "b")
        await advance(coordinator, clock, 5)

    joined = await asyncio.wait_for(rejoin, 1)

    assert [m.group_instance_id for m in joined.members] == ["a", "b"]


# -- offsets -------------------------------------------------------------------------------------


async def test_members_commit_and_fetch_offsets(coordinator: GroupCoordinator, clock: FakeClock):
    (member,) = await stable_group(coordinator, clock, 1)

    outcome = await coordinator.commit_offsets(
        GROUP,
        member.member_id,
        1,
        None,
        {("orders", 0): (10, 4, "note"), ("orders", 1): (20, -1, "x" * 4097), ("refunds", 0): (5, -1, "")},
    )

    assert outcome[("orders", 0)] is None
    assert isinstance(outcome[("orders", 1)], InvalidRequestError)
    assert outcome[("refunds", 0)] is None
    timestamp_ms = int(clock.now().timestamp() * 1000)
    assert coordinator.fetch_offsets(GROUP, [("orders", 0), ("orders", 1)]) == {
        ("orders", 0): CommittedOffset(10, 4, "note", timestamp_ms)
    }
    assert set(coordinator.fetch_offsets(GROUP, None)) == {("orders", 0), ("refunds", 0)}
    assert coordinator.fetch_offsets("unknown", None) == {}


async def test_commits_check_member_generation_and_state(coordinator: GroupCoordinator, clock: FakeClock):
    leader, follower = await form_group(coordinator, clock, [{}, {}])
    offsets = {("orders", 0): (1, -1, "")}

    with pytest.raises(RebalanceInProgressError):  # CompletingRebalance: no assignment yet
        await coordinator.commit_offsets(GROUP, leader.member_id, 1, None, offsets)
    await sync_all(coordinator, [leader, follower])
    with pytest.raises(IllegalGenerationError):
        await coordinator.commit_offsets(GROUP, leader.member_id, 0, None, offsets)
    with pytest.raises(UnknownMemberIdError):
        await coordinator.commit_offsets(GROUP, "stranger", 1, None, offsets)
    with pytest.raises(UnknownMemberIdError):  # a simple consumer cannot commit for an active group
        await coordinator.commit_offsets(GROUP, "", -1, None, offsets)
    with pytest.raises(IllegalGenerationError):
        await coordinator.commit_offsets("unknown", "someone", 3, None, offsets)

    start_join(coordinator)
    await settle()
    # PreparingRebalance: still accepted, the heartbeat tells the member to rejoin.
    assert await coordinator.commit_offsets(GROUP, follower.member_id, 1, None, offsets) == {
        ("orders", 0): None
    }


async def test_simple_consumer_commits_for_a_group_without_members(
    coordinator: GroupCoordinator, group_log: MemoryGroupLog
):
    outcome = await coordinator.commit_offsets("manual", "", -1, None, {("orders", 3): (99, -1, "meta")})

    assert outcome == {("orders", 3): None}
    assert coordinator.list_groups() == [GroupListing("manual", "", "Empty")]
    assert coordinator.fetch_offsets("manual", None)[("orders", 3)].offset == 99
    key, value = group_log.records[-1]
    assert decode_key(key) == OffsetKey("manual", "orders", 3)
    assert value is not None
    assert decode_offset_value(value).metadata == "meta"


async def test_delete_topic_offsets_forgets_them(coordinator: GroupCoordinator, group_log: MemoryGroupLog):
    await coordinator.commit_offsets(
        "manual", "", -1, None, {("orders", 0): (1, -1, ""), ("refunds", 0): (2, -1, "")}
    )

    await coordinator.delete_topic_offsets("orders")

    assert set(coordinator.fetch_offsets("manual", None)) == {("refunds", 0)}
    assert group_log.records[-1] == (encode_offset_key("manual", "orders", 0), None)


# -- administration ------------------------------------------------------------------------------


async def test_delete_groups_only_deletes_empty_ones(
    coordinator: GroupCoordinator, clock: FakeClock, group_log: MemoryGroupLog
):
    await stable_group(coordinator, clock, 1)
    await coordinator.commit_offsets("manual", "", -1, None, {("orders", 0): (1, -1, "")})

    outcome = await coordinator.delete_groups(["manual", GROUP, "missing", "manual"])

    assert outcome["manual"] is None
    assert isinstance(outcome[GROUP], NotEmptyGroupError)
    assert isinstance(outcome["missing"], GroupIdNotFoundError)
    assert coordinator.fetch_offsets("manual", None) == {}
    assert coordinator.describe("manual").state == "Dead"
    assert group_log.records[-2:] == [
        (encode_offset_key("manual", "orders", 0), None),
        (encode_group_key("manual"), None),
    ]


async def test_describe_and_list_groups(coordinator: GroupCoordinator, clock: FakeClock):
    await stable_group(coordinator, clock, 1)
    await coordinator.commit_offsets("manual", "", -1, None, {("orders", 0): (1, -1, "")})
    start_join(coordinator, group_id="forming")
    await settle()

    assert coordinator.list_groups() == [
        GroupListing(GROUP, "consumer", "Stable"),
        GroupListing("manual", "", "Empty"),
        GroupListing("forming", "consumer", "PreparingRebalance"),
    ]
    assert [g.group_id for g in coordinator.list_groups(["stable", "Empty"])] == [GROUP, "manual"]
    forming = coordinator.describe("forming")
    assert (forming.protocol_name, forming.generation_id) == ("", 0)
    assert forming.members[0].metadata == forming.members[0].assignment == b""  # only Stable shows them
    unknown = coordinator.describe("unknown")
    assert (unknown.state, unknown.members, unknown.generation_id) == ("Dead", (), -1)


async def test_calls_before_load_or_after_close_are_refused(group_log: MemoryGroupLog, clock: FakeClock):
    coordinator = make_coordinator(group_log, clock)
    with pytest.raises(CoordinatorLoadInProgressError):
        await coordinator.join(make_join())
    with pytest.raises(CoordinatorLoadInProgressError):
        coordinator.fetch_offsets(GROUP, None)
    coordinator.tick()  # harmless

    await coordinator.load()
    waiting = start_join(coordinator)
    await settle()
    await coordinator.close()

    with pytest.raises(CoordinatorLoadInProgressError):
        await asyncio.wait_for(waiting, 1)
    with pytest.raises(CoordinatorLoadInProgressError):
        coordinator.list_groups()


# -- persistence ---------------------------------------------------------------------------------


async def test_load_restores_offsets_and_the_stable_group(group_log: MemoryGroupLog, clock: FakeClock):
    first = make_coordinator(group_log, clock)
    await first.load()
    results = await form_group(first, clock, [{"group_instance_id": "a"}, {}])
    await sync_all(first, results, ["a", None])
    await first.commit_offsets(GROUP, results[0].member_id, 1, "a", {("orders", 0): (7, 2, "m")})
    before = first.describe(GROUP), first.fetch_offsets(GROUP, None)
    await first.close()

    clock.advance(seconds=60)  # longer than any session: the restart gives them a fresh one
    second = make_coordinator(group_log, clock)
    await second.load()

    assert (second.describe(GROUP), second.fetch_offsets(GROUP, None)) == before
    leader, follower = results
    await second.heartbeat(GROUP, leader.member_id, 1, "a")
    synced = await second.sync(GROUP, follower.member_id, 1, None, None, None, {})
    assert synced.assignment == f"1:{follower.member_id}".encode()
    # A leader rejoining starts generation 2 with the restored members.
    rejoin = asyncio.create_task(second.join(make_join(member_id=leader.member_id, group_instance_id="a")))
    await settle()
    assert second.describe(GROUP).state == "PreparingRebalance"
    await second.join(make_join(member_id=follower.member_id))
    assert (await asyncio.wait_for(rejoin, 1)).generation_id == 2
    await second.close()


async def test_restored_members_that_stay_silent_expire(group_log: MemoryGroupLog, clock: FakeClock):
    first = make_coordinator(group_log, clock)
    await first.load()
    await stable_group(first, clock, 2)
    await first.close()

    second = make_coordinator(group_log, clock)
    await second.load()
    await advance(second, clock, 10)
    await advance(second, clock, 0)

    assert second.describe(GROUP).state == "Empty"
    assert second.describe(GROUP).generation_id == 2
    await second.close()


async def test_load_forgets_deleted_groups_and_keeps_empty_ones(group_log: MemoryGroupLog, clock: FakeClock):
    first = make_coordinator(group_log, clock)
    await first.load()
    (only,) = await stable_group(first, clock, 1)
    await first.leave(GROUP, [(only.member_id, None)])
    await first.commit_offsets("gone", "", -1, None, {("orders", 0): (1, -1, "")})
    await first.delete_groups(["gone"])
    await first.close()

    second = make_coordinator(group_log, clock)
    await second.load()

    assert second.list_groups() == [GroupListing(GROUP, "consumer", "Empty")]
    assert second.describe(GROUP).generation_id == 2
    await second.close()


def test_records_round_trip_in_kafkas_layout():
    member = StoredMember("m-1", "i-1", "client", "/10.0.0.1", 30_000, 10_000, b"sub", b"assign")
    group = StoredGroup("consumer", 4, "range", "m-1", 1_700_000_000_000, (member,))
    committed = CommittedOffset(12, 3, "meta", 1_700_000_000_000)

    assert decode_group_value(encode_group_value(group)) == group
    assert decode_offset_value(encode_offset_value(committed)) == committed
    assert decode_key(encode_offset_key("g", "t", 5)) == OffsetKey("g", "t", 5)
    assert decode_key(encode_group_key("g")) == GroupKey("g")
    # Key v1: version, group, topic, partition (Kafka's OffsetCommitKey).
    assert encode_offset_key("g", "t", 5) == b"\x00\x01" + b"\x00\x01g" + b"\x00\x01t" + b"\x00\x00\x00\x05"
    assert decode_key(b"\x00\x07whatever") is None  # newer Kafka record kinds are skipped
    with pytest.raises(IntegrityError):
        decode_offset_value(encode_offset_value(committed)[:-1])


def test_old_record_versions_load():
    # Offset commit value v1: offset, metadata, commit timestamp, expire timestamp.
    v1 = b"\x00\x01" + (9).to_bytes(8) + b"\x00\x02md" + (5).to_bytes(8) + (6).to_bytes(8)
    assert decode_offset_value(v1) == CommittedOffset(9, -1, "md", 5)
    # Group value v0: protocol type, generation, protocol, leader, members without rebalance timeout.
    v0 = (
        b"\x00\x00"
        + b"\x00\x08consumer"
        + (2).to_bytes(4)
        + b"\x00\x05range"
        + b"\x00\x01m"
        + (1).to_bytes(4)
        + b"\x00\x01m\x00\x01c\x00\x01h"
        + (6000).to_bytes(4)
        + (1).to_bytes(4)
        + b"s"
        + (1).to_bytes(4)
        + b"a"
    )
    assert decode_group_value(v0) == StoredGroup(
        "consumer", 2, "range", "m", -1, (StoredMember("m", None, "c", "h", 6000, 6000, b"s", b"a"),)
    )


# -- a stateful model ----------------------------------------------------------------------------


class GroupMachine(RuleBasedStateMachine):
    """Consumers join, sync, heartbeat, leave and go quiet while time passes.

    Each consumer behaves like a client: it answers what the coordinator tells it (rejoin on
    REBALANCE_IN_PROGRESS, reset on UNKNOWN_MEMBER_ID). The leader assigns each member the bytes
    "<generation>:<member id>", which makes stale or crossed assignments visible.
    """

    CONSUMERS = 4

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = FakeClock()
        self.coordinator = make_coordinator(MemoryGroupLog(), self.clock, initial_rebalance_delay_ms=1000)
        self.run(self.coordinator.load())
        self.member_ids: list[str] = [""] * self.CONSUMERS
        self.joins: list[asyncio.Task[JoinResult] | None] = [None] * self.CONSUMERS
        self.syncs: list[asyncio.Task[SyncResult] | None] = [None] * self.CONSUMERS
        self.joined: list[JoinResult | None] = [None] * self.CONSUMERS
        self.synced: list[bool] = [False] * self.CONSUMERS
        self.generation = 0

    def run(self, awaitable: Any) -> Any:
        return self.loop.run_until_complete(awaitable)

    def settle(self) -> None:
        self.run(settle())
        for i in range(self.CONSUMERS):
            self.collect(i)

    def collect(self, i: int) -> None:
        join = self.joins[i]
        if join is not None and join.done():
            self.joins[i] = None
            try:
                self.joined[i] = join.result()
                self.member_ids[i] = join.result().member_id
                self.synced[i] = False
            except GroupError as exc:
                self.react(i, exc)
        sync = self.syncs[i]
        if sync is not None and sync.done():
            self.syncs[i] = None
            try:
                result = sync.result()
            except GroupError as exc:
                self.react(i, exc)
            else:
                joined = self.joined[i]
                assert joined is not None
                if result.assignment:
                    # Whatever it receives was meant for it, in the generation it synced for.
                    assert result.assignment == f"{joined.generation_id}:{joined.member_id}".encode()

    def react(self, i: int, error: GroupError) -> None:
        self.joined[i] = None
        self.synced[i] = False
        if isinstance(error, UnknownMemberIdError | IllegalGenerationError):
            self.member_ids[i] = ""

    @rule(i=st.integers(0, CONSUMERS - 1))
    def act(self, i: int) -> None:
        """The consumer's next step, as a client takes it: join, then sync, then heartbeat."""
        if self.joins[i] is not None or self.syncs[i] is not None:
            return
        joined = self.joined[i]
        if joined is None:
            request = make_join(member_id=self.member_ids[i], client_id=f"c{i}")
            self.joins[i] = self.loop.create_task(self.coordinator.join(request))
        elif not self.synced[i]:
            assignments = assignment_for(joined) if joined.leader == joined.member_id else {}
            call = self.coordinator.sync(
                GROUP, joined.member_id, joined.generation_id, None, None, None, assignments
            )
            self.syncs[i] = self.loop.create_task(call)
            self.synced[i] = True
        else:
            try:
                self.run(self.coordinator.heartbeat(GROUP, joined.member_id, joined.generation_id, None))
            except GroupError as exc:
                self.react(i, exc)
        self.settle()

    @rule()
    def everyone_acts(self) -> None:
        # Consumers run concurrently: a round where each takes its next step moves the group along.
        for i in range(self.CONSUMERS):
            if self.member_ids[i] or self.joined[i] is not None:
                self.act(i)

    @rule(i=st.integers(0, CONSUMERS - 1))
    def leave(self, i: int) -> None:
        if not self.member_ids[i] or self.joins[i] is not None or self.syncs[i] is not None:
            return
        self.run(self.coordinator.leave(GROUP, [(self.member_ids[i], None)]))
        self.member_ids[i] = ""
        self.joined[i] = None
        self.synced[i] = False
        self.settle()

    @rule(seconds=st.sampled_from([0.5, 1.0, 3.0, 11.0, 31.0]))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds=seconds)
        self.run(_tick(self.coordinator))
        self.settle()

    @invariant()
    def generation_never_decreases(self) -> None:
        description = self.coordinator.describe(GROUP)
        if description.state == "Dead":
            assert self.generation == 0  # only a group that never completed a join is forgotten
            return
        generation = description.generation_id
        assert generation >= self.generation
        self.generation = generation

    @invariant()
    def stable_members_hold_their_own_assignment(self) -> None:
        description = self.coordinator.describe(GROUP)
        if description.state != "Stable":
            return
        for member in description.members:
            assert member.assignment == f"{description.generation_id}:{member.member_id}".encode()

    @invariant()
    def no_two_members_share_an_assignment(self) -> None:
        assignments = [m.assignment for m in self.coordinator.describe(GROUP).members if m.assignment]
        assert len(assignments) == len(set(assignments))

    def teardown(self) -> None:
        self.run(self.coordinator.close())
        pending = [t for t in (*self.joins, *self.syncs) if t is not None]
        for task in pending:
            task.cancel()
        if pending:
            self.run(asyncio.wait(pending))
        self.loop.close()


async def _tick(coordinator: GroupCoordinator) -> None:
    coordinator.tick()  # inside the loop: writes it starts need a running loop


GroupMachine.TestCase.settings = settings(
    max_examples=100, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestGroupMachine = GroupMachine.TestCase


class GatedGroupLog(MemoryGroupLog):
    """Appends wait until the test opens the gate: a slow disk, so a tick can run mid-write."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def append(self, records: Sequence[tuple[bytes, bytes | None]]) -> None:
        await self.gate.wait()
        await super().append(records)


async def test_first_commit_of_a_new_group_survives_a_tick_during_its_write(clock: FakeClock):
    log = GatedGroupLog()
    coordinator = make_coordinator(log, clock)
    await coordinator.load()
    commit = asyncio.create_task(
        coordinator.commit_offsets("fresh", "", -1, None, {("orders", 0): (2, -1, "")})
    )
    await settle()
    coordinator.tick()  # the group holds nothing yet but must not be forgotten
    log.gate.set()
    assert await asyncio.wait_for(commit, 5) == {("orders", 0): None}
    assert coordinator.fetch_offsets("fresh", None)[("orders", 0)].offset == 2
    await coordinator.close()
