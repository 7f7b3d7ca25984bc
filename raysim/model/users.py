"""The shoppers: loaded from a file (JSON, JSON Lines, CSV) or generated from the seed.

Sensitive fields are dropped here, once, so nothing downstream ever sees them.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import enum
import json
import logging
import math
import os
import random
import re
from dataclasses import dataclass
from typing import Any

import orjson

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
_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
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


def read_records(
    path: str, kind: str, max_bytes: int | None = None
) -> list[tuple[str, Any]]:
    """Read a JSON list, a [[...]] list, JSON Lines or CSV file.

    Returns (location, record) pairs, where location reads "line 4 (record [3])" or
    "line 4" for error messages. JSON Lines and CSV are read line by line; a JSON list
    is read whole, so a file over max_bytes is refused before it is read. Raises
    InputError naming the file for anything unreadable.
    """
    if not os.path.exists(path):
        raise InputError(f"{kind} file {path} does not exist.")
    if os.path.isdir(path):
        raise InputError(f"{kind} file {path} is a directory, expected a file.")
    size = os.path.getsize(path)
    if max_bytes is not None and size > max_bytes:
        key = "users.max_bytes" if kind == "users" else "catalog.max_bytes"
        raise InputError(
            f"{kind} file {path} is {size:,} bytes, over {key} ({max_bytes:,}); "
            f"raise {key} or use a smaller file."
        )
    lower = path.lower()
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            if lower.endswith(CSV_SUFFIXES):
                records = _read_csv(path, handle, kind)
            elif lower.endswith(JSON_LINES_SUFFIXES):
                records = _read_json_lines(path, handle, kind)
            else:
                records = _read_json(path, handle.read(), kind)
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{kind} file {path} cannot be read: {exc}.") from exc
    return records


def _empty(path: str, kind: str) -> InputError:
    return InputError(f"{kind} file {path} is empty; expected a list of {kind}.")


def _read_json(path: str, text: str, kind: str) -> list[tuple[str, Any]]:
    if not text.strip():
        raise _empty(path, kind)
    items = _scan_list(text, 0, whole=True)
    if items is None:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{kind} file {path} is not valid JSON: {exc.msg} at line "
                f"{exc.lineno} column {exc.colno}."
            ) from exc
        if isinstance(data, dict) and isinstance(data.get(kind), list):
            data = data[kind]  # the {"users": [...], "total": ...} shape of a REST API
        if not isinstance(data, list):
            raise InputError(
                f"{kind} file {path} holds a JSON {type(data).__name__}, expected a "
                f"list of {kind} objects."
            )
        items = [(None, item) for item in data]
    if items and all(isinstance(item, list) for _, item in items):
        flat: list[tuple[int | None, Any]] = []
        for at, item in items:
            inner = _scan_list(text, at) if at is not None else None
            flat.extend(inner if inner is not None else [(None, x) for x in item])
        items = flat
    lines = _lines(text, [at for at, _ in items])
    return [
        (f"record [{i}]" if line is None else f"line {line} (record [{i}])", item)
        for i, (line, (_, item)) in enumerate(zip(lines, items, strict=True))
    ]


def _scan_list(
    text: str, start: int, whole: bool = False
) -> list[tuple[int | None, Any]] | None:
    """The items of the JSON list at text[start:], each with its offset in text.

    None when there is no such list, or it is not valid JSON: json.loads then says why.
    With whole, the list must also be all the text holds.
    """
    pos = _WS.match(text, start).end()
    if not text.startswith("[", pos):
        return None
    items: list[tuple[int | None, Any]] = []
    pos = _WS.match(text, pos + 1).end()
    if text.startswith("]", pos):
        pos += 1
    else:
        while True:
            try:
                item, end = _DECODER.raw_decode(text, pos)
            except json.JSONDecodeError:
                return None
            items.append((pos, item))
            pos = _WS.match(text, end).end()
            if text.startswith(",", pos):
                pos = _WS.match(text, pos + 1).end()
            elif text.startswith("]", pos):
                pos += 1
                break
            else:
                return None
    if whole and _WS.match(text, pos).end() != len(text):
        return None
    return items


def _lines(text: str, offsets: list[int | None]) -> list[int | None]:
    """The line of each offset; offsets given in increasing order."""
    line, counted, found = 1, 0, []
    for at in offsets:
        if at is None:
            found.append(None)
            continue
        line += text.count("\n", counted, at)
        counted = at
        found.append(line)
    return found


def _read_json_lines(path: str, handle: Any, kind: str) -> list[tuple[str, Any]]:
    records = []
    blank = True
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        blank = False
        try:
            records.append((f"line {number}", json.loads(line.rstrip("\r\n"))))
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{kind} file {path} line {number} is not valid JSON: {exc.msg} at "
                f"column {exc.colno}."
            ) from exc
    if blank:
        raise _empty(path, kind)
    return records


def _read_csv(path: str, handle: Any, kind: str) -> list[tuple[str, Any]]:
    reader = csv.DictReader(handle)
    records = []
    try:
        if not reader.fieldnames:
            raise _empty(path, kind)
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
