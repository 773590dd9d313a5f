"""The secret scanner: each rule fires on a realistic (fake) credential and stays quiet on ordinary text.

The fake credentials are assembled from pieces at run time, so this file itself does not look like a
leaked secret to push-protection scanners.
"""

from __future__ import annotations

import random

import pytest

from scalebox.core.auth import generate_api_key
from scalebox.pastebin.scan import (
    ENTROPY_BITS_MIN,
    FINDINGS_MAX,
    LINES_SCANNED_MAX,
    Finding,
    describe,
    scan,
    shannon_entropy,
)

_ALNUM = "A1b2C3d4E5f6G7h8J9k0LmNpQrStUvWxYz"  # 34 mixed characters

FAKE_CREDENTIALS = {
    "aws-access-key-id": "aws_access_key_id = " + "AKIA" + "IOSFODNN7EXAMPLE",
    "aws-secret-access-key": "export AWS_SECRET_ACCESS_KEY="
    + "wJalrXUtnFEMI/K7MDENG/"
    + "bPxRfiCYEXAMPLEKEY",
    "private-key": "-----BEGIN " + "RSA PRIVATE KEY-----",
    "github-token": "GITHUB_TOKEN=" + "ghp_" + _ALNUM + "Qz",
    "gitlab-token": "git clone https://oauth2:" + "glpat-" + "xYz12AbC34dEf56GhI78@gitlab.com/a/b.git",
    "slack-token": "SLACK_BOT=" + "xoxb-" + "123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "slack-webhook": "curl -X POST https://hooks.slack.com/services/"
    + "T0ABCDEFG/B0ABCDEFG/"
    + "aBcDeFgHiJkLmNoPqRsTuVwX",
    "stripe-key": "stripe.api_key = '" + "sk_" + "live_" + "4eC39HqLyjWDarjtT1zdp7dc'",
    "google-api-key": "https://maps.googleapis.com/maps/api/js?key="
    + "AIza"
    + "SyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY",
    "openai-key": "client = OpenAI(api_key='" + "sk-" + "proj-" + _ALNUM + "abcdefgh')",
    "jwt": "Authorization: Bearer "
    + "eyJ"
    + "hbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    + "eyJ"
    + "zdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0."
    + "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    "scalebox-api-key": "curl -H 'Authorization: Bearer "
    + generate_api_key(random.Random(3)).plaintext
    + "'",
    "high-entropy-secret": 'DB_PASSWORD = "' + "x9Kq2LmP7vRt4NwZ" + '8bYc3HdJ6fGs1QaE"',
}

ORDINARY_LINES = {
    "python": "def total(items):\n    return sum(item.price * item.quantity for item in items)\n",
    "prose": "The password reset flow sends a token by email; the link expires after 30 minutes.\n",
    "uuid": 'request_id = "3f2b8c4e-9a1d-4e6f-b7c2-5d8e9f0a1b2c"\n',
    "uuid-named-token": 'csrf_token = "3f2b8c4e-9a1d-4e6f-b7c2-5d8e9f0a1b2c"\n',
    "sha256-requirements": "requests==2.31.0 \\\n    --hash=sha256:"
    "58cd2187c01e70e6e26505bca751777aa9f2ee0b7f4300988b709f44e013003f\n",
    "sha256-uv-lock": '{ url = "https://files.pythonhosted.org/p/requests-2.31.0.tar.gz", hash = "sha256:'
    '942c5a758f98d790eaed1a29cb6eefc7ffb0d1cf7af05c3d2791656dbd6ad1e1" }\n',
    "sha512-yarn-lock": 'js-tokens@^4.0.0:\n  version "4.0.0"\n  integrity sha512-RdJUflcE3cUzKiMqQgsC'
    "u06FHv9UuuX5wS+2uibO+N7vXUfe6+YeXgLaOOQ7R/rhbfwEJvdpbbJM/2aJY0LEl1Jb+g==\n",
    "git-sha": "commit 9fceb02d0ae598e95dc970b74767f19372d61af8\nAuthor: A <a@example.com>\n",
    "base64-image": '<img alt="dot" src="data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAf'
    'FcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==">\n',
    "base64-css": ".logo { background: url(data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAYA"
    "AAAf8/9hAAAAGXRFWHRTb2Z0d2FyZQBBZG9iZSBJbWFnZVJlYWR5ccllPAAAAyBpVFh0WE1MOmNvbS5hZG9i); }\n",
    "password-from-input": 'password = getpass.getpass("Password: ")\n',
    "key-from-environment": 'api_key = os.environ["OPENWEATHER_API_KEY"]\n',
    "actions-secret-reference": "password: ${{ secrets.DOCKERHUB_TOKEN }}\n",
    "long-identifier": "token_refresh_interval_seconds = compute_token_refresh_interval_seconds(config)\n",
    "ssh-public-key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGjO8l2wPqT0M3v3Yx1bRk9oZ7h0vC0H8KzQf4m9wA3L a@b",
    "public-key-block": "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n",
}


@pytest.mark.parametrize(("kind", "line"), list(FAKE_CREDENTIALS.items()), ids=list(FAKE_CREDENTIALS))
def test_scan_finds_a_credential_when_pasted(kind, line):
    assert scan(f"# config\n{line}\n") == [Finding(kind, 2)]


@pytest.mark.parametrize("text", list(ORDINARY_LINES.values()), ids=list(ORDINARY_LINES))
def test_scan_finds_nothing_when_text_is_ordinary(text):
    assert scan(text) == []


def test_scan_finds_nothing_when_a_high_entropy_value_has_no_secret_name():
    assert scan('cache_buster = "x9Kq2LmP7vRt4NwZ8bYc3HdJ6fGs1QaE"') == []


def test_scan_finds_nothing_when_a_secret_name_holds_a_low_entropy_value():
    assert scan('secret = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1"') == []


def test_scan_reports_lines_one_based_and_at_most_one_finding_per_line():
    text = "\n".join(["ok", FAKE_CREDENTIALS["aws-access-key-id"] + " " + FAKE_CREDENTIALS["jwt"], "ok"])

    assert scan(text) == [Finding("aws-access-key-id", 2)]


def test_scan_stops_at_findings_max():
    text = "\n".join([FAKE_CREDENTIALS["private-key"]] * (FINDINGS_MAX + 10))

    findings = scan(text)

    assert len(findings) == FINDINGS_MAX
    assert [f.line for f in findings] == list(range(1, FINDINGS_MAX + 1))


def test_scan_reads_at_most_lines_scanned_max():
    text = "x\n" * LINES_SCANNED_MAX + FAKE_CREDENTIALS["private-key"]

    assert scan(text) == []


def test_describe_names_kinds_and_lines_but_never_the_secret():
    line = FAKE_CREDENTIALS["aws-access-key-id"]

    summary = describe(scan(f"{line}\nok\n{FAKE_CREDENTIALS['private-key']}"))

    assert summary == "aws-access-key-id on line 1, private-key on line 3"
    assert "AKIA" not in summary


def test_describe_counts_the_findings_it_does_not_show():
    findings = [Finding("jwt", n) for n in range(1, 8)]

    assert describe(findings).endswith("jwt on line 5 and 2 more")


def test_shannon_entropy_matches_known_values():
    assert shannon_entropy("") == 0.0
    assert shannon_entropy("aaaa") == 0.0
    assert shannon_entropy("abcd") == pytest.approx(2.0)
    assert shannon_entropy("0123456789abcdef" * 4) == pytest.approx(4.0)
    assert shannon_entropy("0123456789abcdef" * 4) < ENTROPY_BITS_MIN  # hex digests never qualify
