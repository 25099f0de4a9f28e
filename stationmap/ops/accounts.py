"""Who may change the registry: admins (whole city) and district editors, their API tokens, and device keys.

Stored in `DATA_DIR/accounts.sqlite` (owner-only file), or in the schema `accounts` of the registry's
PostgreSQL database when there is one (`stationmap.ops.db`). Passwords are kept only as scrypt hashes
with a per-user salt; API tokens are random, shown once, kept only as a SHA-256 hash (they carry 256
bits of entropy, so a fast hash is enough), revocable and optionally expiring. A smart station's device
key is a shared HMAC secret: the server must know it to check signatures, so it is the one secret
kept as is, in this owner-only file (or database), and never printed after issue. Failed sign-ins are
counted per account name in the same place, so every worker process and machine sees them: after
`login_max_failures` within `login_failure_window_s` that name is locked until the window has passed,
whoever tries it.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

from .. import config
from ..config import DEFAULTS
from ..errors import Conflict, Forbidden, InvalidInput, NotFound, TooManyAttempts, Unauthorized
from ..geo import geography
from ..model import Station
from .db import Place, as_place, connect, iso_utc, parse_utc, place, transaction, utc_now

FILENAME = "accounts.sqlite"
ROLES = ("admin", "editor")
TOKEN_PREFIX = "smt_"
MIN_PASSWORD = 10
_NAME = re.compile(r"^[\w.@-]{1,64}$")
_SCRYPT_R, _SCRYPT_P = 8, 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL CHECK (role IN ('admin', 'editor')),
    district TEXT,
    password TEXT,
    created_utc TEXT NOT NULL,
    disabled_utc TEXT,
    CHECK ((role = 'admin' AND district IS NULL) OR (role = 'editor' AND district IS NOT NULL))
);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    hash TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL DEFAULT '',
    created_utc TEXT NOT NULL,
    expires_utc TEXT,
    revoked_utc TEXT,
    last_used_utc TEXT
);
CREATE TABLE IF NOT EXISTS login_failures (  -- sign-in attempts per name not (yet) successful, for throttling
    name TEXT NOT NULL,
    at_utc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS login_failures_name ON login_failures (name, at_utc);
CREATE INDEX IF NOT EXISTS login_failures_at ON login_failures (at_utc);
CREATE TABLE IF NOT EXISTS devices (
    station_id TEXT PRIMARY KEY,
    secret TEXT NOT NULL,
    created_utc TEXT NOT NULL,
    revoked_utc TEXT
);
"""


@dataclass(frozen=True)
class User:
    """An account; also the `actor` of every edit and audit entry."""

    name: str
    role: str
    district: str | None = None  # adcode, editors only
    created_utc: str = ""
    disabled: bool = False

    def may_edit(self, district: str) -> bool:
        return self.role == "admin" or (self.role == "editor" and self.district == district)

    def check_district(self, district: str, what: str = "this station") -> None:
        """Raise Forbidden unless this user may change stations in `district`."""
        if not self.may_edit(district):
            self._refuse(district, what, "edits")

    def check_may_see(self, district: str, what: str = "this station") -> None:
        """Raise Forbidden unless this user may read the non-public records (telemetry, edit view) of `district`."""
        if not self.may_edit(district):
            self._refuse(district, what, "may see")

    def _refuse(self, district: str, what: str, verb: str) -> None:
        names = geography.districts()["name"]
        mine = names.get(self.district, self.district)
        raise Forbidden(f"{self.name} {verb} {mine} ({self.district}) only; {what} is in "
                        f"{names.get(district, district)} ({district})")


@dataclass(frozen=True)
class TokenInfo:
    id: str
    user: str
    label: str
    created_utc: str
    expires_utc: str | None
    revoked_utc: str | None
    last_used_utc: str | None

    def state(self, now: datetime | None = None) -> str:
        if self.revoked_utc:
            return "revoked"
        if self.expires_utc and parse_utc(self.expires_utc) <= (now or utc_now()):
            return "expired"
        return "active"


