"""The shoppers: loaded from a file (JSON, JSON Lines, CSV) or generated from the seed.

Files are read by raysim.model.records; values JSON cannot hold as they are are made
plain here, in normalise(), the one place that does it.

Sensitive fields are dropped here, once, so nothing downstream ever sees them.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import json
import logging
import math
import random
import re
from dataclasses import dataclass
from typing import Any

import orjson

from raysim.config import DEFAULT_USERS, UsersConfig
from raysim.errors import ConfigError, InputError
from raysim.model.records import read_records

logger = logging.getLogger(__name__)

__all__ = [
    "SENSITIVE_WORDS",
    "Users",
    "is_sensitive",
    "load_users",
    "normalise",
    "read_records",
]

# A key is sensitive when one of its words (split on camelCase, "_", "-", "." and
# spaces; a trailing plural "s" ignored) is in this set, e.g. "password",
# "cardNumber", "mac_address", "ipAddress", "bank", "crypto". "zip" or "shipping"
# are not: whole words are compared, never substrings.
SENSITIVE_WORDS = frozenset(
    {
        "password",
        "passwd",
        "secret",
        "token",
        "ssn",
        "card",
        "iban",
        "cvv",
        "wallet",
        "bank",
        "crypto",
        "ein",
        "mac",
        "ip",
    }
)
FALLBACK_ID_FIELD = "id"

_CAMEL_LOWER_UPPER = re.compile(r"([a-z0-9])([A-Z])")
_CAMEL_ACRONYM = re.compile(r"([A-Z]+)([A-Z][a-z])")
_WORD_SPLIT = re.compile(r"[^A-Za-z0-9]+")
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1  # what orjson writes as a JSON integer

_FIRST_NAMES = (
    "Ava", "Liam", "Mia", "Noah", "Zoe", "Ethan", "Lena", "Omar", "Sofia", "Mateo",
    "Hana", "Ravi", "Chloe", "Lucas", "Amara", "Jonas", "Priya", "Diego", "Elif",
    "Kenji", "Nora", "Felix", "Ines", "Tariq", "Maya", "Oscar", "Yara", "Hugo",
    "Leila", "Arjun",
)  # fmt: skip
_LAST_NAMES = (
    "Walker", "Ibrahim", "Novak", "Tanaka", "Moreau", "Okafor", "Lindqvist", "Reyes",
    "Kowalski", "Haddad", "Brennan", "Castillo", "Fischer", "Mensah", "Sato",
    "Petrov", "Duarte", "Kapoor", "Ortega", "Whitfield", "Adeyemi", "Larsen",
    "Varga", "Quinn", "Rossi",
)  # fmt: skip
_PLACES = (
    ("United States", "New York", 0.14),
    ("United States", "Austin", 0.08),
    ("United States", "Seattle", 0.07),
    ("United States", "Chicago", 0.07),
    ("United Kingdom", "London", 0.09),
    ("United Kingdom", "Manchester", 0.04),
    ("Germany", "Berlin", 0.07),
    ("Germany", "Munich", 0.04),
    ("France", "Lyon", 0.05),
    ("Canada", "Toronto", 0.06),
    ("Australia", "Melbourne", 0.05),
    ("Spain", "Valencia", 0.04),
    ("Netherlands", "Utrecht", 0.03),
    ("Japan", "Osaka", 0.04),
    ("Brazil", "Curitiba", 0.04),
    ("India", "Pune", 0.03),
)
_EMAIL_DOMAINS = ("example.com", "example.org", "example.net")
_SIGNUP_FIRST_DAY = dt.date(2019, 1, 1).toordinal()
_SIGNUP_LAST_DAY = dt.date(2025, 12, 31).toordinal()


@dataclass(frozen=True)
class Users:
    """The users of a run, each a dict whose first key is "user_id" (a str)."""

    records: list[dict]
    dropped_fields: tuple[str, ...]
    source: str


def normalise(value: Any) -> Any:
    """Return value with everything orjson cannot serialize as it is made plain.

    The one place where such values are handled; the output never depends on the local
    time zone. Decimal becomes float; datetime an ISO 8601 UTC string ending in Z (naive
    means UTC, never local time); date and time ISO strings; UUID, Path and other
    objects their str(); numpy scalars and arrays their Python values; integers beyond
    64 bits strings; NaN and infinities null; bytes UTF-8 text; tuples lists; sets
    sorted lists; and keys that are not strings JSON-style strings ("1", "true").
    """
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, int):
        return value if _INT_MIN <= value <= _INT_MAX else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {_key(key): normalise(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [normalise(item) for item in value]
    if isinstance(value, (set, frozenset)):
        return sorted((normalise(item) for item in value), key=_order)
    if isinstance(value, decimal.Decimal):
        return normalise(float(value))
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value.isoformat(timespec="milliseconds") + "Z"
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "backslashreplace")
    if isinstance(value, enum.Enum):
        return normalise(value.value)
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        return normalise(value.tolist())  # numpy scalars and arrays, without numpy
    return str(value)  # UUID, Path, IP addresses and anything else orjson refuses


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    plain = normalise(key)
    return plain if isinstance(plain, str) else orjson.dumps(plain).decode()


def _order(value: Any) -> tuple[str, str]:
    return (
        type(value).__name__,
        orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode(),
    )


def is_sensitive(key: str) -> bool:
    """Tell whether a field name is sensitive (see SENSITIVE_WORDS)."""
    spaced = _CAMEL_ACRONYM.sub(r"\1_\2", _CAMEL_LOWER_UPPER.sub(r"\1_\2", key))
    for word in _WORD_SPLIT.split(spaced.lower()):
        if word in SENSITIVE_WORDS:
            return True
        if word.endswith("s") and word[:-1] in SENSITIVE_WORDS:
            return True
    return False


def load_users(config: UsersConfig, seed: int) -> Users:
    """Load config.path, or generate config.generate (default 1000) users."""
    if config.path is not None:
        return _load_file(config, config.path)
    count = DEFAULT_USERS if config.generate is None else config.generate
    return _generate(count, seed)


def _load_file(config: UsersConfig, path: str) -> Users:
    entries = read_records(path, "users", config.max_bytes)
    if not entries:
        raise InputError(f"users file {path} contains no users; expected at least one.")
    keep = frozenset(config.keep_fields)
    dropped: dict[str, None] = {}
    seen: dict[str, str] = {}
    records = []
    for location, raw in entries:
        if not isinstance(raw, dict):
            raise InputError(
                f"users file {path} {location} is a {_type_name(raw)}, expected an "
                f"object: {_preview(raw)}."
            )
        id_field = config.id_field if config.id_field in raw else FALLBACK_ID_FIELD
        if id_field not in raw:
            raise InputError(
                f"users file {path} {location} has no {config.id_field!r} field (nor "
                f"{FALLBACK_ID_FIELD!r}); every user needs an id (set users.id_field); "
                f"its fields: {_preview(', '.join(map(str, raw)))}."
            )
        value = raw[id_field]
        if value is None or value == "" or isinstance(value, (dict, list, bool)):
            raise InputError(
                f"users file {path} {location} field {id_field!r} must be a non-empty "
                f"string or number, got {_preview(value)}."
            )
        user_id = str(value)
        if user_id in seen:
            raise InputError(
                f"users file {path} {location} repeats id {user_id!r}, first seen at "
                f"{seen[user_id]}; ids must be unique."
            )
        seen[user_id] = location
        record: dict[str, Any] = {"user_id": user_id}
        rest = {key: item for key, item in raw.items() if key != id_field}
        record.update(_scrub(normalise(rest), "", keep, dropped))
        records.append(record)
    if dropped:
        logger.info(
            "dropped sensitive user fields %s from %s; list them in users.keep_fields "
            "to keep them",
            ", ".join(dropped),
            path,
        )
    return Users(records=records, dropped_fields=tuple(dropped), source=path)


def _scrub(
    value: dict[str, Any], prefix: str, keep: frozenset[str], dropped: dict[str, None]
) -> dict[str, Any]:
    """Drop the sensitive keys of value; record each dropped dotted path in dropped.

    A key listed in keep (by name or dotted path) is kept whole. A sensitive object
    with a kept path inside it keeps only those kept paths.
    """
    out: dict[str, Any] = {}
    for key, item in value.items():
        path = f"{prefix}{key}"
        if key in keep or path in keep:
            out[key] = item
        elif is_sensitive(key):
            inner = f"{path}."
            if isinstance(item, dict) and any(name.startswith(inner) for name in keep):
                out[key] = _keep_only(item, path, keep, dropped)
            else:
                dropped[path] = None
        elif isinstance(item, dict):
            out[key] = _scrub(item, f"{path}.", keep, dropped)
        elif isinstance(item, list):
            out[key] = [
                _scrub(element, f"{path}.", keep, dropped)
                if isinstance(element, dict)
                else element
                for element in item
            ]
        else:
            out[key] = item
    return out


def _keep_only(
    value: dict[str, Any], prefix: str, keep: frozenset[str], dropped: dict[str, None]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        path = f"{prefix}.{key}"
        if path in keep:
            out[key] = item
        elif isinstance(item, dict) and any(
            name.startswith(f"{path}.") for name in keep
        ):
            out[key] = _keep_only(item, path, keep, dropped)
        else:
            dropped[path] = None
    return out


def _generate(count: int, seed: int) -> Users:
    if count < 1:
        raise ConfigError(f"users.generate must be >= 1, got {count}.")
    rng = random.Random(f"users:{seed}")
    width = max(6, len(str(count)))
    weights = [place[2] for place in _PLACES]
    records = []
    for number in range(1, count + 1):
        first = rng.choice(_FIRST_NAMES)
        last = rng.choice(_LAST_NAMES)
        country, city, _ = rng.choices(_PLACES, weights)[0]
        user_id = f"u{number:0{width}d}"
        email = f"{first}.{last}.{number}@{rng.choice(_EMAIL_DOMAINS)}".lower()
        signup = dt.date.fromordinal(rng.randint(_SIGNUP_FIRST_DAY, _SIGNUP_LAST_DAY))
        records.append(
            {
                "user_id": user_id,
                "firstName": first,
                "lastName": last,
                "email": email,
                "age": min(90, max(18, int(rng.gauss(38, 13)))),
                "gender": "female" if rng.random() < 0.52 else "male",
                "address": {"city": city, "country": country},
                "signupDate": signup.isoformat(),
            }
        )
    return Users(records=records, dropped_fields=(), source=f"generated:{count}")


def _type_name(value: Any) -> str:
    names = {list: "list", str: "string", int: "number", float: "number"}
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return names.get(type(value), type(value).__name__)


def _preview(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."
