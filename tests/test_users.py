"""Tests for raysim.model.users: formats, ids, sensitive fields, generation, errors."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import json
import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path

import orjson
import pytest

from raysim.config import UsersConfig
from raysim.errors import InputError
from raysim.model import SAMPLE_USERS_PATH
from raysim.model.users import is_sensitive, load_users, normalise

PEOPLE = [
    {"id": 7, "name": "Ana", "address": {"city": "Lyon", "country": "France"}},
    {"id": "b8", "name": "Ben", "address": {"city": "Oslo", "country": "Norway"}},
]


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def load(path: str, **kwargs: object) -> list[dict]:
    config = UsersConfig(path=path, **kwargs)  # type: ignore[arg-type]
    return load_users(config, seed=0).records


def test_load_users_reads_a_json_list(tmp_path: Path) -> None:
    users = load_users(
        UsersConfig(path=write(tmp_path, "u.json", json.dumps(PEOPLE))), 0
    )
    assert users.records == [
        {
            "user_id": "7",
            "name": "Ana",
            "address": {"city": "Lyon", "country": "France"},
        },
        {
            "user_id": "b8",
            "name": "Ben",
            "address": {"city": "Oslo", "country": "Norway"},
        },
    ]
    assert list(users.records[0])[0] == "user_id"
    assert users.source.endswith("u.json")
    assert users.dropped_fields == ()


def test_load_users_reads_a_list_inside_a_list(tmp_path: Path) -> None:
    records = load(write(tmp_path, "u.json", json.dumps([PEOPLE])))
    assert [r["user_id"] for r in records] == ["7", "b8"]


def test_load_users_reads_json_lines(tmp_path: Path) -> None:
    text = "\n".join(json.dumps(p) for p in PEOPLE) + "\n\n"
    for suffix in ("jsonl", "ndjson"):
        records = load(write(tmp_path, f"u.{suffix}", text))
        assert [r["user_id"] for r in records] == ["7", "b8"]
        assert records[1]["address"]["city"] == "Oslo"


def test_load_users_reads_csv_with_a_bom_and_keeps_strings(tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    path.write_bytes("\ufeffid,name,age\n1,Ana,31\n2,Ben,40\n".encode())
    records = load(str(path))
    assert records == [
        {"user_id": "1", "name": "Ana", "age": "31"},
        {"user_id": "2", "name": "Ben", "age": "40"},
    ]


def test_load_users_prefers_the_configured_id_field(tmp_path: Path) -> None:
    rows = [{"customer_id": "c1", "id": 1}, {"customer_id": "c2", "id": 2}]
    records = load(write(tmp_path, "u.json", json.dumps(rows)), id_field="customer_id")
    assert records == [{"user_id": "c1", "id": 1}, {"user_id": "c2", "id": 2}]


def test_load_users_keeps_a_user_id_field_as_is(tmp_path: Path) -> None:
    records = load(write(tmp_path, "u.json", json.dumps([{"user_id": 5, "x": 1}])))
    assert records == [{"user_id": "5", "x": 1}]


def test_load_users_drops_sensitive_fields_and_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="raysim.model.users"):
        users = load_users(UsersConfig(path=SAMPLE_USERS_PATH), 0)
    assert len(users.records) == 40
    assert set(users.dropped_fields) == {
        "password",
        "ip",
        "macAddress",
        "bank",
        "ein",
        "ssn",
        "crypto",
    }
    for record in users.records:
        assert not set(record) & set(users.dropped_fields)
        assert "city" in record["address"] and "title" in record["company"]
    lines = [r for r in caplog.records if "dropped sensitive" in r.getMessage()]
    assert len(lines) == 1
    assert "macAddress" in lines[0].getMessage()
    assert "keep_fields" in lines[0].getMessage()


def test_load_users_drops_nested_sensitive_fields_by_dotted_path(
    tmp_path: Path,
) -> None:
    rows = [
        {
            "id": 1,
            "zip": "123",
            "shipping": "fast",
            "login": {"accessToken": "t", "lastSeen": "x"},
            "devices": [{"ipAddress": "10.0.0.1", "os": "ios"}],
        }
    ]
    users = load_users(UsersConfig(path=write(tmp_path, "u.json", json.dumps(rows))), 0)
    assert users.records == [
        {
            "user_id": "1",
            "zip": "123",
            "shipping": "fast",
            "login": {"lastSeen": "x"},
            "devices": [{"os": "ios"}],
        }
    ]
    assert users.dropped_fields == ("login.accessToken", "devices.ipAddress")


def test_load_users_keeps_fields_listed_in_keep_fields(tmp_path: Path) -> None:
    rows = [
        {
            "id": 1,
            "ip": "10.0.0.1",
            "ssn": "000",
            "bank": {"iban": "XX00", "cardNumber": "4000", "currency": "EUR"},
        }
    ]
    path = write(tmp_path, "u.json", json.dumps(rows))
    users = load_users(UsersConfig(path=path, keep_fields=("ip", "bank.iban")), 0)
    assert users.records == [
        {"user_id": "1", "ip": "10.0.0.1", "bank": {"iban": "XX00"}}
    ]
    assert users.dropped_fields == ("ssn", "bank.cardNumber", "bank.currency")
    whole = load_users(UsersConfig(path=path, keep_fields=("bank",)), 0)
    assert whole.records[0]["bank"] == rows[0]["bank"]


@pytest.mark.parametrize(
    "key",
    ["password", "passwordHash", "api_secret", "accessToken", "ssn", "cardNumber",
     "iban", "cvv", "wallet", "bank", "crypto", "ein", "macAddress", "mac_address",
     "ip", "ipAddress", "IPAddress", "creditCards"],
)  # fmt: skip
def test_is_sensitive_matches_whole_words(key: str) -> None:
    assert is_sensitive(key)


@pytest.mark.parametrize(
    "key",
    ["zip", "shipping", "description", "weight", "email", "firstName", "machine",
     "recipe", "banking", "tokenizer_name"],
)  # fmt: skip
def test_is_sensitive_ignores_substrings(key: str) -> None:
    assert not is_sensitive(key)


def test_normalise_makes_values_orjson_can_serialize() -> None:
    value = {
        "amount": decimal.Decimal("12.50"),
        "at": dt.datetime(2026, 1, 2, 3, 4, 5, 678000),
        "aware": dt.datetime(
            2026, 1, 2, 4, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=1))
        ),
        "day": dt.date(2026, 1, 2),
        "tags": ("a", "b"),
        "nested": [{"n": decimal.Decimal("1")}],
    }
    plain = normalise(value)
    assert plain == {
        "amount": 12.5,
        "at": "2026-01-02T03:04:05.678Z",
        "aware": "2026-01-02T03:04:05.000Z",
        "day": "2026-01-02",
        "tags": ["a", "b"],
        "nested": [{"n": 1.0}],
    }
    orjson.dumps(plain)


def test_generate_users_is_deterministic_from_the_seed() -> None:
    first = load_users(UsersConfig(generate=50), seed=3)
    again = load_users(UsersConfig(generate=50), seed=3)
    other = load_users(UsersConfig(generate=50), seed=4)
    assert first.records == again.records
    assert first.records != other.records
    assert first.source == "generated:50"
    assert [r["user_id"] for r in first.records[:2]] == ["u000001", "u000002"]
    assert len({r["user_id"] for r in first.records}) == 50
    sample = first.records[0]
    for key in ("firstName", "lastName", "email", "age", "gender", "signupDate"):
        assert key in sample
    assert {"city", "country"} <= set(sample["address"])
    orjson.dumps(first.records)


def test_load_users_generates_the_default_count_without_a_path() -> None:
    assert len(load_users(UsersConfig(), seed=0).records) == 1000


def test_load_users_rejects_a_missing_file(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.json")
    with pytest.raises(InputError, match=r"users file .*nope\.json does not exist"):
        load(missing)


@pytest.mark.parametrize(
    ("name", "text", "pattern"),
    [
        ("empty.json", "  \n", r"empty\.json is empty"),
        ("bad.json", "[{oops", r"bad\.json is not valid JSON: .* line 1 column 3"),
        ("scalar.json", "42", r"scalar\.json holds a JSON int, expected a list"),
        ("none.json", "[]", r"none\.json contains no users"),
        ("str.json", '[{"id": 1}, "Ana"]', r"\(record \[1\]\) is a string.*\"Ana\""),
        ("noid.json", '[{"id": 1}, {"name": "x"}]', r"\[1\]\) has no 'user_id'"),
        ("null.json", '[{"id": null}]', r"\(record \[0\]\) field 'id' .* got null"),
        ("dup.json", '[{"id": 1}, {"id": "2"}, {"id": "1"}]',
         r"\(record \[2\]\) repeats id '1', first seen at .*\[0\]"),
        ("bad.jsonl", '{"id": 1}\n\n{"id": 2\n', r"line 3 is not valid JSON"),
        ("list.jsonl", '{"id": 1}\n[1]\n', r"line 2 is a list"),
        ("ragged.csv", "id,name\n1,Ana\n2,Ben,extra\n", r"line 3 has more values"),
        ("blank.csv", "id,name\n,Ana\n", r"line 2 field 'id' .* got \"\""),
    ],
)  # fmt: skip
def test_load_users_rejects_bad_input_naming_file_and_record(
    tmp_path: Path, name: str, text: str, pattern: str
) -> None:
    with pytest.raises(InputError, match=pattern) as caught:
        load(write(tmp_path, name, text))
    message = str(caught.value)
    assert str(tmp_path / name) in message
    assert "\n" not in message


class Colour(enum.Enum):
    RED = "red"


def test_normalise_handles_every_value_orjson_refuses() -> None:
    value = {
        "price": decimal.Decimal("19.90"),
        "ref": uuid.UUID(int=7),
        uuid.UUID(int=8): "uuid key",
        3: "int key",
        (1, 2): "tuple key",
        "at": dt.datetime(2026, 3, 29, 2, 30),  # naive: a time Berlin skips
        "huge": 2**70,
        "nan": float("nan"),
        "tags": {"b", "a"},
        "raw": b"ok",
        "colour": Colour.RED,
        "home": Path("/srv/data"),
        "wait": dt.timedelta(minutes=2),
    }
    with pytest.raises(TypeError):
        orjson.dumps(value)
    assert normalise(value) == {
        "price": 19.9,
        "ref": "00000000-0000-0000-0000-000000000007",
        "00000000-0000-0000-0000-000000000008": "uuid key",
        "3": "int key",
        "[1,2]": "tuple key",
        "at": "2026-03-29T02:30:00.000Z",
        "huge": "1180591620717411303424",
        "nan": None,
        "tags": ["a", "b"],
        "raw": "ok",
        "colour": "red",
        "home": "/srv/data",
        "wait": 120.0,
    }
    orjson.dumps(normalise(value))


def test_normalise_makes_numpy_values_plain() -> None:
    np = pytest.importorskip("numpy")
    value = {
        "n": np.int64(3),
        "x": np.float32(0.5),
        "v": np.arange(2),
        "b": np.bool_(1),
    }
    plain = normalise(value)
    assert plain == {"n": 3, "x": 0.5, "v": [0, 1], "b": True}
    assert type(plain["n"]) is int and type(plain["b"]) is bool


# Run in a fresh interpreter under two time zones; its output must not change.
TZ_SCRIPT = """
import datetime as dt, decimal, sys, uuid
import orjson
from raysim.clock import Clock
from raysim.config import CatalogConfig, UsersConfig, load_config
from raysim.model import Journey, load_catalog, load_users
from raysim.model.users import normalise

