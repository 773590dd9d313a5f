"""Bucket lifecycle: the `<LifecycleConfiguration>` document and when its rules expire what.

Subset: expiration actions only (Expiration, NoncurrentVersionExpiration, AbortIncompleteMultipartUpload);
Transition and NoncurrentVersionTransition are refused because there are no storage classes. Filters:
legacy `<Prefix>`, `<Filter>` with Prefix, Tag, ObjectSizeGreaterThan/LessThan or `<And>` of them.
As in S3, a day count starts from the moment rounded up to the next midnight UTC. Limits: 1000 rules,
a 1 MiB document. Pure: callers pass `now`.
"""

from __future__ import annotations

import base64
import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from scalebox.objectstore.errors import (
    InvalidArgumentError,
    InvalidRequestError,
    MalformedXmlError,
    NotImplementedS3Error,
)
from scalebox.objectstore.tagging import OBJECT_TAGS_MAX, append_tag_set, parse_tag_element, validate_tags
from scalebox.objectstore.xmldoc import (
    MALFORMED_XML,
    parse_xml,
    render_xml,
    xml_bool,
    xml_children,
    xml_int,
    xml_required_text,
    xml_text,
)

LIFECYCLE_RULES_MAX = 1000
LIFECYCLE_BYTES_MAX = 1024 * 1024
LIFECYCLE_RULE_ID_LENGTH_MAX = 255
LIFECYCLE_PREFIX_LENGTH_MAX = 1024
NEWER_NONCURRENT_VERSIONS_MAX = 100
FILTER_TAGS_MAX = OBJECT_TAGS_MAX  # a filter needing more tags than an object can carry matches nothing

_RULE_ELEMENTS = frozenset(
    {
        "ID", "Prefix", "Filter", "Status", "Expiration", "NoncurrentVersionExpiration",
        "AbortIncompleteMultipartUpload", "Transition", "NoncurrentVersionTransition",
    }
)  # fmt: skip
_PREDICATES = frozenset({"Prefix", "Tag", "ObjectSizeGreaterThan", "ObjectSizeLessThan"})


@dataclass(frozen=True, slots=True)
class LifecycleFilter:
    """Which objects a rule applies to: every condition set here must hold."""

    prefix: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    object_size_greater_than: int | None = None
    object_size_less_than: int | None = None

    def matches(self, *, key: str, tags: Mapping[str, str], size: int | None) -> bool:
        """Whether an object is selected; an unknown `size` (None) fails any size condition."""
        if not key.startswith(self.prefix):
            return False
        if any(tags.get(name) != value for name, value in self.tags.items()):
            return False
        if self.object_size_greater_than is not None and (
            size is None or size <= self.object_size_greater_than
        ):
            return False
        return self.object_size_less_than is None or (size is not None and size < self.object_size_less_than)


@dataclass(frozen=True, slots=True)
class LifecycleRule:
    """One `<Rule>`: a filter and the expiration actions it takes."""

    id: str
    enabled: bool
    filter: LifecycleFilter = field(default_factory=LifecycleFilter)
    expiration_days: int | None = None
    expiration_date: datetime | None = None  # aware, midnight UTC
    expired_object_delete_marker: bool = False
    noncurrent_days: int | None = None
    newer_noncurrent_versions: int | None = None
    abort_incomplete_days: int | None = None


# -- the document -------------------------------------------------------------------------------


def parse_lifecycle(body: bytes) -> tuple[LifecycleRule, ...]:
    """Parse a PutBucketLifecycleConfiguration body; a rule without an ID gets a generated one.

    Raises MalformedXmlError for hostile or misshapen XML, InvalidArgumentError and InvalidRequestError
    for a rule S3 refuses, InvalidTagError for a bad filter tag, and NotImplementedS3Error for transitions.
    """
    root = parse_xml(body, root="LifecycleConfiguration", bytes_max=LIFECYCLE_BYTES_MAX)
    elements = xml_children(root, {"Rule"}, count_min=1)
    if len(elements) > LIFECYCLE_RULES_MAX:
        raise InvalidArgumentError(
            f"A lifecycle configuration can have at most {LIFECYCLE_RULES_MAX} rules; "
            f"this one has {len(elements)}."
        )
    rules = tuple(_parse_rule(element, index) for index, element in enumerate(elements))
    if len({rule.id for rule in rules}) != len(rules):
        raise InvalidArgumentError(
            "Rule ID must be unique. Found same ID for more than one rule", ArgumentName="ID"
        )
    return rules