# -- passwords ---------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _work_n() -> int:
    """scrypt's n for new hashes, from the `password_work` setting."""
    return 2 ** config.load_settings()["password_work"]


def _maxmem(n: int, r: int) -> int:
    return 2 * 128 * r * n  # what scrypt needs (128·r·n bytes), with room for its own use


def hash_password(password: str) -> str:
    """'scrypt$n$r$p$salt$hash' (base64); a fresh 16-byte salt each time."""
    salt, n = secrets.token_bytes(16), _work_n()
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=_SCRYPT_R, p=_SCRYPT_P, maxmem=_maxmem(n, _SCRYPT_R),
                            dklen=32)
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"scrypt${n}${_SCRYPT_R}${_SCRYPT_P}${b64(salt)}${b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt" or not n.isdigit() or int(n) > 2 ** config.PASSWORD_WORK[1]:
        return False
    want = base64.b64decode(digest)
    got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                         maxmem=_maxmem(int(n), int(r)), dklen=len(want))
    return hmac.compare_digest(got, want)


# checked against when a name has no password, so an unknown name costs the same scrypt work as a wrong
# password; fixed (no password hashes to an all-zero digest), so even a process's first check costs no extra hash
def _dummy_hash() -> str:
    return "$".join(("scrypt", str(_work_n()), str(_SCRYPT_R), str(_SCRYPT_P), base64.b64encode(bytes(16)).decode(),
                     base64.b64encode(bytes(32)).decode()))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _user(row) -> User:
    return User(row["name"], row["role"], row["district"], row["created_utc"], bool(row["disabled_utc"]))


def _token(row) -> TokenInfo:
    return TokenInfo(row["id"], row["user"], row["label"], row["created_utc"], row["expires_utc"],
                     row["revoked_utc"], row["last_used_utc"])


