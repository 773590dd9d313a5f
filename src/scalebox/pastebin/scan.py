"""The secret scanner: finds credentials pasted by mistake (cloud keys, private keys, tokens, and
high-entropy strings). Pure; the service decides whether a finding flags or rejects a paste."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

LINES_SCANNED_MAX = 20_000
FINDINGS_MAX = 20
ENTROPY_BITS_MIN = 4.3  # bits per character; random base64 is ~6, English prose ~4
ENTROPY_CHARS_MIN = 32

_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("aws-access-key-id", re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b")),
    ("aws-secret-access-key", re.compile(r"(?i)aws.{0,20}?secret.{0,20}?['\"=:\s]([A-Za-z0-9/+=]{40})\b")),
    (
        "private-key",
        re.compile(r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |PGP |ENCRYPTED )?PRIVATE KEY( BLOCK)?-----"),
    ),
    (
        "github-token",
        re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255}\b|\bgithub_pat_[A-Za-z0-9_]{22,255}\b"),
    ),
    ("gitlab-token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}\b")),
    ("slack-token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b")),
    (
        "slack-webhook",
        re.compile(r"https://hooks\.slack\.com/services/T[A-Za-z0-9_]+/B[A-Za-z0-9_]+/[A-Za-z0-9_]+"),
    ),
    ("stripe-key", re.compile(r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{20,}\b")),
    ("google-api-key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("openai-key", re.compile(r"\bsk-(?:proj-)?[A-Za-z0-9_-]{32,}\b")),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\b")),
    ("scalebox-api-key", re.compile(r"\bsbx_[A-Za-z0-9]{8}_[A-Za-z0-9]{32,}\b")),
)
_CANDIDATE = re.compile(rf"[A-Za-z0-9+/=_-]{{{ENTROPY_CHARS_MIN},}}")
_ASSIGNMENT = re.compile(r"(?i)(?:secret|token|passw(?:or)?d|api[_-]?key|credential)s?\W{0,4}[=:]")


@dataclass(frozen=True, slots=True)
class Finding:
    """One suspected secret: its kind and the 1-based line it is on (the secret itself is not kept)."""

    kind: str
    line: int


def shannon_entropy(text: str) -> float:
    """Bits per character."""
    if not text:
        return 0.0
    counts = Counter(text)
    total = len(text)
    return -sum(count / total * math.log2(count / total) for count in counts.values())


def scan(text: str) -> list[Finding]:
    """Findings in reading order, at most FINDINGS_MAX, at most one per line."""
    findings: list[Finding] = []
    for number, line in enumerate(text.splitlines()[:LINES_SCANNED_MAX], start=1):
        kind = _line_finding(line)
        if kind is not None:
            findings.append(Finding(kind, number))
            if len(findings) >= FINDINGS_MAX:
                break
    return findings


def _line_finding(line: str) -> str | None:
    for kind, pattern in _RULES:
        if pattern.search(line):
            return kind
    # Generic: a long random-looking value assigned to something named like a secret.
    if _ASSIGNMENT.search(line):
        for candidate in _CANDIDATE.findall(line):
            mixed = any(c.isdigit() for c in candidate) and any(c.isalpha() for c in candidate)
            if mixed and shannon_entropy(candidate) >= ENTROPY_BITS_MIN:
                return "high-entropy-secret"
    return None


def describe(findings: list[Finding]) -> str:
    """A short, secret-free summary such as "aws-access-key-id on line 3, private-key on line 9"."""
    shown = ", ".join(f"{f.kind} on line {f.line}" for f in findings[:5])
    more = len(findings) - 5
    return shown + (f" and {more} more" if more > 0 else "")
