"""The event log's errors. Each maps to one Kafka error code in `protocol/errors.py`.

DomainError (scalebox.core.errors)
├── UnknownTopicError             the topic or partition does not exist
├── TopicExistsError              CreateTopics for a name in use
├── InvalidTopicError             a name Kafka would refuse (characters, length, internal topics)
├── InvalidPartitionsError        a partition count below 1, above the limit, or a decrease
├── InvalidReplicationFactorError anything but 1 (or -1, the default) on a single broker
├── InvalidConfigError            an unknown topic config name or a value out of range
├── InvalidRequestError           a well-formed request that asks for something impossible
├── OffsetOutOfRangeError         a fetch below the log start or above the log end
├── CorruptRecordError            a record batch whose CRC or layout is wrong
├── InvalidRecordError            a batch the topic refuses (a compacted topic without keys)
├── UnsupportedMessageFormatError a batch with a magic other than 2
├── RecordTooLargeError           a batch over the topic's max.message.bytes
├── idempotent producers: OutOfOrderSequenceError, InvalidProducerEpochError,
│   UnknownProducerIdError, DuplicateSequenceError (a retry: acknowledged, not written again)
├── consumer groups: GroupError and its children (see below)
└── SaslAuthenticationError       wrong user or password, or an unsupported mechanism
"""

from __future__ import annotations

from scalebox.core.errors import (
    ConflictError,
    DomainError,
    InvalidError,
    NotFoundError,
    TooLargeError,
    UnauthorizedError,
)


class UnknownTopicError(NotFoundError):
    """This server does not host this topic-partition."""


class TopicExistsError(ConflictError):
    """Topic already exists."""


class InvalidTopicError(InvalidError):
    """The topic name is not valid."""


class InvalidPartitionsError(InvalidError):
    """The number of partitions is not valid."""


class InvalidReplicationFactorError(InvalidError):
    """The replication factor is not valid: this is a single broker, so it can only be 1."""


class InvalidConfigError(InvalidError):
    """The configuration is not valid."""


class InvalidRequestError(InvalidError):
    """The request is well-formed but asks for something the broker cannot do."""


class OffsetOutOfRangeError(InvalidError):
    """The requested offset is not within the range of offsets the partition holds."""


class CorruptRecordError(InvalidError):
    """The record batch failed its CRC check or is malformed."""


class InvalidRecordError(InvalidError):
    """The record batch is valid but the topic refuses it."""


class UnsupportedMessageFormatError(InvalidError):
    """Only record batches of magic 2 (Kafka 0.11 and later) are accepted."""


class RecordTooLargeError(TooLargeError):
    """The record batch is larger than the topic's max.message.bytes."""


class OutOfOrderSequenceError(InvalidError):
    """The broker received an out of order sequence number from an idempotent producer."""


class DuplicateSequenceError(ConflictError):
    """A retried batch that was already written; answered with its original offset."""

    def __init__(self, base_offset: int) -> None:
        super().__init__(f"duplicate batch, first written at offset {base_offset}")
        self.base_offset = base_offset


class InvalidProducerEpochError(InvalidError):
    """The producer's epoch is older than the one the broker knows: a newer instance took over."""


class UnknownProducerIdError(NotFoundError):
    """The broker holds no state for this producer id."""


class GroupError(DomainError):
    """Base of the consumer group coordinator's errors."""


class GroupIdNotFoundError(GroupError):
    """The group does not exist."""


class NotEmptyGroupError(GroupError):
    """The group still has members and cannot be deleted."""


class InvalidGroupIdError(GroupError):
    """The group id is empty or too long."""


class UnknownMemberIdError(GroupError):
    """The member id is not in the current generation of the group."""


class MemberIdRequiredError(GroupError):
    """A new member must join again with the member id it was given (KIP-394)."""

    def __init__(self, member_id: str) -> None:
        super().__init__(f"join again with member id {member_id}")
        self.member_id = member_id


class IllegalGenerationError(GroupError):
    """The generation id is not the group's current one."""


class RebalanceInProgressError(GroupError):
    """The group is rebalancing: members should join again."""


class InconsistentGroupProtocolError(GroupError):
    """The member's protocol type or assignors do not match the group's."""


class InvalidSessionTimeoutError(GroupError):
    """The session timeout is outside the broker's allowed range."""


class GroupMaxSizeReachedError(GroupError):
    """The group already has as many members as the broker allows."""


class FencedInstanceIdError(GroupError):
    """Another member joined with the same group.instance.id (static membership)."""


class CoordinatorLoadInProgressError(GroupError):
    """The coordinator is still loading group state after a restart."""


class SaslAuthenticationError(UnauthorizedError):
    """Authentication failed."""


class UnsupportedSaslMechanismError(UnauthorizedError):
    """The SASL mechanism is not enabled on this listener."""


class IllegalSaslStateError(UnauthorizedError):
    """A SASL request arrived out of order (authenticate before handshake, or twice)."""


class TopicAuthorizationError(DomainError):
    """The connection is not allowed to use this topic (internal topics are read-only)."""

    code = "forbidden"


__all__ = [
    "CoordinatorLoadInProgressError",
    "CorruptRecordError",
    "DuplicateSequenceError",
    "FencedInstanceIdError",
    "GroupError",
    "GroupIdNotFoundError",
    "GroupMaxSizeReachedError",
    "IllegalGenerationError",
    "IllegalSaslStateError",
    "InconsistentGroupProtocolError",
    "InvalidConfigError",
    "InvalidGroupIdError",
    "InvalidPartitionsError",
    "InvalidProducerEpochError",
    "InvalidRecordError",
    "InvalidReplicationFactorError",
    "InvalidRequestError",
    "InvalidSessionTimeoutError",
    "InvalidTopicError",
    "MemberIdRequiredError",
    "NotEmptyGroupError",
    "OffsetOutOfRangeError",
    "OutOfOrderSequenceError",
    "RebalanceInProgressError",
    "RecordTooLargeError",
    "SaslAuthenticationError",
    "TopicAuthorizationError",
    "TopicExistsError",
    "UnknownMemberIdError",
    "UnknownProducerIdError",
    "UnknownTopicError",
    "UnsupportedMessageFormatError",
    "UnsupportedSaslMechanismError",
]
