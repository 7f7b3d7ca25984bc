"""Secrets: passed through to librdkafka untouched, never written anywhere else.

The whole-run test sets a secret in the environment, runs `raysim run` and
`raysim validate --show` as a user would, then reads back every file the run wrote
(its logs, the report, Ray's session directory) and its stdout and stderr: the secret
must appear in none of them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest

from raysim.config import TOPIC_KEYS, TopicsConfig, dump_config, is_secret, load_config
from raysim.errors import ConfigError
from raysim.simulation import Simulation
from raysim.sinks.kafka import producer_settings

ROOT = Path(__file__).resolve().parents[1]
SECRET_VAR = "RAYSIM_TEST_SECRET"
CONTROL_VAR = "RAYSIM_TEST_CONTROL"
RUN_TIMEOUT_S = 180
# librdkafka settings that carry credentials; on a PLAINTEXT connection they are set
# and ignored, so a run against the test broker still delivers everything.
SECRET_KEYS = ("ssl.key.password", "sasl.password", "sasl.oauthbearer.client.secret")
SECURITY_SETTINGS: dict[str, Any] = {
    "security.protocol": "SASL_SSL",
    "sasl.mechanism": "SCRAM-SHA-512",
    "sasl.username": "shop",
    "sasl.password": "pw-0123",
    "ssl.ca.location": "/etc/ssl/ca.pem",
    "ssl.certificate.location": "/etc/ssl/client.pem",
    "ssl.key.location": "/etc/ssl/client.key",
    "ssl.key.password": "0123",
    "ssl.endpoint.identification.algorithm": "https",
    "sasl.oauthbearer.client.secret": "s",
    "enable.ssl.certificate.verification": True,
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_sasl_and_ssl_settings_reach_the_producer_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_VAR, "pw-0123")
    lines = [
        f"    {key}: '${{{SECRET_VAR}}}'" if key == "sasl.password" else
        f"    {key}: {value if not isinstance(value, bool) else 'true'}"
        for key, value in SECURITY_SETTINGS.items()
    ]  # fmt: skip
    lines[lines.index("    ssl.key.password: 0123")] = "    ssl.key.password: '0123'"
    config = load_config(write(tmp_path, "kafka:\n  producer:\n" + "\n".join(lines)))
    assert config.kafka.producer == SECURITY_SETTINGS
    settings = producer_settings("b1:9092", config.kafka.producer)
    for key, value in SECURITY_SETTINGS.items():
        assert settings[key] == value, key
    assert settings["bootstrap.servers"] == "b1:9092"


@pytest.mark.parametrize(
    "key",
    ["sasl.password", "ssl.key.password", "ssl.keystore.password", "api_token",
     "sasl.oauthbearer.client.secret", "SASL.PASSWORD", "ssl.key.pem",
     "sasl.oauthbearer.config"],
)  # fmt: skip
def test_is_secret_knows_the_credential_keys(key: str) -> None:
    assert is_secret(key)


@pytest.mark.parametrize(
    "key", ["sasl.username", "ssl.key.location", "linger.ms", "security.protocol"]
)
def test_is_secret_leaves_other_keys_shown(key: str) -> None:
    assert not is_secret(key)


def test_dump_config_masks_every_secret_key_at_any_depth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_VAR, "pw-0123")
    text = "kafka:\n  producer:\n" + "".join(
        f"    {key}: ${{{SECRET_VAR}}}\n" for key in SECRET_KEYS
    )
    dumped = dump_config(load_config(write(tmp_path, text)))
    assert "pw-0123" not in repr(dumped)
    for key in SECRET_KEYS:
        assert dumped["kafka"]["producer"][key] == "***"


SECRET_LINE = "kafka:\n  producer:\n    sasl.password: pw-0123\n"


@pytest.mark.parametrize(
    ("text", "overrides"),
    [
        ("kafka:\n  producer:\n    sasl.password: [pw-0123]\n", []),
        ("kafka:\n  producer:\n    sasl.password: {a: pw-0123}\n", []),
        ("kafka:\n  producer:\n    ssl.key.password: [pw-0123]\n", []),
        (SECRET_LINE, ["kafka.producer.sasl.password=[pw-0123"]),
        ("ray:\n  password: pw-0123\n", ["ray.password.x=1"]),
        ("ray:\n  api_token: pw-0123\n", []),
    ],
)
def test_config_errors_never_echo_a_secret(
    tmp_path: Path, text: str, overrides: list[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), overrides)
    assert "pw-0123" not in str(caught.value)


# The Ray dashboard


def ray_init_kwargs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, address: str | None
) -> dict[str, Any]:
    import raysim.simulation as simulation

    seen: dict[str, Any] = {}
    monkeypatch.setattr(simulation.ray, "is_initialized", lambda: False)
    monkeypatch.setattr(simulation.ray, "init", lambda **kwargs: seen.update(kwargs))
    text = "ray:\n  address: auto\n" if address else "seed: 1\n"
    Simulation(load_config(write(tmp_path, text)))._connect_ray()
    return seen


@pytest.mark.parametrize("address", [None, "auto"])
def test_driver_never_opens_the_ray_dashboard_beyond_localhost(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, address: str | None
) -> None:
    kwargs = ray_init_kwargs(monkeypatch, tmp_path, address)
    assert kwargs, "ray.init was not called"
    if kwargs.get("include_dashboard") is not False:
        assert kwargs.get("dashboard_host") in ("127.0.0.1", "localhost"), kwargs
    assert "0.0.0.0" not in repr(kwargs)


def test_no_source_file_binds_every_interface() -> None:
    sources = sorted((ROOT / "raysim").rglob("*.py"))
    assert sources
    for path in sources:
        text = path.read_text(encoding="utf-8")
        assert "0.0.0.0" not in text, path
        for match in re.finditer(r"dashboard_host\s*=\s*([^,)\n]+)", text):
            assert match.group(1).strip() in ('"127.0.0.1"', "'127.0.0.1'"), path


# A whole run


def run_cli(
    args: list[str], cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "raysim", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )


def files_under(*roots: Path) -> list[Path]:
    return [path for root in roots for path in root.rglob("*") if path.is_file()]


@pytest.mark.ray
@pytest.mark.kafka
def test_secret_from_the_environment_is_written_nowhere(
    broker: str, fresh_topics: TopicsConfig, tmp_path: Path
) -> None:
    secret = f"pw-{uuid.uuid4().hex}"
    topics = fresh_topics.names()
    control = f"user-{uuid.uuid4().hex}"  # not secret: shown, so the search works
    producer = "".join(f"    {key}: ${{{SECRET_VAR}}}\n" for key in SECRET_KEYS)
    producer += f"    sasl.username: ${{{CONTROL_VAR}}}\n"
    config = write(
        tmp_path,
        "name: secrets\nseed: 1\nduration_s: 6\n"
        "users: {generate: 200}\ncatalog: {generate: 50}\n"
        "simulation:\n  actors: 2\n  concurrency: 50\n"
        "  session_duration_s: {min: 5, max: 60}\n  gap_s: {min: 5, max: 60}\n"
        "clock: {mode: accelerated, speed: 60}\n"
        f"kafka:\n  bootstrap_servers: '{broker}'\n  topics:\n"
        + "".join(f"    {key}: {topics[key]}\n" for key in TOPIC_KEYS)
        + f"  producer:\n{producer}"
        "logging: {dir: logs, level: DEBUG}\n",
    )
    # A short directory of Ray's own: its session logs are searched too (and a socket
    # path must stay under 108 characters).
    ray_dir = Path(tempfile.mkdtemp(prefix="rs-", dir="/tmp"))
    env = {
        **os.environ,
        SECRET_VAR: secret,
        CONTROL_VAR: control,
        "RAY_TMPDIR": str(ray_dir),
    }
    env.pop("RAYSIM_TEST_BOOTSTRAP", None)
    try:
        shown = run_cli(["validate", str(config), "--show"], tmp_path, env)
        assert shown.returncode == 0, shown.stderr.decode()
        assert b'"sasl.password": "***"' in shown.stdout
        assert control.encode() in shown.stdout
        ran = run_cli(
            ["--debug", "run", str(config), "--report", "report.json"], tmp_path, env
        )
        output = ran.stdout.decode(errors="replace") + ran.stderr.decode(
            errors="replace"
        )
        assert ran.returncode == 0, output[-3000:]
        written = files_under(tmp_path, ray_dir)
        names = {path.name for path in written}
        assert {"report.json", "secrets-actor-0.log", "secrets-actor-1.log"} <= names
        assert any(path.suffix in (".out", ".err") for path in written), names
        hits = [str(path) for path in written if secret.encode() in path.read_bytes()]
        streams = [
            name
            for name, data in (
                ("validate stdout", shown.stdout),
                ("validate stderr", shown.stderr),
                ("run stdout", ran.stdout),
                ("run stderr", ran.stderr),
            )
            if secret.encode() in data
        ]
        assert hits == [] and streams == [], (hits, streams)
        assert len(written) > 10
    finally:
        subprocess.run(["rm", "-rf", str(ray_dir)], check=False)