def _parse_rule(element: ET.Element, index: int) -> LifecycleRule:
    xml_children(element, _RULE_ELEMENTS)
    if element.find("Transition") is not None or element.find("NoncurrentVersionTransition") is not None:
        raise NotImplementedS3Error(
            "Transition and NoncurrentVersionTransition are not implemented: "
            "storage classes are not supported."
        )
    rule_id = xml_text(element, "ID") or _generated_id(element, index)
    if len(rule_id) > LIFECYCLE_RULE_ID_LENGTH_MAX:
        raise InvalidArgumentError(
            f"ID length should not exceed allowed limit of {LIFECYCLE_RULE_ID_LENGTH_MAX}", ArgumentName="ID"
        )
    status = xml_required_text(element, "Status")
    if status not in ("Enabled", "Disabled"):
        raise MalformedXmlError(f"{MALFORMED_XML} <Status> must be Enabled or Disabled, not {status!r}.")
    days, date, delete_marker = _parse_expiration(element.find("Expiration"))
    noncurrent_days, newer_noncurrent = _parse_noncurrent(element.find("NoncurrentVersionExpiration"))
    rule = LifecycleRule(
        id=rule_id,
        enabled=status == "Enabled",
        filter=_parse_rule_filter(element),
        expiration_days=days,
        expiration_date=date,
        expired_object_delete_marker=delete_marker,
        noncurrent_days=noncurrent_days,
        newer_noncurrent_versions=newer_noncurrent,
        abort_incomplete_days=_parse_abort(element.find("AbortIncompleteMultipartUpload")),
    )
    _check_actions(rule)
    return rule


def _generated_id(element: ET.Element, index: int) -> str:
    # S3 invents a 48-character ID; deriving it from the rule keeps parsing pure and repeatable.
    digest = hashlib.sha256(index.to_bytes(4, "big") + ET.tostring(element)).digest()
    return base64.b64encode(digest + digest[:4]).decode()


def _parse_rule_filter(element: ET.Element) -> LifecycleFilter:
    legacy_prefix = xml_text(element, "Prefix")
    found = element.findall("Filter")
    if len(found) > 1 or (legacy_prefix is None) == (not found):
        raise MalformedXmlError(f"{MALFORMED_XML} A <Rule> needs exactly one of <Filter> or <Prefix>.")
    if legacy_prefix is not None:
        return _checked_filter(legacy_prefix, [], None, None)
    (container,) = found
    children = xml_children(container, _PREDICATES | {"And"}, count_max=1)
    if children and children[0].tag == "And":
        container = children[0]
        xml_children(container, _PREDICATES, count_min=1)
    return _checked_filter(
        xml_text(container, "Prefix") or "",
        [parse_tag_element(tag) for tag in container.findall("Tag")],
        xml_int(container, "ObjectSizeGreaterThan"),
        xml_int(container, "ObjectSizeLessThan"),
    )


def _checked_filter(
    prefix: str, tags: list[tuple[str, str]], greater_than: int | None, less_than: int | None
) -> LifecycleFilter:
    if len(prefix) > LIFECYCLE_PREFIX_LENGTH_MAX:
        raise InvalidArgumentError(
            f"The prefix is longer than the limit of {LIFECYCLE_PREFIX_LENGTH_MAX} characters.",
            ArgumentName="Prefix",
        )
    if less_than == 0:
        raise InvalidArgumentError("ObjectSizeLessThan must be a positive integer.")
    if greater_than is not None and less_than is not None and greater_than >= less_than:
        raise InvalidArgumentError("ObjectSizeGreaterThan must be less than ObjectSizeLessThan.")
    return LifecycleFilter(
        prefix=prefix,
        tags=validate_tags(tags, tags_max=FILTER_TAGS_MAX),
        object_size_greater_than=greater_than,
        object_size_less_than=less_than,
    )


