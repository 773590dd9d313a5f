"""SASL users as people manage them: add or change one, remove one, list them, and check a password
(the console's sign-in). Users are kept as SCRAM credentials in `users.json`; the broker re-reads
that file when it changes, so these take effect without a restart."""

from __future__ import annotations

from scalebox.core.errors import NotFoundError
from scalebox.eventlog.errors import SaslAuthenticationError
from scalebox.eventlog.service.sasl import PLAIN, SaslSession, make_credential, validate_username
from scalebox.eventlog.storage.catalog import ScramCredential, UserFile


class UnknownUserError(NotFoundError):
    """There is no SASL user by this name."""


def verify_password(users: dict[str, ScramCredential], name: str, password: str) -> bool:
    """True when `password` is `name`'s. Checked exactly as a SASL/PLAIN client is, so the console and
    the Kafka listener never disagree; as slow for an unknown name as for a wrong password."""
    if "\x00" in name or "\x00" in password:
        return False  # PLAIN separates its fields with NUL
    session = SaslSession((PLAIN,))
    session.handshake(PLAIN)
    try:
        session.authenticate(f"\x00{name}\x00{password}".encode(), users)
    except SaslAuthenticationError:
        return False
    return session.user == name


def set_user(users_file: UserFile, name: str, password: str) -> bool:
    """Add `name` with `password`, or change its password; True when the user is new."""
    validate_username(name)
    users = users_file.load()
    created = name not in users
    users[name] = make_credential(password)
    users_file.save(users)
    return created


def remove_user(users_file: UserFile, name: str) -> None:
    users = users_file.load()
    if name not in users:
        raise UnknownUserError(f"there is no user named {name!r}")
    del users[name]
    users_file.save(users)


def list_users(users_file: UserFile) -> list[tuple[str, ScramCredential]]:
    return sorted(users_file.load().items())
