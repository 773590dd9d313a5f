"""What can go wrong in the object store, named by the S3 error code a client sees.

Every class's `code` is the S3 error code itself (`NoSuchBucket`, `InvalidPart`, ...); the one table
in `http/errors.py` gives each its HTTP status. The tree follows core's categories:

DomainError
├── NotFoundError: NoSuchBucket, NoSuchKey, NoSuchVersion, NoSuchUpload, NoSuchTagSet,
│                  NoSuchCORSConfiguration, NoSuchLifecycleConfiguration, NoSuchBucketPolicy
├── ConflictError: BucketAlreadyOwnedByYou, BucketAlreadyExists, BucketNotEmpty, OperationAborted
├── InvalidError:  InvalidArgument, InvalidBucketName, KeyTooLongError, MalformedXML, MalformedPolicy,
│                  InvalidRequest, InvalidDigest, BadDigest, InvalidPart, InvalidPartOrder, EntityTooSmall,
│                  InvalidRange, InvalidPartNumber, PreconditionFailed, NotModified, InvalidTag,
│                  InvalidObjectState, IncompleteBody, InvalidLocationConstraint, MethodNotAllowed,
│                  NotImplemented
├── ForbiddenError: AccessDenied, SignatureDoesNotMatch, RequestTimeTooSkewed, InvalidAccessKeyId,
│                   ExpiredToken (presigned URL expired), AuthorizationHeaderMalformed,
│                   XAmzContentSHA256Mismatch
└── LimitExceededError: EntityTooLarge, MetadataTooLarge, SlowDown, ServiceUnavailable
"""

from __future__ import annotations

from typing import ClassVar

from scalebox.core.errors import (
    ConflictError,
    DomainError,
    ForbiddenError,
    InvalidError,
    LimitExceededError,
    NotFoundError,
    TooLargeError,
)


class S3Error(DomainError):
    """Mixin marker: every object store error has an S3 code and may name the resource it is about."""

    code: ClassVar[str] = "InternalError"

    def __init__(self, detail: str = "", *, resource: str = "", **extra: str) -> None:
        super().__init__(detail)
        self.resource = resource
        self.extra = extra  # more elements for the XML body (BucketName, Key, ArgumentName, ...)


# Not found
class NoSuchBucketError(S3Error, NotFoundError):
    """The specified bucket does not exist."""

    code = "NoSuchBucket"


class NoSuchKeyError(S3Error, NotFoundError):
    """The specified key does not exist."""

    code = "NoSuchKey"


class NoSuchVersionError(S3Error, NotFoundError):
    """The specified version does not exist."""

    code = "NoSuchVersion"


class NoSuchUploadError(S3Error, NotFoundError):
    """The specified multipart upload does not exist; it may have been aborted or completed."""

    code = "NoSuchUpload"


class NoSuchTagSetError(S3Error, NotFoundError):
    """There is no tag set."""

    code = "NoSuchTagSet"


class NoSuchCorsConfigurationError(S3Error, NotFoundError):
    """The CORS configuration does not exist."""

    code = "NoSuchCORSConfiguration"


class NoSuchLifecycleConfigurationError(S3Error, NotFoundError):
    """The lifecycle configuration does not exist."""

    code = "NoSuchLifecycleConfiguration"


class NoSuchBucketPolicyError(S3Error, NotFoundError):
    """The bucket policy does not exist."""

    code = "NoSuchBucketPolicy"


# Conflicts
class BucketAlreadyOwnedByYouError(S3Error, ConflictError):
    """Your previous request to create the named bucket succeeded and you already own it."""

    code = "BucketAlreadyOwnedByYou"


class BucketAlreadyExistsError(S3Error, ConflictError):
    """The requested bucket name is not available; another account owns it."""

    code = "BucketAlreadyExists"


class BucketNotEmptyError(S3Error, ConflictError):
    """The bucket you tried to delete is not empty."""

    code = "BucketNotEmpty"


class OperationAbortedError(S3Error, ConflictError):
    """A conflicting conditional operation is in progress against this resource; try again."""

    code = "OperationAborted"


# Invalid requests
class InvalidArgumentError(S3Error, InvalidError):
    """Invalid argument."""

    code = "InvalidArgument"


class InvalidBucketNameError(S3Error, InvalidError):
    """The specified bucket is not valid."""

    code = "InvalidBucketName"