config = load_config(sys.argv[1])
users = load_users(UsersConfig(path=sys.argv[2], id_field="id"), 0).records
start = Clock.start(config.clock, wall_now_s=0.0).sim_epoch_s
journey = Journey(config.store, load_catalog(CatalogConfig(generate=20), 0),
                  config.simulation.session_duration_s, 0)
out = [normalise({"at": dt.datetime(2026, 3, 29, 2, 30), uuid.UUID(int=1): 1,
                  "d": decimal.Decimal("1.5"), "day": dt.date(2026, 10, 25)})]
for number, user in enumerate(users):
    out.append(journey.user_record(user, start + number)[2])
    out.extend(record for _, _, record in journey.session(user, 1, start + number))
sys.stdout.buffer.write(orjson.dumps(out))
"""


def test_output_is_the_same_in_every_time_zone(tmp_path: Path) -> None:
    users = [
        {"id": 1, "signup": "2026-03-29T02:30:00", "born": "1990-01-01"},
        {"id": 2, "signup": "2026-10-25T02:30:00+02:00", "lastSeen": 1774747800},
    ]
    users_path = write(tmp_path, "u.json", json.dumps(users))
    config = write(
        tmp_path,
        "exp.yaml",
        "clock: {mode: accelerated, speed: 60, start: 2026-03-29T01:59:00}\n",
    )
    script = write(tmp_path, "dump.py", TZ_SCRIPT)
    outputs = []
    for zone in ("UTC", "Europe/Berlin", "America/New_York"):
        env = {**os.environ, "TZ": zone}
        result = subprocess.run(
            [sys.executable, script, config, users_path],
            env=env,
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr.decode()
        outputs.append(result.stdout)
    assert outputs[0] and outputs[0] == outputs[1] == outputs[2]
    records = json.loads(outputs[0])
    assert records[0]["at"] == "2026-03-29T02:30:00.000Z"
    assert records[1]["event_time"] == "2026-03-29T01:59:00.000Z"
    assert records[1]["signup"] == "2026-03-29T02:30:00"  # user text is kept as written
