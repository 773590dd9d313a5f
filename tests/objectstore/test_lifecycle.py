"""Bucket lifecycle: the document as boto3 sends it, S3's rules, and when each action is due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scalebox.objectstore.errors import (
    InvalidArgumentError,
    InvalidRequestError,
    InvalidTagError,
    MalformedXmlError,
    NotImplementedS3Error,
)
from scalebox.objectstore.lifecycle import (
    LIFECYCLE_BYTES_MAX,
    LIFECYCLE_RULES_MAX,
    LifecycleFilter,
    LifecycleRule,
    aborts_upload,
    expires_current,
    expires_noncurrent,
    parse_lifecycle,
    removes_delete_marker,
    render_lifecycle,
)
from tests.objectstore.boto3_capture import NS, SentError, boto3_reads, capturing_client

NOW = datetime(2024, 1, 20, 12, 0, tzinfo=UTC)


s3 = pytest.fixture(scope="module", name="s3")(capturing_client)


def sent_lifecycle(client, *rules: dict[str, Any]) -> bytes:
    with pytest.raises(SentError) as sent:
        client.put_bucket_lifecycle_configuration(Bucket="b", LifecycleConfiguration={"Rules": list(rules)})
    return sent.value.body


def make_rule(**overrides) -> LifecycleRule:
    fields: dict[str, Any] = {"id": "r", "enabled": True, "expiration_days": 30}
    return LifecycleRule(**(fields | overrides))


def lifecycle_xml(*rules: str) -> bytes:
    body = "".join(f"<Rule>{rule}</Rule>" for rule in rules)
    return f"<LifecycleConfiguration {NS}>{body}</LifecycleConfiguration>".encode()


BASIC = "<ID>r</ID><Status>Enabled</Status><Filter><Prefix>logs/</Prefix></Filter>"
DAYS = "<Expiration><Days>30</Days></Expiration>"
MARKER = "<ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker>"
NEWER_ONLY = "<NewerNoncurrentVersions>1</NewerNoncurrentVersions>"


def abort_after(days: int) -> str:
    inner = f"<DaysAfterInitiation>{days}</DaysAfterInitiation>"
    return f"<AbortIncompleteMultipartUpload>{inner}</AbortIncompleteMultipartUpload>"


# -- what boto3 sends ---------------------------------------------------------------------------


def test_parse_lifecycle_reads_and_filter_with_date_from_boto3(s3) -> None:
    body = sent_lifecycle(
        s3,
        {
            "ID": "archive",
            "Status": "Enabled",
            "Filter": {
                "And": {
                    "Prefix": "logs/",
                    "Tags": [{"Key": "tier", "Value": "cold"}, {"Key": "team", "Value": "ops"}],
                    "ObjectSizeGreaterThan": 10,
                    "ObjectSizeLessThan": 100,
                }
            },
            "Expiration": {"Date": datetime(2030, 1, 1, tzinfo=UTC)},
        },
    )

    assert parse_lifecycle(body) == (
        LifecycleRule(
            id="archive",
            enabled=True,
            filter=LifecycleFilter(
                prefix="logs/",
                tags={"tier": "cold", "team": "ops"},
                object_size_greater_than=10,
                object_size_less_than=100,
            ),
            expiration_date=datetime(2030, 1, 1, tzinfo=UTC),
        ),
    )


def test_parse_lifecycle_reads_legacy_prefix_and_version_actions_from_boto3(s3) -> None:
    body = sent_lifecycle(
        s3,
        {
            "ID": "versions",
            "Status": "Disabled",
            "Prefix": "old/",
            "Expiration": {"ExpiredObjectDeleteMarker": True},
            "NoncurrentVersionExpiration": {"NoncurrentDays": 3, "NewerNoncurrentVersions": 2},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
        },
    )

    assert parse_lifecycle(body) == (
        LifecycleRule(
            id="versions",
            enabled=False,
            filter=LifecycleFilter(prefix="old/"),
            expired_object_delete_marker=True,
            noncurrent_days=3,
            newer_noncurrent_versions=2,
            abort_incomplete_days=7,
        ),
    )


@pytest.mark.parametrize(
    ("boto3_filter", "expected"),
    [
        ({}, LifecycleFilter()),
        ({"Prefix": ""}, LifecycleFilter()),
        ({"Tag": {"Key": "k", "Value": "v"}}, LifecycleFilter(tags={"k": "v"})),
        ({"ObjectSizeGreaterThan": 1024}, LifecycleFilter(object_size_greater_than=1024)),
        ({"ObjectSizeLessThan": 1024}, LifecycleFilter(object_size_less_than=1024)),
        ({"And": {"Tags": [{"Key": "k", "Value": "v"}]}}, LifecycleFilter(tags={"k": "v"})),
    ],
)
def test_parse_lifecycle_reads_each_filter_shape_from_boto3(
    s3, boto3_filter: dict[str, Any], expected: LifecycleFilter
) -> None:
    body = sent_lifecycle(
        s3, {"ID": "f", "Status": "Enabled", "Filter": boto3_filter, "Expiration": {"Days": 1}}
    )

    (rule,) = parse_lifecycle(body)

    assert rule.filter == expected


def test_parse_lifecycle_generates_stable_distinct_ids_when_absent(s3) -> None:
    rule = {"Status": "Enabled", "Filter": {}, "Expiration": {"Days": 1}}
    body = sent_lifecycle(s3, rule, rule)

    first, second = parse_lifecycle(body)

    assert len(first.id) == len(second.id) == 48
    assert first.id != second.id
    assert [r.id for r in parse_lifecycle(body)] == [first.id, second.id]


# -- rendering ----------------------------------------------------------------------------------


def test_render_lifecycle_is_what_boto3_get_bucket_lifecycle_configuration_reads() -> None:
    rules = [
        make_rule(
            id="a",
            filter=LifecycleFilter(prefix="logs/", tags={"k": "v"}, object_size_greater_than=5),
            expiration_days=None,
            expiration_date=datetime(2030, 1, 1, tzinfo=UTC),
        ),
        make_rule(
            id="b",
            enabled=False,
            expiration_days=None,
            expired_object_delete_marker=True,
            noncurrent_days=3,
            newer_noncurrent_versions=2,
            abort_incomplete_days=7,
        ),
        make_rule(id="c", filter=LifecycleFilter(tags={"k": "v"})),
    ]

    parsed = boto3_reads("GetBucketLifecycleConfiguration", render_lifecycle(rules))

    assert parsed["Rules"] == [
        {
            "ID": "a",
            "Filter": {
                "And": {"Prefix": "logs/", "Tags": [{"Key": "k", "Value": "v"}], "ObjectSizeGreaterThan": 5}
            },
            "Status": "Enabled",
            "Expiration": {"Date": datetime(2030, 1, 1, tzinfo=UTC)},
        },
        {
            "ID": "b",
            "Filter": {"Prefix": ""},
            "Status": "Disabled",
            "Expiration": {"ExpiredObjectDeleteMarker": True},
            "NoncurrentVersionExpiration": {"NoncurrentDays": 3, "NewerNoncurrentVersions": 2},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
        },
        {
            "ID": "c",
            "Filter": {"Tag": {"Key": "k", "Value": "v"}},
            "Status": "Enabled",
            "Expiration": {"Days": 30},
        },
    ]


def test_render_lifecycle_is_namespaced_xml_with_declaration() -> None:
    body = render_lifecycle([make_rule()])

    assert body.startswith(
        b'<?xml version="1.0" encoding="UTF-8"?>\n<LifecycleConfiguration xmlns="http://s3'
    )


tag_characters = st.characters(categories=("L", "N")) | st.sampled_from(" _.:/=+-@")
tag_keys = st.text(tag_characters, min_size=1, max_size=20).filter(
    lambda key: not key.lower().startswith("aws:")
)
prefixes = st.text(st.characters(categories=("L", "N", "P", "S", "Zs")), max_size=30)
midnights = st.dates(min_value=datetime(2000, 1, 1).date(), max_value=datetime(2100, 1, 1).date()).map(
    lambda day: datetime(day.year, day.month, day.day, tzinfo=UTC)
)


@st.composite
def lifecycle_rules(draw: st.DrawFn) -> LifecycleRule:
    tags = draw(st.dictionaries(tag_keys, st.text(tag_characters, max_size=20), max_size=3))
    greater = draw(st.none() | st.integers(0, 10**9))
    less = draw(st.none() | st.integers(1, 10**9))
    if greater is not None and less is not None and greater >= less:
        less = greater + 1
    expiration = draw(st.sampled_from(["none", "days", "date", "marker"]))
    noncurrent_days = draw(st.none() | st.integers(1, 3650))
    sized = greater is not None or less is not None
    abort = None if tags or sized else draw(st.none() | st.integers(1, 365))
    if (expiration == "marker" and tags) or (expiration == "none" and not noncurrent_days and not abort):
        expiration = "days"
    return LifecycleRule(
        id=draw(st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=255)),
        enabled=draw(st.booleans()),
        filter=LifecycleFilter(draw(prefixes), tags, greater, less),
        expiration_days=draw(st.integers(1, 3650)) if expiration == "days" else None,
        expiration_date=draw(midnights) if expiration == "date" else None,
        expired_object_delete_marker=expiration == "marker",
        noncurrent_days=noncurrent_days,
        newer_noncurrent_versions=draw(st.none() | st.integers(1, 100)) if noncurrent_days else None,
        abort_incomplete_days=abort,
    )


@given(st.lists(lifecycle_rules(), min_size=1, max_size=4, unique_by=lambda rule: rule.id))
def test_parse_lifecycle_round_trips_render(rules: list[LifecycleRule]) -> None:
    assert parse_lifecycle(render_lifecycle(rules)) == tuple(rules)


# -- S3's rules ---------------------------------------------------------------------------------


def test_parse_lifecycle_accepts_the_rule_limit_exactly() -> None:
    body = lifecycle_xml(
        *(f"<ID>r{i}</ID><Status>Enabled</Status><Prefix/>{DAYS}" for i in range(LIFECYCLE_RULES_MAX))
    )

    assert len(parse_lifecycle(body)) == LIFECYCLE_RULES_MAX


@pytest.mark.parametrize(
    "date", ["2030-01-01T00:00:00Z", "2030-01-01T00:00:00.000Z", "2030-01-01T02:00:00+02:00", "2030-01-01"]
)
def test_parse_lifecycle_accepts_a_midnight_utc_date_in_any_iso_form(date: str) -> None:
    (rule,) = parse_lifecycle(lifecycle_xml(BASIC + f"<Expiration><Date>{date}</Date></Expiration>"))

    assert rule.expiration_date == datetime(2030, 1, 1, tzinfo=UTC)


TAG = "<Tag><Key>k</Key><Value>v</Value></Tag>"
VIOLATIONS = [
    ("no-rules", lifecycle_xml(), MalformedXmlError, "at least 1"),
    (
        "too-many-rules",
        lifecycle_xml(
            *(f"<ID>r{i}</ID><Status>Enabled</Status><Prefix/>{DAYS}" for i in range(LIFECYCLE_RULES_MAX + 1))
        ),
        InvalidArgumentError,
        "at most 1000 rules",
    ),
    ("duplicate-id", lifecycle_xml(BASIC + DAYS, BASIC + DAYS), InvalidArgumentError, "must be unique"),
    (
        "long-id",
        lifecycle_xml(BASIC.replace(">r<", f">{'i' * 256}<") + DAYS),
        InvalidArgumentError,
        "ID length",
    ),
    ("status-case", lifecycle_xml(BASIC.replace("Enabled", "enabled") + DAYS), MalformedXmlError, "Status"),
    ("no-status", lifecycle_xml("<ID>r</ID><Prefix/>" + DAYS), MalformedXmlError, "missing <Status>"),
    ("filter-and-prefix", lifecycle_xml(BASIC + "<Prefix/>" + DAYS), MalformedXmlError, "exactly one"),
    (
        "no-filter",
        lifecycle_xml("<ID>r</ID><Status>Enabled</Status>" + DAYS),
        MalformedXmlError,
        "exactly one",
    ),
    (
        "two-predicates",
        lifecycle_xml(f"<ID>r</ID><Status>Enabled</Status><Filter><Prefix/>{TAG}</Filter>{DAYS}"),
        MalformedXmlError,
        "at most 1",
    ),
    (
        "empty-and",
        lifecycle_xml(f"<ID>r</ID><Status>Enabled</Status><Filter><And/></Filter>{DAYS}"),
        MalformedXmlError,
        "at least 1",
    ),
    ("no-action", lifecycle_xml(BASIC), InvalidRequestError, "At least one action"),
    (
        "marker-false-only",
        lifecycle_xml(
            BASIC + "<Expiration><ExpiredObjectDeleteMarker>false</ExpiredObjectDeleteMarker></Expiration>"
        ),
        InvalidRequestError,
        "At least one action",
    ),
    ("empty-expiration", lifecycle_xml(BASIC + "<Expiration/>"), MalformedXmlError, "at least 1"),
    (
        "zero-days",
        lifecycle_xml(BASIC + "<Expiration><Days>0</Days></Expiration>"),
        InvalidArgumentError,
        "positive",
    ),
    (
        "negative-days",
        lifecycle_xml(BASIC + "<Expiration><Days>-1</Days></Expiration>"),
        MalformedXmlError,
        "Days",
    ),
    (
        "days-and-date",
        lifecycle_xml(BASIC + "<Expiration><Days>1</Days><Date>2030-01-01T00:00:00Z</Date></Expiration>"),
        MalformedXmlError,
        "not both",
    ),
    (
        "date-not-midnight",
        lifecycle_xml(BASIC + "<Expiration><Date>2030-01-01T00:00:01Z</Date></Expiration>"),
        InvalidArgumentError,
        "midnight GMT",
    ),
    (
        "date-midnight-elsewhere",
        lifecycle_xml(BASIC + "<Expiration><Date>2030-01-01T00:00:00+02:00</Date></Expiration>"),
        InvalidArgumentError,
        "midnight GMT",
    ),
    (
        "date-garbage",
        lifecycle_xml(BASIC + "<Expiration><Date>soon</Date></Expiration>"),
        MalformedXmlError,
        "Date",
    ),
    (
        "marker-with-days",
        lifecycle_xml(BASIC + f"<Expiration><Days>1</Days>{MARKER}</Expiration>"),
        MalformedXmlError,
        "ExpiredObjectDeleteMarker",
    ),
    (
        "marker-not-boolean",
        lifecycle_xml(
            BASIC + "<Expiration><ExpiredObjectDeleteMarker>yes</ExpiredObjectDeleteMarker></Expiration>"
        ),
        MalformedXmlError,
        "true or false",
    ),
    (
        "marker-with-tags",
        lifecycle_xml(
            f"<ID>r</ID><Status>Enabled</Status><Filter>{TAG}</Filter>"
            "<Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>"
        ),
        InvalidRequestError,
        "ExpiredObjectDeleteMarker cannot be specified with tags",
    ),
    (
        "abort-with-tags",
        lifecycle_xml(f"<ID>r</ID><Status>Enabled</Status><Filter>{TAG}</Filter>" + abort_after(1)),
        InvalidRequestError,
        "AbortIncompleteMultipartUpload cannot be specified with Tags",
    ),
    (
        "abort-with-size",
        lifecycle_xml(
            "<ID>r</ID><Status>Enabled</Status><Filter><ObjectSizeLessThan>5</ObjectSizeLessThan></Filter>"
            + abort_after(1)
        ),
        InvalidRequestError,
        "object size",
    ),
    (
        "abort-zero-days",
        lifecycle_xml(BASIC + abort_after(0)),
        InvalidArgumentError,
        "DaysAfterInitiation",
    ),
    (
        "abort-without-days",
        lifecycle_xml(BASIC + "<AbortIncompleteMultipartUpload/>"),
        MalformedXmlError,
        "missing <DaysAfterInitiation>",
    ),
    (
        "noncurrent-zero-days",
        lifecycle_xml(
            BASIC
            + "<NoncurrentVersionExpiration><NoncurrentDays>0</NoncurrentDays></NoncurrentVersionExpiration>"
        ),
        InvalidArgumentError,
        "NoncurrentDays",
    ),
    (
        "noncurrent-without-days",
        lifecycle_xml(BASIC + f"<NoncurrentVersionExpiration>{NEWER_ONLY}</NoncurrentVersionExpiration>"),
        MalformedXmlError,
        "missing <NoncurrentDays>",
    ),
    *(
        (
            f"newer-versions-{count}",
            lifecycle_xml(
                BASIC + "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays>"
                f"<NewerNoncurrentVersions>{count}</NewerNoncurrentVersions></NoncurrentVersionExpiration>"
            ),
            InvalidArgumentError,
            "NewerNoncurrentVersions",
        )
        for count in (0, 101)
    ),
    (
        "size-bounds-crossed",
        lifecycle_xml(
            "<ID>r</ID><Status>Enabled</Status><Filter><And><ObjectSizeGreaterThan>10</ObjectSizeGreaterThan>"
            f"<ObjectSizeLessThan>10</ObjectSizeLessThan></And></Filter>{DAYS}"
        ),
        InvalidArgumentError,
        "less than",
    ),
    (
        "size-less-than-zero",
        lifecycle_xml(
            f"<ID>r</ID><Status>Enabled</Status><Filter><ObjectSizeLessThan>0</ObjectSizeLessThan></Filter>{DAYS}"
        ),
        InvalidArgumentError,
        "positive",
    ),
    (
        "duplicate-filter-tags",
        lifecycle_xml(f"<ID>r</ID><Status>Enabled</Status><Filter><And>{TAG}{TAG}</And></Filter>{DAYS}"),
        InvalidTagError,
        "same key",
    ),
    (
        "too-many-filter-tags",
        lifecycle_xml(
            "<ID>r</ID><Status>Enabled</Status><Filter><And>"
            + "".join(f"<Tag><Key>k{i}</Key><Value>v</Value></Tag>" for i in range(11))
            + f"</And></Filter>{DAYS}"
        ),
        InvalidTagError,
        "greater than 10",
    ),
    (
        "bad-filter-tag",
        lifecycle_xml(
            f"<ID>r</ID><Status>Enabled</Status><Filter><Tag><Key>a*</Key><Value/></Tag></Filter>{DAYS}"
        ),
        InvalidTagError,
        "TagKey",
    ),
    (
        "long-prefix",
        lifecycle_xml(f"<ID>r</ID><Status>Enabled</Status><Prefix>{'p' * 1025}</Prefix>{DAYS}"),
        InvalidArgumentError,
        "prefix",
    ),
    (
        "transition",
        lifecycle_xml(BASIC + "<Transition><Days>30</Days><StorageClass>GLACIER</StorageClass></Transition>"),
        NotImplementedS3Error,
        "storage classes are not supported",
    ),
    (
        "noncurrent-transition",
        lifecycle_xml(
            BASIC + DAYS + "<NoncurrentVersionTransition><NoncurrentDays>1</NoncurrentDays>"
            "<StorageClass>STANDARD_IA</StorageClass></NoncurrentVersionTransition>"
        ),
        NotImplementedS3Error,
        "storage classes are not supported",
    ),
    (
        "unknown-element",
        lifecycle_xml(BASIC + DAYS + "<Priority>1</Priority>"),
        MalformedXmlError,
        "Unexpected",
    ),
]


@pytest.mark.parametrize(
    ("body", "error", "message"), [v[1:] for v in VIOLATIONS], ids=[v[0] for v in VIOLATIONS]
)
def test_parse_lifecycle_rejects_what_s3_rejects(body: bytes, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        parse_lifecycle(body)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(
            b'<!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><LifecycleConfiguration>&b;'
            b"</LifecycleConfiguration>",
            "entities",
            id="entity-expansion",
        ),
        pytest.param(
            b'<!DOCTYPE l SYSTEM "http://127.0.0.1:9/l.dtd"><LifecycleConfiguration/>',
            "Document type",
            id="external-dtd",
        ),
        pytest.param(
            lifecycle_xml(BASIC + DAYS + "<Filter>" + "<And>" * 20 + "</And>" * 20 + "</Filter>"),
            "deeper",
            id="deep-nesting",
        ),
        pytest.param(lifecycle_xml(BASIC + DAYS + " " * LIFECYCLE_BYTES_MAX), "larger than", id="oversize"),
    ],
)
def test_parse_lifecycle_refuses_hostile_xml(body: bytes, message: str) -> None:
    with pytest.raises(MalformedXmlError, match=message):
        parse_lifecycle(body)


# -- current versions: Days count from the next midnight UTC after creation ---------------------

CREATED = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)


def expires(
    rule: LifecycleRule, *, last_modified: datetime = CREATED, now: datetime = NOW, **facts: Any
) -> bool:
    defaults: dict[str, Any] = {"key": "logs/a.txt", "tags": {}, "size": 100}
    return expires_current(rule, last_modified=last_modified, now=now, **(defaults | facts))


@pytest.mark.parametrize(
    ("last_modified", "days", "due"),
    [
        (CREATED, 3, datetime(2024, 1, 19, tzinfo=UTC)),  # S3's own example: 1/15 10:30 + 3 days -> 1/19
        (datetime(2024, 1, 15, tzinfo=UTC), 1, datetime(2024, 1, 16, tzinfo=UTC)),  # already at midnight
        (datetime(2024, 1, 15, 0, 0, 0, 1, tzinfo=UTC), 1, datetime(2024, 1, 17, tzinfo=UTC)),
        (datetime(2024, 1, 15, 23, 59, 59, 999999, tzinfo=UTC), 1, datetime(2024, 1, 17, tzinfo=UTC)),
        (datetime(2024, 2, 28, 12, tzinfo=UTC), 1, datetime(2024, 3, 1, tzinfo=UTC)),  # leap day
        (
            datetime(2024, 1, 15, 23, 30, tzinfo=timezone(timedelta(hours=-2))),
            1,
            datetime(2024, 1, 18, tzinfo=UTC),
        ),
    ],
)
def test_expires_current_at_days_after_the_next_midnight_utc(
    last_modified: datetime, days: int, due: datetime
) -> None:
    rule = make_rule(expiration_days=days)

    assert not expires(rule, last_modified=last_modified, now=due - timedelta(microseconds=1))
    assert expires(rule, last_modified=last_modified, now=due)


def test_expires_current_compares_now_in_any_timezone() -> None:
    due_elsewhere = datetime(2024, 1, 19, 1, 0, tzinfo=timezone(timedelta(hours=1)))

    assert expires(make_rule(expiration_days=3), now=due_elsewhere)
    assert not expires(make_rule(expiration_days=3), now=due_elsewhere - timedelta(microseconds=1))


def test_expires_current_on_date_expires_everything_from_that_midnight() -> None:
    rule = make_rule(expiration_days=None, expiration_date=datetime(2024, 2, 1, tzinfo=UTC))
    late = datetime(2024, 3, 1, tzinfo=UTC)

    assert not expires(rule, now=datetime(2024, 1, 31, 23, 59, 59, tzinfo=UTC))
    assert expires(rule, now=datetime(2024, 2, 1, tzinfo=UTC))
    assert expires(rule, last_modified=late, now=late)


def test_expires_current_never_for_a_disabled_rule_or_one_without_expiration() -> None:
    assert not expires(make_rule(enabled=False), now=NOW + timedelta(days=365))
    assert not expires(make_rule(expiration_days=None, noncurrent_days=1), now=NOW + timedelta(days=365))


@pytest.mark.parametrize(
    ("rule_filter", "facts", "selected"),
    [
        (LifecycleFilter(prefix="logs/"), {"key": "logs/a"}, True),
        (LifecycleFilter(prefix="logs/"), {"key": "log/a"}, False),
        (LifecycleFilter(tags={"t": "1"}), {"tags": {"t": "1", "u": "2"}}, True),
        (LifecycleFilter(tags={"t": "1"}), {"tags": {"t": "2"}}, False),
        (LifecycleFilter(tags={"t": "1", "u": "2"}), {"tags": {"t": "1"}}, False),
        (LifecycleFilter(object_size_greater_than=100), {"size": 101}, True),
        (LifecycleFilter(object_size_greater_than=100), {"size": 100}, False),
        (LifecycleFilter(object_size_less_than=100), {"size": 99}, True),
        (LifecycleFilter(object_size_less_than=100), {"size": 100}, False),
    ],
)
def test_expires_current_only_for_objects_the_filter_selects(
    rule_filter: LifecycleFilter, facts: dict[str, Any], selected: bool
) -> None:
    rule = make_rule(filter=rule_filter, expiration_days=1)

    assert expires(rule, **facts) is selected


# -- noncurrent versions, delete markers, incomplete uploads ------------------------------------

BECAME_NONCURRENT = datetime(2024, 2, 1, 11, 30, tzinfo=UTC)


def expires_old(rule: LifecycleRule, *, newer: int = 0, now: datetime, key: str = "logs/a") -> bool:
    return expires_noncurrent(
        rule,
        key=key,
        tags={},
        size=1,
        noncurrent_since=BECAME_NONCURRENT,
        newer_noncurrent_count=newer,
        now=now,
    )


def test_expires_noncurrent_counts_days_from_when_the_version_became_noncurrent() -> None:
    rule = make_rule(expiration_days=None, noncurrent_days=1)

    assert not expires_old(rule, now=datetime(2024, 2, 2, 23, 59, 59, tzinfo=UTC))
    assert expires_old(rule, now=datetime(2024, 2, 3, tzinfo=UTC))


def test_expires_noncurrent_keeps_the_newest_noncurrent_versions() -> None:
    rule = make_rule(expiration_days=None, noncurrent_days=1, newer_noncurrent_versions=2)
    later = datetime(2024, 3, 1, tzinfo=UTC)

    assert not expires_old(rule, newer=0, now=later)
    assert not expires_old(rule, newer=1, now=later)
    assert expires_old(rule, newer=2, now=later)
    assert not expires_old(rule, newer=5, now=datetime(2024, 2, 2, tzinfo=UTC))


def test_expires_noncurrent_never_without_the_action_a_match_or_when_disabled() -> None:
    later = datetime(2024, 3, 1, tzinfo=UTC)

    assert not expires_old(make_rule(), now=later)
    assert not expires_old(make_rule(noncurrent_days=1, enabled=False), now=later)
    assert not expires_old(make_rule(noncurrent_days=1, filter=LifecycleFilter(prefix="x/")), now=later)


def test_removes_delete_marker_only_when_it_is_the_only_version_left() -> None:
    rule = make_rule(expiration_days=None, expired_object_delete_marker=True, filter=LifecycleFilter("logs/"))

    assert removes_delete_marker(rule, key="logs/a", is_only_version=True)
    assert not removes_delete_marker(rule, key="logs/a", is_only_version=False)
    assert not removes_delete_marker(rule, key="other/a", is_only_version=True)


def test_removes_delete_marker_never_when_disabled_unset_or_filtered_by_size() -> None:
    sized = LifecycleFilter(object_size_less_than=10)

    assert not removes_delete_marker(make_rule(), key="k", is_only_version=True)
    assert not removes_delete_marker(
        make_rule(expired_object_delete_marker=True, enabled=False), key="k", is_only_version=True
    )
    assert not removes_delete_marker(
        make_rule(expired_object_delete_marker=True, filter=sized), key="k", is_only_version=True
    )


def test_aborts_upload_days_after_initiation_from_the_next_midnight() -> None:
    rule = make_rule(expiration_days=None, abort_incomplete_days=7, filter=LifecycleFilter("uploads/"))
    initiated = datetime(2024, 1, 1, 8, 0, tzinfo=UTC)

    assert not aborts_upload(
        rule, key="uploads/big", initiated=initiated, now=datetime(2024, 1, 8, 23, 59, tzinfo=UTC)
    )
    assert aborts_upload(rule, key="uploads/big", initiated=initiated, now=datetime(2024, 1, 9, tzinfo=UTC))
    assert not aborts_upload(rule, key="other/big", initiated=initiated, now=datetime(2024, 2, 1, tzinfo=UTC))


def test_aborts_upload_never_when_disabled_or_unset() -> None:
    initiated = datetime(2024, 1, 1, tzinfo=UTC)
    later = datetime(2025, 1, 1, tzinfo=UTC)

    assert not aborts_upload(make_rule(), key="k", initiated=initiated, now=later)
    assert not aborts_upload(
        make_rule(abort_incomplete_days=1, enabled=False), key="k", initiated=initiated, now=later
    )
