"""The shoppers: loaded from a file (JSON, JSON Lines, CSV) or generated from the seed.

Sensitive fields are dropped here, once, so nothing downstream ever sees them.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import json
import logging
import os
import random
import re
from dataclasses import dataclass
from typing import Any

from raysim.config import DEFAULT_USERS, UsersConfig
from raysim.errors import ConfigError, InputError

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
JSON_LINES_SUFFIXES = (".jsonl", ".ndjson")
CSV_SUFFIXES = (".csv",)
FALLBACK_ID_FIELD = "id"

_CAMEL_LOWER_UPPER = re.compile(r"([a-z0-9])([A-Z])")
_CAMEL_ACRONYM = re.compile(r"([A-Z]+)([A-Z][a-z])")
_WORD_SPLIT = re.compile(r"[^A-Za-z0-9]+")

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
    """Return value with what orjson cannot serialize made plain, recursively.

    Decimal becomes float; datetime becomes an ISO 8601 UTC string ending in Z (naive
    means UTC); date and time become ISO strings; tuples and sets become lists.
    """
    if isinstance(value, dict):
        return {str(key): normalise(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [normalise(item) for item in value]
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value.isoformat(timespec="milliseconds") + "Z"
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return value


def is_sensitive(key: str) -> bool:
    """Tell whether a field name is sensitive (see SENSITIVE_WORDS)."""
    spaced = _CAMEL_ACRONYM.sub(r"\1_\2", _CAMEL_LOWER_UPPER.sub(r"\1_\2", key))
    for word in _WORD_SPLIT.split(spaced.lower()):
        if word in SENSITIVE_WORDS:
            return True
        if word.endswith("s") and word[:-1] in SENSITIVE_WORDS:
            return True
    return False


def read_records(path: str, kind: str) -> list[tuple[str, Any]]:
    """Read a JSON list, a [[...]] list, JSON Lines or CSV file.

    Returns (location, record) pairs, where location reads "record [3]" or "line 4"
    for error messages. Raises InputError naming the file for anything unreadable.
    """
    if not os.path.exists(path):
        raise InputError(f"{kind} file {path} does not exist.")
    if os.path.isdir(path):
        raise InputError(f"{kind} file {path} is a directory, expected a file.")
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{kind} file {path} cannot be read: {exc}.") from exc
    if not text.strip():
        raise InputError(f"{kind} file {path} is empty; expected a list of {kind}.")
    lower = path.lower()
    if lower.endswith(CSV_SUFFIXES):
        return _read_csv(path, text, kind)
    if lower.endswith(JSON_LINES_SUFFIXES):
        return _read_json_lines(path, text, kind)
    return _read_json(path, text, kind)


def _read_json(path: str, text: str, kind: str) -> list[tuple[str, Any]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{kind} file {path} is not valid JSON: {exc.msg} at line {exc.lineno} "
            f"column {exc.colno}."
        ) from exc
    if isinstance(data, dict) and isinstance(data.get(kind), list):
        data = data[kind]  # the {"users": [...], "total": ...} shape of a REST API
    if not isinstance(data, list):
        raise InputError(
            f"{kind} file {path} holds a JSON {type(data).__name__}, expected a list "
            f"of {kind} objects."
        )
    if data and all(isinstance(item, list) for item in data):
        data = [item for chunk in data for item in chunk]
    return [(f"record [{index}]", item) for index, item in enumerate(data)]


def _read_json_lines(path: str, text: str, kind: str) -> list[tuple[str, Any]]:
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append((f"line {number}", json.loads(line)))
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{kind} file {path} line {number} is not valid JSON: {exc.msg} at "
                f"column "
                f"{exc.colno}."
            ) from exc
    return records


def _read_csv(path: str, text: str, kind: str) -> list[tuple[str, Any]]:
    reader = csv.DictReader(text.splitlines(keepends=True))
    if not reader.fieldnames:
        raise InputError(f"{kind} file {path} has no CSV header row.")
    records = []
    try:
        for row in reader:
            if None in row:
                raise InputError(
                    f"{kind} file {path} line {reader.line_num} has more values "
                    f"than the {len(reader.fieldnames)} columns its header names."
                )
            records.append((f"line {reader.line_num}", dict(row)))
    except csv.Error as exc:
        raise InputError(
            f"{kind} file {path} line {reader.line_num} is not valid CSV: {exc}."
        ) from exc
    return records


def load_users(config: UsersConfig, seed: int) -> Users:
    """Load config.path, or generate config.generate (default 1000) users."""
    if config.path is not None:
        return _load_file(config, config.path)
    count = DEFAULT_USERS if config.generate is None else config.generate
    return _generate(count, seed)


def _load_file(config: UsersConfig, path: str) -> Users:
    entries = read_records(path, "users")
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
                f"{FALLBACK_ID_FIELD!r}); every user needs an id."
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