class Accounts:
    """Users, tokens and device keys in one SQLite file or database schema."""

    def __init__(self, path: Place):
        self.path = as_place(path)

    def _db(self):
        return connect(self.path, SCHEMA)

    # -- users -------------------------------------------------------------------------------
    def add_user(self, name: str, role: str, district: str | None = None, password: str | None = None) -> User:
        if not _NAME.match(name or ""):
            raise InvalidInput(f"user name {name!r}: letters, digits, '.', '_', '-' or '@', at most 64")
        if role not in ROLES:
            raise InvalidInput(f"role {role!r}: use admin or editor")
        if role == "editor":
            if not district:
                raise InvalidInput("an editor needs --district (the one district they may edit)")
            district = geography.district_code(district)
        elif district:
            raise InvalidInput("an admin edits the whole city; give --district only for editors")
        else:
            district = None
        pw = _check_password(password) if password is not None else None
        with self._db() as con, transaction(con):
            if con.execute("INSERT INTO users (name, role, district, password, created_utc) VALUES (?, ?, ?, ?, ?) "
                           "ON CONFLICT (name) DO NOTHING", (name, role, district, pw, iso_utc(utc_now()))).rowcount == 0:
                raise Conflict(f"user {name!r} exists")
        return self.get_user(name)

    def get_user(self, name: str) -> User:
        with self._db() as con:
            row = con.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFound(f"no user {name!r}")
        return _user(row)

    def users(self) -> list[User]:
        with self._db() as con:
            return [_user(r) for r in con.execute("SELECT * FROM users ORDER BY name")]

    def set_password(self, name: str, password: str) -> None:
        pw = _check_password(password)
        with self._db() as con, transaction(con):
            if con.execute("UPDATE users SET password = ? WHERE name = ?", (pw, name)).rowcount == 0:
                raise NotFound(f"no user {name!r}")

    def disable_user(self, name: str) -> int:
        """Disable an account and revoke all its tokens; returns how many tokens were revoked."""
        now = iso_utc(utc_now())
        with self._db() as con, transaction(con):
            if con.execute("UPDATE users SET disabled_utc = COALESCE(disabled_utc, ?) WHERE name = ?",
                           (now, name)).rowcount == 0:
                raise NotFound(f"no user {name!r}")
            return con.execute('UPDATE tokens SET revoked_utc = ? WHERE "user" = ? AND revoked_utc IS NULL',
                               (now, name)).rowcount

    def login(self, name: str, password: str, max_failures: int = DEFAULTS["login_max_failures"],
              window_s: int = DEFAULTS["login_failure_window_s"], now: datetime | None = None) -> User:
        """The user if `password` is theirs; Unauthorized otherwise (same message and cost whether the name
        exists or not). A name that failed `max_failures` times within `window_s` seconds is refused
        (TooManyAttempts) without a password check, whoever asks, until the window has passed."""
        now = now or utc_now()
        self._count_attempt(name, max_failures, window_s, now)
        with self._db() as con:
            row = con.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()
        stored = row["password"] if row is not None and row["password"] else _dummy_hash()
        ok = verify_password(password, stored)
        if not ok or row is None or not row["password"] or row["disabled_utc"]:
            raise Unauthorized("wrong user name or password")
        with self._db() as con, transaction(con):
            con.execute("DELETE FROM login_failures WHERE name = ?", (name,))
        return _user(row)

    def _count_attempt(self, name: str, max_failures: int, window_s: int, now: datetime) -> None:
        """Refuse `name` if it failed `max_failures` times in the window; else count this attempt as a failure
        until it succeeds. Check and count are one transaction, so parallel guesses (several workers) cannot
        slip past the limit together."""
        if max_failures <= 0:
            return
        since = iso_utc(now - timedelta(seconds=window_s))
        with self._db() as con, transaction(con):
            con.execute("DELETE FROM login_failures WHERE at_utc <= ?", (since,))
            times = [r[0] for r in con.execute("SELECT at_utc FROM login_failures WHERE name = ? ORDER BY at_utc",
                                               (name,))]
            if len(times) < max_failures:
                con.execute("INSERT INTO login_failures (name, at_utc) VALUES (?, ?)", (name, iso_utc(now)))
                return
        free_at = parse_utc(times[len(times) - max_failures]) + timedelta(seconds=window_s)
        wait = max(1, math.ceil((free_at - now).total_seconds()))
        raise TooManyAttempts(f"{len(times)} failed sign-ins for {name!r} within {_duration(window_s)}; "
                              f"this name is locked: try again in {_duration(wait)}", wait)

    # -- API tokens ----------------------------------------------------------------------------
    def issue_token(self, name: str, label: str = "", ttl: timedelta | None = None) -> tuple[str, TokenInfo]:
        """A new token for `name`: (the token, shown only now; its record)."""
        user = self.get_user(name)
        if user.disabled:
            raise Conflict(f"user {name!r} is disabled")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        tid = secrets.token_hex(4)
        now = utc_now()
        expires = iso_utc(now + ttl) if ttl else None
        with self._db() as con, transaction(con):
            con.execute('INSERT INTO tokens (id, "user", hash, label, created_utc, expires_utc) VALUES (?, ?, ?, ?, ?, ?)',
                        (tid, name, _token_hash(token), label[:100], iso_utc(now), expires))
        return token, self.token(tid)

    def token(self, token_id: str) -> TokenInfo:
        with self._db() as con:
            row = con.execute("SELECT * FROM tokens WHERE id = ?", (token_id,)).fetchone()
        if row is None:
            raise NotFound(f"no token {token_id!r}")
        return _token(row)

    def tokens(self, name: str | None = None) -> list[TokenInfo]:
        where, args = ('WHERE "user" = ? ', (name,)) if name is not None else ("", ())
        with self._db() as con:
            rows = con.execute(f"SELECT * FROM tokens {where}ORDER BY created_utc", args).fetchall()
        return [_token(r) for r in rows]

    def revoke(self, name: str, token_id: str | None = None) -> int:
        """Revoke one token of `name` (by id) or all of them; returns how many were revoked."""
        self.get_user(name)
        one, args = (" AND id = ?", (token_id,)) if token_id is not None else ("", ())
        with self._db() as con, transaction(con):
            n = con.execute(f'UPDATE tokens SET revoked_utc = ? WHERE "user" = ?{one} AND revoked_utc IS NULL',
                            (iso_utc(utc_now()), name, *args)).rowcount
        if token_id and n == 0:
            info = self.token(token_id)
            if info.user != name:
                raise NotFound(f"{name!r} has no token {token_id!r}")
        return n

    def revoke_token(self, token: str) -> bool:
        """Revoke a token given as such (a logout); False if it is unknown or already revoked."""
        with self._db() as con, transaction(con):
            return con.execute("UPDATE tokens SET revoked_utc = ? WHERE hash = ? AND revoked_utc IS NULL",
                               (iso_utc(utc_now()), _token_hash(token))).rowcount > 0

    def authenticate(self, token: str | None) -> User:
        """The user a bearer token belongs to; Unauthorized if missing, unknown, expired, revoked or disabled."""
        if not token:
            raise Unauthorized("no token: send 'Authorization: Bearer <token>'")
        now = utc_now()
        with self._db() as con:
            row = con.execute("SELECT t.*, u.role, u.district, u.disabled_utc, u.created_utc AS user_created "
                              'FROM tokens t JOIN users u ON u.name = t."user" WHERE t.hash = ?',
                              (_token_hash(token),)).fetchone()
            if row is None:
                raise Unauthorized("unknown token")
            if row["revoked_utc"]:
                raise Unauthorized("token revoked")
            if row["expires_utc"] and parse_utc(row["expires_utc"]) <= now:
                raise Unauthorized("token expired")
            if row["disabled_utc"]:
                raise Unauthorized("account disabled")
            con.execute("UPDATE tokens SET last_used_utc = ? WHERE id = ?", (iso_utc(now), row["id"]))
        return User(row["user"], row["role"], row["district"], row["user_created"], False)

    # -- device keys ---------------------------------------------------------------------------
    def issue_device_key(self, station: Station) -> str:
        """A new HMAC key for a smart station (replacing any old one); shown only now."""
        if station.kind != "smart":
            raise InvalidInput(f"station {station.id} is not a smart station (kind=smart); it has no device")
        secret = secrets.token_urlsafe(32)
        with self._db() as con, transaction(con):
            con.execute("INSERT INTO devices (station_id, secret, created_utc) VALUES (?, ?, ?) "
                        "ON CONFLICT (station_id) DO UPDATE SET secret = excluded.secret, "
                        "created_utc = excluded.created_utc, revoked_utc = NULL",
                        (station.id, secret, iso_utc(utc_now())))
        return secret

    def device_key(self, station_id: str) -> bytes:
        """The station's HMAC key; Unauthorized if it has none or it was revoked."""
        with self._db() as con:
            row = con.execute("SELECT secret, revoked_utc FROM devices WHERE station_id = ?", (station_id,)).fetchone()
        if row is None or row["revoked_utc"]:
            raise Unauthorized(f"station {station_id} has no active device key")
        return row["secret"].encode()

    def revoke_device(self, station_id: str) -> bool:
        with self._db() as con, transaction(con):
            return con.execute("UPDATE devices SET revoked_utc = ? WHERE station_id = ? AND revoked_utc IS NULL",
                               (iso_utc(utc_now()), station_id)).rowcount > 0

    def devices(self) -> list[dict]:
        """Station ids with a device key and its dates (never the key)."""
        with self._db() as con:
            return [dict(station_id=r["station_id"], created_utc=r["created_utc"], revoked_utc=r["revoked_utc"])
                    for r in con.execute("SELECT station_id, created_utc, revoked_utc FROM devices ORDER BY station_id")]


def _duration(seconds: int) -> str:
    return f"{math.ceil(seconds / 60)} min" if seconds >= 120 else f"{seconds} s"


def _check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"password too short: at least {MIN_PASSWORD} characters")
    return hash_password(password)


def open_accounts(data_dir: Path | str, database_url: str | None = None) -> Accounts:
    """The accounts of `data_dir`, or of the database (`database_url`; None: from the settings)."""
    return Accounts(place(data_dir, FILENAME, database_url))
