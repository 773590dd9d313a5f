"""The one table from object store errors to HTTP statuses, and the S3 XML error body."""

from __future__ import annotations

from scalebox.core.errors import DomainError, ForbiddenError, InvalidError, LimitExceededError, NotFoundError
from scalebox.objectstore import errors

STATUS: dict[type[DomainError], int] = {
    errors.NoSuchBucketError: 404,
    errors.NoSuchKeyError: 404,
    errors.NoSuchVersionError: 404,
    errors.NoSuchUploadError: 404,
    errors.NoSuchTagSetError: 404,
    errors.NoSuchCorsConfigurationError: 404,
    errors.NoSuchLifecycleConfigurationError: 404,
    errors.NoSuchBucketPolicyError: 404,
    errors.BucketAlreadyOwnedByYouError: 409,
    errors.BucketAlreadyExistsError: 409,
    errors.BucketNotEmptyError: 409,
    errors.OperationAbortedError: 409,
    errors.InvalidArgumentError: 400,
    errors.InvalidBucketNameError: 400,
    errors.KeyTooLongError: 400,
    errors.MalformedXmlError: 400,
    errors.MalformedPolicyError: 400,
    errors.InvalidRequestError: 400,
    errors.InvalidDigestError: 400,
    errors.BadDigestError: 400,
    errors.InvalidPartError: 400,
    errors.InvalidPartOrderError: 400,
    errors.EntityTooSmallError: 400,
    errors.InvalidRangeError: 416,
    errors.InvalidPartNumberError: 416,
    errors.PreconditionFailedError: 412,
    errors.NotModifiedError: 304,
    errors.InvalidTagError: 400,
    errors.InvalidObjectStateError: 403,
    errors.IncompleteBodyError: 400,
    errors.InvalidLocationConstraintError: 400,
    errors.MethodNotAllowedError: 405,
    errors.NotImplementedS3Error: 501,
    errors.AccessDeniedError: 403,
    errors.SignatureDoesNotMatchError: 403,
    errors.RequestTimeTooSkewedError: 403,
    errors.InvalidAccessKeyIdError: 403,
    errors.ExpiredPresignedUrlError: 403,
    errors.AuthorizationHeaderMalformedError: 400,
    errors.ContentSha256MismatchError: 400,
    errors.EntityTooLargeError: 400,
    errors.MetadataTooLargeError: 400,
    errors.SlowDownError: 503,
    errors.ServiceUnavailableError: 503,
}


def status_of(error: DomainError) -> int:
    """The HTTP status for `error`; errors from outside this system map by their category."""
    status = STATUS.get(type(error))
    if status is not None:
        return status
    if isinstance(error, NotFoundError):
        return 404
    if isinstance(error, ForbiddenError):
        return 403
    if isinstance(error, LimitExceededError):
        return 503 if not isinstance(error, errors.EntityTooLargeError) else 400
    if isinstance(error, InvalidError):
        return 400
    return 409


def code_of(error: DomainError) -> str:
    if isinstance(error, errors.S3Error):
        return error.code
    if isinstance(error, NotFoundError):
        return "NoSuchKey"
    if isinstance(error, ForbiddenError):
        return "AccessDenied"
    if isinstance(error, InvalidError):
        return "InvalidArgument"
    return "InvalidRequest"
