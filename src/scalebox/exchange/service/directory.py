"""The venue's reference data: listed instruments and member participants (limits, hashed
passwords, roles), kept in one JSON file. The engine learns them through sequenced Define*
commands, so the journal alone reproduces every decision."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal
from pathlib import Path

from scalebox.core.auth.passwords import DEFAULT_PARAMS, Argon2Params, hash_password, verify_password
from scalebox.core.files import write_atomically
from scalebox.exchange.domain import Instrument, Participant
from scalebox.exchange.errors import InvalidConfigError, UnknownParticipantError

DEFAULT_INSTRUMENTS = (
    Instrument("ACME", reference_price_ticks=10_000),
    Instrument("GLOBEX", reference_price_ticks=25_000),
    Instrument("INITECH", reference_price_ticks=4_200),
)


@dataclass(frozen=True)
class Member:
    participant: Participant
    password_hash: str
    operator: bool = False  # may use the operations view (halts, phases)
    drop_copy: bool = False  # this member's FIX sessions may also log on as a drop copy


@dataclass
class Directory:
    path: Path
    instruments: dict[str, Instrument] = field(default_factory=dict)
    members: dict[str, Member] = field(default_factory=dict)
    params: Argon2Params = DEFAULT_PARAMS
    _dummy_hash: str = ""

    @classmethod
    def load(cls, path: Path, params: Argon2Params = DEFAULT_PARAMS) -> Directory:
        """Read the file; a missing file gives the default instruments and no members."""
        directory = cls(path, params=params)
        if not path.exists():
            directory.instruments = {i.symbol: i for i in DEFAULT_INSTRUMENTS}
            return directory
        try:
            raw = json.loads(path.read_text())
            for raw_instrument in raw.get("instruments", []):
                item = {**raw_instrument, "tick_size": Decimal(raw_instrument["tick_size"])}
                directory.instruments[item["symbol"]] = Instrument(**item)
            for item in raw.get("members", []):
                directory.members[item["participant"]["participant_id"]] = Member(
                    Participant(**item["participant"]),
                    item["password_hash"],
                    item.get("operator", False),
                    item.get("drop_copy", False),
                )
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidConfigError(f"{path}: {exc}") from exc
        return directory

    def save(self) -> None:
        data = {
            "instruments": [{**asdict(i), "tick_size": str(i.tick_size)} for i in self.instruments.values()],
            "members": [asdict(m) for m in self.members.values()],
        }
        # Password hashes: readable by the owner only, from the moment the file exists.
        write_atomically(self.path, json.dumps(data, indent=2).encode(), mode=0o600)

    def set_member(
        self,
        participant_id: str,
        password: str | None = None,
        *,
        credit_limit_ticks: int | None = None,
        position_limit: int | None = None,
        operator: bool | None = None,
        drop_copy: bool | None = None,
    ) -> Member:
        """Add a member or change one; a new member needs a password."""
        if (
            not participant_id
            or len(participant_id) > 32
            or not participant_id.isascii()
            or not participant_id.replace("-", "").replace("_", "").isalnum()
        ):
            raise InvalidConfigError(
                "participant ids are 1-32 letters, digits, '-' or '_'", field="participant_id"
            )
        current = self.members.get(participant_id)
        if current is None:
            if password is None:
                raise InvalidConfigError("a new member needs a password", field="password")
            current = Member(Participant(participant_id), hash_password(password, self.params))
        elif password is not None:
            current = replace(current, password_hash=hash_password(password, self.params))
        limits = current.participant
        limits = replace(
            limits,
            credit_limit_ticks=limits.credit_limit_ticks
            if credit_limit_ticks is None
            else credit_limit_ticks,
            position_limit=limits.position_limit if position_limit is None else position_limit,
        )
        member = replace(
            current,
            participant=limits,
            operator=current.operator if operator is None else operator,
            drop_copy=current.drop_copy if drop_copy is None else drop_copy,
        )
        self.members[participant_id] = member
        return member

    def remove_member(self, participant_id: str) -> None:
        if self.members.pop(participant_id, None) is None:
            raise UnknownParticipantError(participant_id)

    def set_instrument(self, instrument: Instrument) -> None:
        if not instrument.symbol.isalnum() or len(instrument.symbol) > 12:
            raise InvalidConfigError("symbols are 1-12 letters or digits", field="symbol")
        self.instruments[instrument.symbol] = instrument

    def verify(self, participant_id: str, password: str) -> Member | None:
        """The member when the password matches; the same work is done for an unknown id."""
        member = self.members.get(participant_id)
        if member is None and not self._dummy_hash:
            # Verifying an unknown id against a real hash keeps a failed logon's timing the same.
            self._dummy_hash = hash_password("no member has this password", self.params)
        ok = verify_password(member.password_hash if member else self._dummy_hash, password)
        return member if ok and member is not None else None
