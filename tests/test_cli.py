"""Tests for the command line: bad input is refused in one line with exit code 2.

Nothing here starts Ray or Kafka: a run that gets past every check stops at the first
step that would connect to Ray.
"""

from __future__ import annotations

import json
import subprocess
import sys
import traceback
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from clisupport import StartAttempted, offline_cli  # noqa: F401

from raysim.cli import cli
from raysim.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
QUICKSTART = REPO / "configs" / "quickstart.yaml"
COMMANDS = ("run", "validate")
SMALL_INPUTS = "users:\n  generate: 3\ncatalog:\n  generate: 3\n"
SECRET_VAR = "RAYSIM_TEST_SASL_PASSWORD"
SECRET_VALUE = "pw-7f3c1e9a-never-printed"
HELP_TIMEOUT_S = 60


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "experiment.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def write_input(tmp_path: Path, section: str, name: str, text: str) -> Path:
    """A config that reads `section` from the file `name`, holding text."""
    (tmp_path / name).write_text(text, encoding="utf-8")
    other = "catalog" if section == "users" else "users"
    return write_config(
        tmp_path, f"{section}:\n  path: {name}\n{other}:\n  generate: 3\n"
    )


def refusal(result: Result, kind: str) -> str:
    """The one line a refused command printed, after checking how it ended."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{kind}: ")
    return lines[0]


# Broken configs

CONFIG_CASES = [
    pytest.param(
        "simulation:\n  concurency: 5\n",
        2,
        "simulation.concurency",
        "unknown key; did you mean 'concurrency'?",
        id="unknown-key",
    ),
    pytest.param(
        'simulation:\n  concurrency: "many"\n',
        2,
        "simulation.concurrency",
        "must be an integer >= 1, got 'many'",
        id="wrong-type",
    ),
    pytest.param(
        "simulation:\n  concurrency: 0\n",
        2,
        "simulation.concurrency",
        "must be an integer >= 1, got 0",
        id="out-of-range",
    ),
    pytest.param(
        "simulation:\n  gap_s: {min: 10, max: 5}\n",
        2,
        "simulation.gap_s",
        "min must not be greater than max, got {'min': 10, 'max': 5}",
        id="min-over-max",
    ),
    pytest.param(
        "name: first\nseed: 1\nname: second\n",
        3,
        "name",
        "duplicate key, first at line 1",
        id="duplicate-key",
    ),
    pytest.param(
        "name: demo\nseed: 1: 2\n",
        2,
        None,
        "YAML syntax error: mapping values are not allowed here",
        id="yaml-syntax",
    ),
    pytest.param(
        "simulation:\n\tconcurrency: 5\n",
        2,
        None,
        "indentation uses a tab; YAML indents with spaces only",
        id="tab-indent",
    ),
    pytest.param(
        "clock:\n  mode: warp\n",
        2,
        "clock.mode",
        "must be one of 'realtime', 'accelerated', 'backfill', got 'warp'",
        id="clock-mode",
    ),
    pytest.param(
        'kafka:\n  topics:\n    orders: "bad/name"\n',
        3,
        "kafka.topics.orders",
        "must be a Kafka topic name",
        id="topic-name",
    ),
    pytest.param(
        'kafka:\n  bootstrap_servers: "${RAYSIM_TEST_UNSET_VAR}"\n',
        2,
        "kafka.bootstrap_servers",
        "environment variable RAYSIM_TEST_UNSET_VAR is not set and has no default",
        id="unset-env-var",
    ),
]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(("text", "line", "key", "rule"), CONFIG_CASES)
def test_bad_config_is_refused_in_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: str,
    text: str,
    line: int,
    key: str | None,
    rule: str,
) -> None:
    monkeypatch.delenv("RAYSIM_TEST_UNSET_VAR", raising=False)
    config = write_config(tmp_path, text)
    message = refusal(invoke(command, str(config)), "ConfigError")
    where = f"ConfigError: {config}:{line}: "
    assert message.startswith(where + (f"{key}: " if key else ""))
    assert rule in message


def test_bad_config_topic_name_shows_the_value(tmp_path: Path) -> None:
    config = write_config(tmp_path, 'kafka:\n  topics:\n    orders: "bad/name"\n')
    message = refusal(invoke("validate", str(config)), "ConfigError")
    assert message.endswith(", got 'bad/name'")


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(
    ("override", "rule"),
    [
        pytest.param(
            "simulation.concurrency=-3",
            "must be an integer >= 1, got -3",
            id="out-of-range",
        ),
        pytest.param(
            "simulation.concurrency",
            "expected KEY=VALUE, e.g. --set simulation.concurrency=200",
            id="no-equals",
        ),
    ],
)
def test_bad_set_is_refused_in_one_line(
    tmp_path: Path, command: str, override: str, rule: str
) -> None:
    config = write_config(tmp_path, SMALL_INPUTS)
    result = invoke(command, str(config), "--set", override)
    message = refusal(result, "ConfigError")
    assert message == f"ConfigError: --set simulation.concurrency: {rule}"


# Broken input files

INPUT_CASES = [
    pytest.param(
        "users",
        "users.json",
        "",
        "users file {path} is empty",
        id="users-empty",
    ),
    pytest.param(
        "users",
        "users.json",
        '[{"id": 1},\n {"id": 2,}]\n',
        "users file {path} is not valid JSON: ",
        id="users-not-json",
    ),
    pytest.param(
        "users",
        "users.json",
        '[{"id": 1}, {"id": 2}, {"id": 1}]',
        "users file {path} line 1 (record [2]) repeats id '1', first seen at line 1 "
        "(record [0])",
        id="users-duplicate-id",
    ),
    pytest.param(
        "catalog",
        "products.json",
        '[{"id": "p1", "title": "Mug", "category": "kitchen", "price": 0}]',
        "products file {path} line 1 (record [0]) field 'price' must be > 0, got 0",
        id="product-price-zero",
    ),
    pytest.param(
        "users",
        "users.csv",
        "name,email\nAva,ava@example.com\n",
        "users file {path} line 2 has no 'user_id' field (nor 'id')",
        id="users-csv-without-id",
    ),
]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(("section", "name", "text", "expected"), INPUT_CASES)
def test_bad_input_file_is_refused_in_one_line(
    tmp_path: Path, command: str, section: str, name: str, text: str, expected: str
) -> None:
    config = write_input(tmp_path, section, name, text)
    message = refusal(invoke(command, str(config)), "InputError")
    assert message.startswith("InputError: " + expected.format(path=tmp_path / name))


def test_bad_input_file_not_json_gives_the_line(tmp_path: Path) -> None:
    config = write_input(tmp_path, "users", "users.json", '[{"id": 1},\n {"id": 2,}]')
    message = refusal(invoke("validate", str(config)), "InputError")
    assert "at line 2 column" in message


def test_validate_accepts_users_csv_with_bom(tmp_path: Path) -> None:
    text = "\ufeffuser_id,name\nu1,Ava\nu2,Liam\n"
    config = write_input(tmp_path, "users", "users.csv", text)
    result = invoke("validate", str(config))
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert result.stdout == f"{config}: ok (2 users, 3 products)\n"


def test_run_accepts_users_csv_with_bom_and_goes_on_to_start(tmp_path: Path) -> None:
    text = "\ufeffuser_id,name\nu1,Ava\nu2,Liam\n"
    config = write_input(tmp_path, "users", "users.csv", text)
    result = invoke("run", str(config))
    assert isinstance(result.exception, StartAttempted), result.output


# --debug


@pytest.mark.parametrize("command", COMMANDS)
def test_debug_lets_the_config_error_propagate(tmp_path: Path, command: str) -> None:
    config = write_config(tmp_path, "simulation:\n  concurency: 5\n")
    result = invoke("--debug", command, str(config))
    assert isinstance(result.exception, ConfigError)
    assert result.exception.problems == [
        f"{config}:2: simulation.concurency: unknown key; did you mean 'concurrency'?"
    ]
    shown = "".join(traceback.format_exception(*result.exc_info))
    assert shown.startswith("Traceback")
    assert "load_config" in shown
    assert "ConfigError: " not in result.stderr


# validate on a good config


def test_validate_quickstart_prints_ok(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    result = invoke("validate", "configs/quickstart.yaml")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert result.stdout == f"{QUICKSTART}: ok (2000 users, 200 products)\n"


def shown_config(result: Result) -> dict:
    """The JSON that `validate --show` printed before its ok line."""
    *config_lines, ok_line = result.stdout.splitlines()
    assert ": ok (" in ok_line
    return json.loads("\n".join(config_lines))


def test_validate_show_masks_secret_given_by_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SECRET_VAR, SECRET_VALUE)
    override = "kafka.producer.sasl.password=${" + SECRET_VAR + "}"
    result = invoke("validate", str(QUICKSTART), "--show", "--set", override)
    assert result.exit_code == 0, result.output
    assert SECRET_VALUE not in result.output
    producer = shown_config(result)["kafka"]["producer"]
    assert producer["sasl.password"] == "***"
    assert producer["linger.ms"] == 20


def test_validate_show_masks_secret_read_from_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_VAR, SECRET_VALUE)
    text = (
        SMALL_INPUTS + "kafka:\n  producer:\n    sasl.username: shop\n"
        f'    sasl.password: "${{{SECRET_VAR}}}"\n'
    )
    config = write_config(tmp_path, text)
    result = invoke("validate", str(config), "--show")
    assert result.exit_code == 0, result.output
    assert SECRET_VALUE not in result.output
    producer = shown_config(result)["kafka"]["producer"]
    assert producer == {"sasl.username": "shop", "sasl.password": "***"}


# python -m raysim


def test_python_m_raysim_help(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "raysim", "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=HELP_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: raysim ")
    commands = result.stdout.partition("Commands:")[2].split()
    assert "run" in commands and "validate" in commands
