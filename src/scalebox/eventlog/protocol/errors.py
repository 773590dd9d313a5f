"""The one table from the event log's errors to Kafka's int16 error codes."""

from __future__ import annotations

from kio.schema.errors import ErrorCode

from scalebox.core.errors import DomainError, LimitExceededError, NotFoundError
from scalebox.eventlog import errors

_CODES: dict[type[DomainError], ErrorCode] = {
    errors.UnknownTopicError: ErrorCode.unknown_topic_or_partition,
    errors.TopicExistsError: ErrorCode.topic_already_exists,
    errors.InvalidTopicError: ErrorCode.invalid_topic_exception,
    errors.InvalidPartitionsError: ErrorCode.invalid_partitions,
    errors.InvalidReplicationFactorError: ErrorCode.invalid_replication_factor,
    errors.InvalidConfigError: ErrorCode.invalid_config,
    errors.InvalidRequestError: ErrorCode.invalid_request,
    errors.OffsetOutOfRangeError: ErrorCode.offset_out_of_range,
    errors.CorruptRecordError: ErrorCode.corrupt_message,
    errors.InvalidRecordError: ErrorCode.invalid_record,
    errors.UnsupportedMessageFormatError: ErrorCode.unsupported_for_message_format,
    errors.RecordTooLargeError: ErrorCode.message_too_large,
    errors.OutOfOrderSequenceError: ErrorCode.out_of_order_sequence_number,
    errors.DuplicateSequenceError: ErrorCode.duplicate_sequence_number,
    errors.InvalidProducerEpochError: ErrorCode.invalid_producer_epoch,
    errors.UnknownProducerIdError: ErrorCode.unknown_producer_id,
    errors.GroupIdNotFoundError: ErrorCode.group_id_not_found,
    errors.NotEmptyGroupError: ErrorCode.non_empty_group,
    errors.InvalidGroupIdError: ErrorCode.invalid_group_id,
    errors.UnknownMemberIdError: ErrorCode.unknown_member_id,
    errors.MemberIdRequiredError: ErrorCode.member_id_required,
    errors.IllegalGenerationError: ErrorCode.illegal_generation,
    errors.RebalanceInProgressError: ErrorCode.rebalance_in_progress,
    errors.InconsistentGroupProtocolError: ErrorCode.inconsistent_group_protocol,
    errors.InvalidSessionTimeoutError: ErrorCode.invalid_session_timeout,
    errors.GroupMaxSizeReachedError: ErrorCode.group_max_size_reached,
    errors.FencedInstanceIdError: ErrorCode.fenced_instance_id,
    errors.CoordinatorLoadInProgressError: ErrorCode.coordinator_load_in_progress,
    errors.SaslAuthenticationError: ErrorCode.sasl_authentication_failed,
    errors.UnsupportedSaslMechanismError: ErrorCode.unsupported_sasl_mechanism,
    errors.IllegalSaslStateError: ErrorCode.illegal_sasl_state,
    errors.TopicAuthorizationError: ErrorCode.topic_authorization_failed,
    errors.GroupError: ErrorCode.unknown_server_error,
}


def error_code(exc: DomainError) -> ErrorCode:
    """The Kafka code for `exc`: its class's row, else its nearest ancestor's."""
    for cls in type(exc).__mro__:
        code = _CODES.get(cls)
        if code is not None:
            return code
    if isinstance(exc, NotFoundError):
        return ErrorCode.unknown_topic_or_partition
    if isinstance(exc, LimitExceededError):
        return ErrorCode.policy_violation
    return ErrorCode.invalid_request