class KeyTooLongError(S3Error, InvalidError):
    """Your key is too long."""

    code = "KeyTooLongError"


class MalformedXmlError(S3Error, InvalidError):
    """The XML you provided was not well-formed or did not validate against our published schema."""

    code = "MalformedXML"


class MalformedPolicyError(S3Error, InvalidError):
    """The policy is not valid."""

    code = "MalformedPolicy"


class InvalidRequestError(S3Error, InvalidError):
    """The request is not valid."""

    code = "InvalidRequest"


class InvalidDigestError(S3Error, InvalidError):
    """The Content-MD5 or checksum you specified is not valid."""

    code = "InvalidDigest"


class BadDigestError(S3Error, InvalidError):
    """The Content-MD5 or checksum you specified did not match what was received."""

    code = "BadDigest"


class InvalidPartError(S3Error, InvalidError):
    """One or more of the specified parts could not be found, or its entity tag did not match."""

    code = "InvalidPart"


class InvalidPartOrderError(S3Error, InvalidError):
    """The list of parts was not in ascending order by part number."""

    code = "InvalidPartOrder"


class EntityTooSmallError(S3Error, InvalidError):
    """Your proposed upload is smaller than the minimum allowed object size."""

    code = "EntityTooSmall"


class InvalidRangeError(S3Error, InvalidError):
    """The requested range is not satisfiable."""

    code = "InvalidRange"


class InvalidPartNumberError(S3Error, InvalidError):
    """The requested partnumber is not satisfiable."""

    code = "InvalidPartNumber"


class PreconditionFailedError(S3Error, InvalidError):
    """At least one of the preconditions you specified did not hold."""

    code = "PreconditionFailed"


class NotModifiedError(S3Error, InvalidError):
    """Not modified (answered as a bare 304)."""

    code = "NotModified"


class InvalidTagError(S3Error, InvalidError):
    """The tag provided was not a valid tag."""

    code = "InvalidTag"


class InvalidObjectStateError(S3Error, InvalidError):
    """The operation is not valid for the current state of the object."""

    code = "InvalidObjectState"


class IncompleteBodyError(S3Error, InvalidError):
    """You did not provide the number of bytes specified by the Content-Length HTTP header."""

    code = "IncompleteBody"


class InvalidLocationConstraintError(S3Error, InvalidError):
    """The specified location constraint is not valid."""

    code = "InvalidLocationConstraint"


class MethodNotAllowedError(S3Error, InvalidError):
    """The specified method is not allowed against this resource."""

    code = "MethodNotAllowed"


class NotImplementedS3Error(S3Error, InvalidError):
    """A header or query you provided implies functionality that is not implemented."""

    code = "NotImplemented"


# Authentication and authorization
class AccessDeniedError(S3Error, ForbiddenError):
    """Access Denied"""

    code = "AccessDenied"


class SignatureDoesNotMatchError(S3Error, ForbiddenError):
    """The request signature we calculated does not match the signature you provided."""

    code = "SignatureDoesNotMatch"


class RequestTimeTooSkewedError(S3Error, ForbiddenError):
    """The difference between the request time and the server's time is too large."""

    code = "RequestTimeTooSkewed"


class InvalidAccessKeyIdError(S3Error, ForbiddenError):
    """The AWS access key ID you provided does not exist in our records."""

    code = "InvalidAccessKeyId"


class ExpiredPresignedUrlError(S3Error, ForbiddenError):
    """Request has expired"""

    code = "AccessDenied"


class AuthorizationHeaderMalformedError(S3Error, ForbiddenError):
    """The authorization header you provided is not valid."""

    code = "AuthorizationHeaderMalformed"


class ContentSha256MismatchError(S3Error, ForbiddenError):
    """The provided 'x-amz-content-sha256' header does not match what was computed."""

    code = "XAmzContentSHA256Mismatch"


# Limits
class EntityTooLargeError(S3Error, TooLargeError):
    """Your proposed upload exceeds the maximum allowed object size."""

    code = "EntityTooLarge"


class MetadataTooLargeError(S3Error, TooLargeError):
    """Your metadata headers exceed the maximum allowed metadata size."""

    code = "MetadataTooLarge"


class ServiceUnavailableError(S3Error, LimitExceededError):
    """Service is unable to handle request."""

    code = "ServiceUnavailable"


class SlowDownError(S3Error, LimitExceededError):
    """Please reduce your request rate."""

    code = "SlowDown"