def _parse_expiration(element: ET.Element | None) -> tuple[int | None, datetime | None, bool]:
    if element is None:
        return None, None, False
    xml_children(element, {"Days", "Date", "ExpiredObjectDeleteMarker"}, count_min=1)
    days = _positive_days(element, "Days", "Expiration")
    date = _parse_date(xml_text(element, "Date"))
    delete_marker = xml_bool(element, "ExpiredObjectDeleteMarker")
    if days is not None and date is not None:
        raise MalformedXmlError(f"{MALFORMED_XML} <Expiration> takes <Days> or <Date>, not both.")
    if delete_marker is not None and (days is not None or date is not None):
        raise MalformedXmlError(
            f"{MALFORMED_XML} <ExpiredObjectDeleteMarker> cannot be specified with <Days> or <Date>."
        )
    return days, date, bool(delete_marker)


def _parse_date(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        date = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise MalformedXmlError(
            f"{MALFORMED_XML} <Date> must be an ISO 8601 timestamp, not {text!r}."
        ) from exc
    date = date.replace(tzinfo=UTC) if date.tzinfo is None else date.astimezone(UTC)
    if date != _midnight_floor(date):
        raise InvalidArgumentError("'Date' must be at midnight GMT", ArgumentName="Date")
    return date


def _parse_noncurrent(element: ET.Element | None) -> tuple[int | None, int | None]:
    if element is None:
        return None, None
    xml_children(element, {"NoncurrentDays", "NewerNoncurrentVersions"})
    xml_required_text(element, "NoncurrentDays")
    newer = xml_int(element, "NewerNoncurrentVersions")
    if newer is not None and not 1 <= newer <= NEWER_NONCURRENT_VERSIONS_MAX:
        raise InvalidArgumentError(
            f"NewerNoncurrentVersions must be between 1 and {NEWER_NONCURRENT_VERSIONS_MAX}.",
            ArgumentName="NewerNoncurrentVersions",
        )
    days = _positive_days(element, "NoncurrentDays", "NoncurrentVersionExpiration")
    return days, newer


def _parse_abort(element: ET.Element | None) -> int | None:
    if element is None:
        return None
    xml_children(element, {"DaysAfterInitiation"})
    xml_required_text(element, "DaysAfterInitiation")
    return _positive_days(element, "DaysAfterInitiation", "AbortIncompleteMultipartUpload")


def _positive_days(element: ET.Element, name: str, action: str) -> int | None:
    days = xml_int(element, name)
    if days == 0:
        raise InvalidArgumentError(
            f"'{name}' for {action} action must be a positive integer", ArgumentName=name
        )
    return days


def _check_actions(rule: LifecycleRule) -> None:
    expires = rule.expiration_days is not None or rule.expiration_date is not None
    if not (
        expires or rule.expired_object_delete_marker or rule.noncurrent_days or rule.abort_incomplete_days
    ):
        raise InvalidRequestError("At least one action needs to be specified in a rule")
    if rule.expired_object_delete_marker and rule.filter.tags:
        raise InvalidRequestError("ExpiredObjectDeleteMarker cannot be specified with tags.")
    if rule.abort_incomplete_days is not None and rule.filter.tags:
        raise InvalidRequestError("AbortIncompleteMultipartUpload cannot be specified with Tags.")
    sized = rule.filter.object_size_greater_than is not None or rule.filter.object_size_less_than is not None
    if rule.abort_incomplete_days is not None and sized:
        raise InvalidRequestError(
            "AbortIncompleteMultipartUpload cannot be specified with object size filters."
        )


def render_lifecycle(rules: Sequence[LifecycleRule]) -> bytes:
    """The GetBucketLifecycleConfiguration response body (every rule in the `<Filter>` form)."""
    root = ET.Element("LifecycleConfiguration")
    for rule in rules:
        element = ET.SubElement(root, "Rule")
        _append(element, "ID", rule.id)
        _render_filter(ET.SubElement(element, "Filter"), rule.filter)
        _append(element, "Status", "Enabled" if rule.enabled else "Disabled")
        date = rule.expiration_date
        if rule.expiration_days is not None or date is not None or rule.expired_object_delete_marker:
            expiration = ET.SubElement(element, "Expiration")
            _append(expiration, "Days", rule.expiration_days)
            _append(expiration, "Date", None if date is None else f"{date:%Y-%m-%dT%H:%M:%S}.000Z")
            _append(
                expiration, "ExpiredObjectDeleteMarker", "true" if rule.expired_object_delete_marker else None
            )
        if rule.noncurrent_days is not None:
            noncurrent = ET.SubElement(element, "NoncurrentVersionExpiration")
            _append(noncurrent, "NoncurrentDays", rule.noncurrent_days)
            _append(noncurrent, "NewerNoncurrentVersions", rule.newer_noncurrent_versions)
        if rule.abort_incomplete_days is not None:
            abort = ET.SubElement(element, "AbortIncompleteMultipartUpload")
            _append(abort, "DaysAfterInitiation", rule.abort_incomplete_days)
    return render_xml(root)


def _render_filter(element: ET.Element, rule_filter: LifecycleFilter) -> None:
    greater, less = rule_filter.object_size_greater_than, rule_filter.object_size_less_than
    conditions = bool(rule_filter.prefix) + len(rule_filter.tags) + (greater is not None) + (less is not None)
    if conditions > 1:
        element = ET.SubElement(element, "And")
    _append(element, "Prefix", rule_filter.prefix if rule_filter.prefix or conditions == 0 else None)
    append_tag_set(element, rule_filter.tags)
    _append(element, "ObjectSizeGreaterThan", greater)
    _append(element, "ObjectSizeLessThan", less)


def _append(parent: ET.Element, name: str, value: str | int | None) -> None:
    if value is not None:
        ET.SubElement(parent, name).text = str(value)


# -- evaluation ---------------------------------------------------------------------------------


def expires_current(
    rule: LifecycleRule,
    *,
    key: str,
    tags: Mapping[str, str],
    size: int,
    last_modified: datetime,
    now: datetime,
) -> bool:
    """Whether `rule` expires the current version of an object now (Expiration Days or Date)."""
    if not rule.enabled or not rule.filter.matches(key=key, tags=tags, size=size):
        return False
    if rule.expiration_date is not None:
        return _aware(now) >= rule.expiration_date
    return rule.expiration_days is not None and _due(last_modified, rule.expiration_days, now)


def expires_noncurrent(
    rule: LifecycleRule,
    *,
    key: str,
    tags: Mapping[str, str],
    size: int,
    noncurrent_since: datetime,
    newer_noncurrent_count: int,
    now: datetime,
) -> bool:
    """Whether `rule` permanently deletes a noncurrent version now.

    NoncurrentDays count from `noncurrent_since`, when the next version was written; with
    NewerNoncurrentVersions the `newer_noncurrent_versions` newest noncurrent versions are kept, so a
    version goes only once `newer_noncurrent_count` (noncurrent versions newer than it) reaches that.
    """
    if rule.noncurrent_days is None or not rule.enabled:
        return False
    if not rule.filter.matches(key=key, tags=tags, size=size):
        return False
    keeps = rule.newer_noncurrent_versions
    return (keeps is None or newer_noncurrent_count >= keeps) and _due(
        noncurrent_since, rule.noncurrent_days, now
    )


def removes_delete_marker(rule: LifecycleRule, *, key: str, is_only_version: bool) -> bool:
    """Whether `rule` removes a delete marker: ExpiredObjectDeleteMarker and no other version is left.

    A delete marker has no tags and no size, so a rule with size conditions does not select it.
    """
    return (
        rule.enabled
        and rule.expired_object_delete_marker
        and is_only_version
        and rule.filter.matches(key=key, tags={}, size=None)
    )


def aborts_upload(rule: LifecycleRule, *, key: str, initiated: datetime, now: datetime) -> bool:
    """Whether `rule` aborts an incomplete multipart upload initiated at `initiated` (prefix only)."""
    if rule.abort_incomplete_days is None or not rule.enabled:
        return False
    return rule.filter.matches(key=key, tags={}, size=None) and _due(
        initiated, rule.abort_incomplete_days, now
    )


def _due(start: datetime, days: int, now: datetime) -> bool:
    return _aware(now) >= _midnight_ceiling(_aware(start)) + timedelta(days=days)


def _midnight_ceiling(moment: datetime) -> datetime:
    midnight = _midnight_floor(moment)
    return midnight if midnight == moment else midnight + timedelta(days=1)


def _midnight_floor(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _aware(moment: datetime) -> datetime:
    assert moment.tzinfo is not None, "lifecycle times must be timezone-aware"
    return moment.astimezone(UTC)
