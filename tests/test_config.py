"""Tests for raysim.config: YAML loading, validation, overrides, interpolation."""

from __future__ import annotations

import json
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest

from raysim.config import (
    Config,
    Range,
    dump_config,
    load_config,
)
from raysim.errors import ConfigError

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
DATA = Path(__file__).resolve().parent.parent / "raysim" / "data"


def write(tmp_path: Path, text: str, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path, overrides: list[str] | None = None) -> list[str]:
    """The problems load_config reports, with the file shown by its name only."""
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides or [])
    return [problem.replace(str(path), path.name) for problem in info.value.problems]


# Shipped configs


def test_quickstart_loads_as_documented() -> None:
    config = load_config(CONFIGS / "quickstart.yaml")
    assert config.name == "quickstart"
    assert config.seed == 42
    assert config.duration_s == 30
    assert config.users.generate == 2000 and config.users.path is None
    assert config.catalog.generate == 200 and config.catalog.path is None
    assert config.simulation.actors == "auto"
    assert config.simulation.concurrency == 200
    assert config.simulation.sessions_per_user is None
    assert config.simulation.session_duration_s == Range(60, 900)
    assert config.simulation.gap_s == Range(300, 7200)
    assert (config.clock.mode, config.clock.speed) == ("accelerated", 60)
    assert config.kafka.bootstrap_servers == "embedded"
    assert config.kafka.producer == {
        "linger.ms": 20,
        "compression.type": "lz4",
        "batch.size": 1000000,
    }
    assert config.logging.dir == str(Path.cwd() / "logs")
    assert config.source == str(CONFIGS / "quickstart.yaml")


def test_external_broker_defaults_to_local_port_9092(monkeypatch) -> None:
    monkeypatch.delenv("KAFKA_BOOTSTRAP", raising=False)
    config = load_config(CONFIGS / "external-broker.yaml")
    assert config.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert config.clock.mode == "realtime" and config.clock.speed == 1
    assert config.kafka.create_topics.partitions == 6
    assert not any(key.startswith("sasl") for key in config.kafka.producer)


def test_external_broker_reads_kafka_bootstrap(monkeypatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP", "b1:9092,b2:9093")
    config = load_config(CONFIGS / "external-broker.yaml")
    assert config.kafka.bootstrap_servers == "b1:9092,b2:9093"


def test_dummyjson_config_loads_with_its_files_beside_it(tmp_path: Path) -> None:
    (tmp_path / "configs").mkdir()
    data = tmp_path / "raysim" / "data"
    data.mkdir(parents=True)
    (data / "sample_users.json").write_text(json.dumps([{"id": 1}]))
    (data / "sample_products.json").write_text(json.dumps([{"id": 1}]))
    shutil.copy(CONFIGS / "dummyjson.yaml", tmp_path / "configs")
    config = load_config(tmp_path / "configs" / "dummyjson.yaml")
    assert config.users.path == str(data / "sample_users.json")
    assert config.users.generate is None
    assert config.users.id_field == "id"
    assert config.catalog.path == str(data / "sample_products.json")
    assert config.catalog.generate is None


@pytest.mark.skipif(
    not (DATA / "sample_users.json").exists()
    or not (DATA / "sample_products.json").exists(),
    reason="raysim/data sample files are not in this checkout",
)
def test_dummyjson_config_points_at_the_packaged_samples() -> None:
    config = load_config(CONFIGS / "dummyjson.yaml")
    assert config.users.path == str(DATA / "sample_users.json")
    assert config.catalog.path == str(DATA / "sample_products.json")


# Defaults and happy paths


def test_config_defaults_fill_omitted_sections(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "seed: 7\n", "my-run.yaml"))
    assert config.name == "my-run"
    assert config.duration_s is None
    assert config.users.generate == 1000
    assert config.catalog.generate == 200
    assert config.simulation == Config().simulation
    assert config.kafka.bootstrap_servers == "embedded"
    assert config.ray.address is None


def test_config_accepts_single_numbers_and_exponents(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "seed: 1e5\n"
        "simulation:\n"
        "  concurrency: 1.5e3\n"
        "  gap_s: 30\n"
        "  sessions_per_user: {min: 1, max: 3}\n",
    )
    config = load_config(path)
    assert config.seed == 100_000 and isinstance(config.seed, int)
    assert config.simulation.concurrency == 1500
    assert config.simulation.gap_s == Range(30, 30)
    assert config.simulation.sessions_per_user == Range(1, 3)


def test_config_reads_bootstrap_list_and_clock_start(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "kafka:\n"
        "  bootstrap_servers: [b1:9092, '[::1]:9093']\n"
        "clock: {mode: accelerated, speed: 10, start: '2026-11-27T08:00:00'}\n"
        "ray: {address: 'ray://head:10001'}\n"
        "logging: {level: debug}\n",
    )
    config = load_config(path)
    assert config.kafka.bootstrap_servers == "b1:9092,[::1]:9093"
    assert config.clock.start == datetime(2026, 11, 27, 8, tzinfo=timezone.utc)
    assert config.ray.address == "ray://head:10001"
    assert config.logging.level == "DEBUG"


def test_config_speed_alone_means_accelerated(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "clock: {speed: 3600}\n"))
    assert config.clock.mode == "accelerated"


def test_config_relative_paths_resolve_against_the_yaml_file(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "users.csv").write_text("user_id\n1\n")
    (tmp_path / "conf").mkdir()
    path = write(tmp_path / "conf", "users: {path: ../data/users.csv}\n")
    config = load_config(path)
    assert config.users.path == str(tmp_path / "data" / "users.csv")
    assert config.users.generate is None


def test_override_paths_resolve_against_the_cwd(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "here").mkdir()
    (tmp_path / "here" / "products.json").write_text("[]")
    (tmp_path / "conf").mkdir()
    path = write(tmp_path / "conf", "catalog: {generate: 50}\n")
    monkeypatch.chdir(tmp_path / "here")
    config = load_config(path, ["catalog.path=products.json"])
    assert config.catalog.path == str(tmp_path / "here" / "products.json")
    assert config.catalog.generate is None


def test_logging_dir_resolves_against_the_cwd(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "conf").mkdir()
    path = write(tmp_path / "conf", "logging: {dir: out/logs}\n")
    monkeypatch.chdir(tmp_path)
    config = load_config(path)
    assert config.logging.dir == str(tmp_path / "out" / "logs")
    assert not (tmp_path / "out").exists()


def test_overrides_set_values_as_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, "simulation: {concurrency: 10}\n")
    config = load_config(
        path,
        [
            "simulation.concurrency=200",
            "duration_s=30",
            "simulation.gap_s={min: 1, max: 2}",
            "kafka.bootstrap_servers=broker:9092",
            "kafka.create_topics.enabled=false",
        ],
    )
    assert config.simulation.concurrency == 200
    assert config.duration_s == 30
    assert config.simulation.gap_s == Range(1, 2)
    assert config.kafka.bootstrap_servers == "broker:9092"
    assert config.kafka.create_topics.enabled is False


def test_override_kafka_producer_key_is_one_librdkafka_key(tmp_path: Path) -> None:
    path = write(tmp_path, "kafka: {producer: {linger.ms: 20}}\n")
    config = load_config(
        path, ["kafka.producer.linger.ms=2000", "kafka.producer.acks=all"]
    )
    assert config.kafka.producer == {"linger.ms": 2000, "acks": "all"}


def test_env_interpolation_with_and_without_default(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("RAYSIM_TEST_NAME", "from-env")
    monkeypatch.setenv("RAYSIM_TEST_SECRET", "007")
    monkeypatch.delenv("RAYSIM_TEST_UNSET", raising=False)
    path = write(
        tmp_path,
        "name: ${RAYSIM_TEST_NAME}\n"
        "simulation: {concurrency: '${RAYSIM_TEST_UNSET:-50}'}\n"
        "kafka:\n"
        "  producer: {sasl.password: '${RAYSIM_TEST_SECRET}', client.id: 'cost $$5'}\n"
        "  topics: {orders: 'orders-${RAYSIM_TEST_UNSET:-v1}'}\n",
        name="env.yaml",
    )
    config = load_config(path)
    assert config.name == "from-env"
    assert config.simulation.concurrency == 50
    assert config.kafka.producer["sasl.password"] == "007"
    assert config.kafka.producer["client.id"] == "cost $5"
    assert config.kafka.topics.orders == "orders-v1"


def test_env_interpolation_reaches_every_value_type(
    tmp_path: Path, monkeypatch
) -> None:
    env = {
        "RS_INT": "250",
        "RS_FLOAT": "0.25",
        "RS_BOOL": "false",
        "RS_NEG": "-1",
        "RS_START": "2026-11-27T00:00:00Z",
        "RS_HOST": "b1",
        "RS_KEEP": "ip, ssn",
        "RS_PW": "0123",
        "RS_NAME": "yes",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    path = write(
        tmp_path,
        "name: ${RS_NAME}\n"
        "users: {generate: '${RS_INT}', keep_fields: '${RS_KEEP}'}\n"
        "simulation:\n"
        "  concurrency: ${RS_INT}\n"
        "  gap_s: {min: '${RS_INT}', max: '1${RS_INT}'}\n"
        "  throttle: {factor: '${RS_FLOAT}'}\n"
        "store:\n"
        "  tax_rate: ${RS_FLOAT}\n"
        "  channels: {web: '${RS_FLOAT}'}\n"
        "clock: {mode: accelerated, speed: '${RS_INT}', start: '${RS_START}'}\n"
        "kafka:\n"
        "  bootstrap_servers: ['${RS_HOST}:9092', '${RS_HOST}:${RS_INT}']\n"
        "  create_topics:\n"
        "    enabled: ${RS_BOOL}\n"
        "    partitions: '${RS_INT}'\n"
        "  producer:\n"
        "    sasl.password: ${RS_PW}\n"
        "    linger.ms: '${RS_INT}'\n",
    )
    config = load_config(path)
    assert config.name == "yes"
    assert (config.users.generate, config.users.keep_fields) == (250, ("ip", "ssn"))
    assert config.simulation.concurrency == 250
    assert config.simulation.gap_s == Range(250, 1250)
    assert config.simulation.throttle.factor == 0.25
    assert config.store.tax_rate == 0.25 and config.store.channels == {"web": 0.25}
    assert config.clock.speed == 250
    assert config.clock.start == datetime(2026, 11, 27, tzinfo=timezone.utc)
    assert config.kafka.bootstrap_servers == "b1:9092,b1:250"
    assert config.kafka.create_topics.enabled is False
    assert config.kafka.create_topics.partitions == 250
    # librdkafka values stay the text they were: a password "0123" is not a number.
    assert config.kafka.producer == {"sasl.password": "0123", "linger.ms": "250"}
    monkeypatch.setenv("RS_INT", "-1")
    assert problems(path)[0] == (
        "exp.yaml:2: users.generate: must be an integer in [1, 10000000], got '-1'"
    )


def test_dump_config_masks_secrets(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "kafka:\n"
        "  producer:\n"
        "    sasl.username: alice\n"
        "    sasl.password: hunter2\n"
        "    ssl.key.password: k\n"
        "    sasl.oauthbearer.client.secret: s\n"
        "    sasl.oauthbearer.token.endpoint.url: u\n"
        "    ssl.key.pem: pem\n"
        "    sasl.oauthbearer.config: principal=a clientSecret=b\n"
        "clock: {mode: accelerated, start: 2026-01-01T00:00:00Z}\n",
    )
    dumped = dump_config(load_config(path))
    producer = dumped["kafka"]["producer"]
    assert producer["sasl.username"] == "alice"
    assert producer["sasl.password"] == "***"
    assert producer["ssl.key.password"] == "***"
    assert producer["sasl.oauthbearer.client.secret"] == "***"
    assert producer["sasl.oauthbearer.token.endpoint.url"] == "***"
    assert producer["ssl.key.pem"] == producer["sasl.oauthbearer.config"] == "***"
    assert dumped["clock"]["start"] == "2026-01-01T00:00:00+00:00"
    assert "hunter2" not in json.dumps(dumped)


def test_load_config_is_frozen_and_picklable(tmp_path: Path) -> None:
    import pickle

    config = load_config(CONFIGS / "quickstart.yaml")
    assert pickle.loads(pickle.dumps(config)) == config
    with pytest.raises(AttributeError):
        config.seed = 1  # type: ignore[misc]


# Problems: each one line naming file, line, key path, rule and value


def test_error_unknown_key_suggests_the_close_one(tmp_path: Path) -> None:
    path = write(tmp_path, "simulation:\n  concurency: 5\n")
    with pytest.raises(
        ConfigError,
        match=r"exp\.yaml:2: simulation\.concurency: unknown key; "
        r"did you mean 'concurrency'\?",
    ):
        load_config(path)


def test_error_unknown_top_level_key_lists_the_known_ones(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\nzzz: 1\n")
    with pytest.raises(
        ConfigError, match=r"exp\.yaml:2: zzz: unknown key; expected one of 'name'"
    ):
        load_config(path)


def test_error_bool_is_not_an_int(tmp_path: Path) -> None:
    path = write(tmp_path, "simulation:\n  concurrency: true\n")
    with pytest.raises(
        ConfigError,
        match=r"exp\.yaml:2: simulation\.concurrency: must be an integer >= 1, "
        r"got True",
    ):
        load_config(path)


def test_error_quoted_number_is_a_string(tmp_path: Path) -> None:
    path = write(tmp_path, 'simulation:\n  concurrency: "100"\n')
    with pytest.raises(
        ConfigError,
        match=r"exp\.yaml:2: simulation\.concurrency: must be an integer >= 1 "
        r"\(a quoted number is a string; remove the quotes\), got '100'",
    ):
        load_config(path)


def test_error_fraction_is_not_an_int(tmp_path: Path) -> None:
    path = write(tmp_path, "seed: 1.5\n")
    with pytest.raises(
        ConfigError, match=r"exp\.yaml:1: seed: must be an integer >= 0, got 1\.5"
    ):
        load_config(path)


def test_error_rate_out_of_range(tmp_path: Path) -> None:
    path = write(tmp_path, "store:\n  tax_rate: 0.2\n  purchase_rate: 1.5\n")
    with pytest.raises(
        ConfigError,
        match=r"exp\.yaml:3: store\.purchase_rate: must be a number in \[0, 1\], "
        r"got 1\.5",
    ):
        load_config(path)


def test_error_actors_must_be_auto_or_positive(tmp_path: Path) -> None:
    path = write(tmp_path, "simulation: {actors: many}\n")
    with pytest.raises(
        ConfigError,
        match=r"exp\.yaml:1: simulation\.actors: must be 'auto' or an integer >= 1, "
        r"got 'many'",
    ):
        load_config(path)


def test_error_range_min_greater_than_max(tmp_path: Path) -> None:
    path = write(tmp_path, "simulation:\n  gap_s: {min: 900, max: 60}\n")
    with pytest.raises(
        ConfigError,
        match=r"exp\.yaml:2: simulation\.gap_s: min must not be greater than max, "
        r"got \{'min': 900, 'max': 60\}",
    ):
        load_config(path)


def test_error_range_missing_max(tmp_path: Path) -> None:
    path = write(tmp_path, "simulation:\n  session_duration_s: {min: 60}\n")
    with pytest.raises(
        ConfigError,
        match=r"exp\.yaml:2: simulation\.session_duration_s: needs both min and max, "
        r"max is missing",
    ):
        load_config(path)


def test_error_throttle_factor_is_an_open_interval(tmp_path: Path) -> None:
    path = write(tmp_path, "simulation:\n  throttle:\n    factor: 1\n")
    with pytest.raises(
        ConfigError,
        match=r"exp\.yaml:3: simulation\.throttle\.factor: "
        r"must be a number in \(0, 1\), got 1",
    ):
        load_config(path)


def test_error_throttle_cpu_percent_range(tmp_path: Path) -> None:
    path = write(tmp_path, "simulation: {throttle: {cpu_percent: 0}}\n")
    with pytest.raises(
        ConfigError,
        match=r"exp\.yaml:1: simulation\.throttle\.cpu_percent: "
        r"must be a number in \[1, 100\], got 0",
    ):
        load_config(path)


def test_error_realtime_with_speed_is_contradictory(tmp_path: Path) -> None:
    path = write(tmp_path, "clock:\n  mode: realtime\n  speed: 60\n")
    with pytest.raises(
        ConfigError,
        match=r"exp\.yaml:3: clock\.speed: must be 1 when clock\.mode is realtime "
        r".*got 60",
    ):
        load_config(path)


def test_error_clock_mode_and_start(tmp_path: Path) -> None:
    path = write(tmp_path, "clock:\n  mode: fast\n  start: someday\n")
    found = problems(path)
    assert (
        "exp.yaml:2: clock.mode: must be one of 'realtime', 'accelerated', "
        "'backfill', got 'fast'" in found
    )
    assert any(
        p.startswith("exp.yaml:3: clock.start: must be an ISO 8601") for p in found
    )


def test_error_duplicate_key_reports_both_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path, "simulation:\n  concurrency: 5\n  actors: 2\n  concurrency: 9\n"
    )
    with pytest.raises(
        ConfigError,
        match=r"exp\.yaml:4: simulation\.concurrency: duplicate key, first at line 2",
    ):
        load_config(path)


def test_error_yaml_syntax_has_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\nusers:\n  generate: [1, 2\nseed: 3\n")
    with pytest.raises(ConfigError, match=r"exp\.yaml:4: YAML syntax error: "):
        load_config(path)


def test_error_tab_indentation(tmp_path: Path) -> None:
    path = write(tmp_path, "simulation:\n\tconcurrency: 5\n")
    with pytest.raises(
        ConfigError,
        match=r"exp\.yaml:2: indentation uses a tab; YAML indents with spaces only",
    ):
        load_config(path)


def test_error_two_documents_in_one_file(tmp_path: Path) -> None:
    path = write(tmp_path, "seed: 1\n---\nseed: 2\n")
    with pytest.raises(
        ConfigError, match=r"exp\.yaml:2: YAML syntax error: but found another document"
    ):
        load_config(path)


def test_error_merge_keys_are_followed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "simulation:\n  <<: {concurrency: 5, actors: 0}\n  concurrency: 7\n",
    )
    with pytest.raises(
        ConfigError,
        match=r"exp\.yaml:2: simulation\.actors: must be 'auto' or an integer >= 1",
    ) as info:
        load_config(path)
    assert len(info.value.problems) == 1


def test_error_empty_file(tmp_path: Path) -> None:
    path = write(tmp_path, "# nothing here\n")
    with pytest.raises(ConfigError, match=r"exp\.yaml: the file is empty"):
        load_config(path)


def test_error_top_level_not_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "- name: x\n")
    with pytest.raises(
        ConfigError,
        match=r"exp\.yaml:1: the top level must be a mapping of settings, got \[",
    ):
        load_config(path)


def test_error_list_where_a_mapping_belongs(tmp_path: Path) -> None:
    path = write(tmp_path, "kafka:\n  topics:\n    - users\n    - orders\n")
    with pytest.raises(
        ConfigError,
        match=r"exp\.yaml:2: kafka\.topics: must be a mapping of keys to values, "
        r"got \['users', 'orders'\]",
    ):
        load_config(path)


def test_error_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_error_unquoted_no_as_topic_name(tmp_path: Path) -> None:
    path = write(tmp_path, "kafka:\n  topics:\n    orders: no\n")
    with pytest.raises(
        ConfigError,
        match=r"exp\.yaml:3: kafka\.topics\.orders: must be a string \(YAML reads "
        r'unquoted no as a boolean; quote it: "no"\), got False',
    ):
        load_config(path)


def test_error_unquoted_on_as_channel_key(tmp_path: Path) -> None:
    path = write(tmp_path, "store:\n  channels:\n    on: 0.5\n    web: 0.5\n")
    with pytest.raises(
        ConfigError,
        match=r"exp\.yaml:3: store\.channels\.on: key must be a string \(YAML reads "
        r'unquoted on as a boolean; quote it: "on"\), got True',
    ):
        load_config(path)


def test_error_unquoted_yes_as_name_and_id_field(tmp_path: Path) -> None:
    path = write(tmp_path, "name: yes\nusers: {id_field: off}\n")
    found = problems(path)
    assert found[0].startswith(
        "exp.yaml:1: name: must be a string (YAML reads unquoted yes"
    )
    assert found[1].startswith(
        "exp.yaml:2: users.id_field: must be a string (YAML reads"
    )


def test_error_channel_weight_must_be_positive(tmp_path: Path) -> None:
    path = write(tmp_path, "store:\n  channels: {web: 1, print: -2}\n")
    with pytest.raises(
        ConfigError,
        match=r"exp\.yaml:2: store\.channels\.print: must be a number > 0, got -2",
    ):
        load_config(path)


def test_error_topic_name_rule(tmp_path: Path) -> None:
    path = write(
        tmp_path, "kafka:\n  topics:\n    users: 'my topic'\n    orders: '..'\n"
    )
    found = problems(path)
    assert found[0].startswith(
        "exp.yaml:3: kafka.topics.users: must be a Kafka topic name"
    )
    assert found[0].endswith("got 'my topic'")
    assert found[1].startswith(
        "exp.yaml:4: kafka.topics.orders: must be a Kafka topic name"
    )


def test_error_topic_names_must_be_distinct(tmp_path: Path) -> None:
    path = write(
        tmp_path, "kafka:\n  topics:\n    sessions: events\n    orders: events\n"
    )
    with pytest.raises(
        ConfigError,
        match=r"exp\.yaml:4: kafka\.topics\.orders: must differ from "
        r"kafka\.topics\.sessions .*got 'events'",
    ):
        load_config(path)


def test_error_bootstrap_port_out_of_range(tmp_path: Path) -> None:
    path = write(tmp_path, "kafka:\n  bootstrap_servers: 'a:9092,b:70000'\n")
    with pytest.raises(
        ConfigError,
        match=r"exp\.yaml:2: kafka\.bootstrap_servers: port must be in 1\.\.65535, "
        r"got 'b:70000'",
    ):
        load_config(path)


def test_error_bootstrap_list_item_without_port(tmp_path: Path) -> None:
    path = write(tmp_path, "kafka:\n  bootstrap_servers:\n    - a:9092\n    - broker\n")
    with pytest.raises(
        ConfigError,
        match=r"exp\.yaml:4: kafka\.bootstrap_servers\[1\]: must be 'embedded'",
    ):
        load_config(path)


def test_error_producer_values_and_nested_keys(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "kafka:\n  producer:\n    linger:\n      ms: 5\n    acks: [1]\n"
        "    bootstrap.servers: x:1\n",
    )
    found = problems(path)
    assert found[0].startswith(
        "exp.yaml:3: kafka.producer.linger: must be a string, number or boolean; "
        "write a librdkafka setting as one dotted key, e.g. linger.ms"
    )
    assert found[1] == (
        "exp.yaml:5: kafka.producer.acks: must be a string, number or boolean, got [1]"
    )
    assert found[2].startswith(
        "exp.yaml:6: kafka.producer.bootstrap.servers: set kafka.bootstrap_servers"
    )


def test_error_create_topics_values(tmp_path: Path) -> None:
    path = write(tmp_path, "kafka:\n  create_topics: {enabled: maybe, partitions: 0}\n")
    found = problems(path)
    assert found == [
        "exp.yaml:2: kafka.create_topics.enabled: must be true or false, got 'maybe'",
        "exp.yaml:2: kafka.create_topics.partitions: must be an integer >= 1, got 0",
    ]


def test_error_users_path_and_generate_together(tmp_path: Path) -> None:
    (tmp_path / "u.json").write_text("[]")
    path = write(tmp_path, "users:\n  path: u.json\n  generate: 10\n")
    with pytest.raises(
        ConfigError,
        match=r"exp\.yaml:1: users: give exactly one of path and generate, "
        r"got \{'path': 'u\.json', 'generate': 10\}",
    ):
        load_config(path)


def test_override_path_replaces_generate_from_the_file(
    tmp_path: Path, monkeypatch
) -> None:
    (tmp_path / "u.json").write_text("[]")
    path = write(tmp_path, "users: {generate: 10}\n")
    monkeypatch.chdir(tmp_path)
    config = load_config(path, ["users.path=u.json"])
    assert config.users.path == str(tmp_path / "u.json")
    assert config.users.generate is None


def test_override_backfill_mode_drops_the_file_s_accelerated_speed(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "clock: {mode: accelerated, speed: 60}\n")
    backfill = [
        "clock.mode=backfill",
        "clock.start=2026-11-01T00:00:00Z",
        "clock.end=2026-11-01T02:00:00Z",
    ]
    config = load_config(path, backfill)
    assert config.clock.mode == "backfill"
    # A speed given on the command line as well is still the user's mistake.
    with pytest.raises(ConfigError, match=r"--set clock\.speed: applies only when"):
        load_config(path, [*backfill, "clock.speed=5"])


def test_error_missing_input_file_names_key_and_path(tmp_path: Path) -> None:
    path = write(tmp_path, "catalog:\n  path: data/products.json\n")
    expected = re.escape(str(tmp_path / "data" / "products.json"))
    with pytest.raises(
        ConfigError,
        match=rf"exp\.yaml:2: catalog\.path: file not found, got '{expected}'",
    ):
        load_config(path)


def test_error_env_var_unset_names_file_line_key_and_variable(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.delenv("RAYSIM_TEST_PASSWORD", raising=False)
    path = write(
        tmp_path,
        "kafka:\n  producer:\n    sasl.password: ${RAYSIM_TEST_PASSWORD}\n",
    )
    with pytest.raises(
        ConfigError,
        match=r"exp\.yaml:3: kafka\.producer\.sasl\.password: environment variable "
        r"RAYSIM_TEST_PASSWORD is not set and has no default",
    ):
        load_config(path)


def test_error_ray_address_and_log_level(tmp_path: Path) -> None:
    path = write(tmp_path, "ray: {address: 'http://head'}\nlogging: {level: loud}\n")
    assert problems(path) == [
        "exp.yaml:1: ray.address: must be 'auto', ray://host:port or host:port, "
        "got 'http://head'",
        "exp.yaml:2: logging.level: must be one of DEBUG, INFO, WARNING, ERROR, "
        "got 'loud'",
    ]


def test_error_bad_override_syntax_names_the_override(tmp_path: Path) -> None:
    path = write(tmp_path, "seed: 1\n")
    with pytest.raises(
        ConfigError,
        match=r"--set simulation\.concurrency: expected KEY=VALUE, "
        r"e\.g\. --set simulation\.concurrency=200",
    ):
        load_config(path, ["simulation.concurrency"])
    found = problems(path, ["a..b=1", "seed.x=2", "name=[unclosed"])
    assert found[0].startswith("--set a..b=1: KEY must be a dotted key path")
    assert found[1] == (
        "--set seed.x: cannot set seed.x because seed is not a mapping, got 1"
    )
    assert found[2].startswith("--set name: VALUE is not valid YAML")


def test_error_override_values_are_located_by_their_key(tmp_path: Path) -> None:
    path = write(tmp_path, "seed: 1\n")
    found = problems(path, ["simulation.concurrency=0", "simulation.concurency=5"])
    assert found == [
        "--set simulation.concurency: unknown key; did you mean 'concurrency'?",
        "--set simulation.concurrency: must be an integer >= 1, got 0",
    ]


def test_error_collects_every_problem_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "seed: -1\nduration_s: 0\nsimulation: {concurrency: 0}\nclock: {speed: 0}\n",
    )
    found = problems(path)
    assert [line.split(":")[1] for line in found] == ["1", "2", "3", "4"]
    assert len(found) == 4


def test_error_librdkafka_refuses_an_unknown_producer_key(tmp_path: Path) -> None:
    path = write(tmp_path, "kafka:\n  producer:\n    linger.mss: 20\n")
    assert problems(path) == [
        "exp.yaml:3: kafka.producer.linger.mss: librdkafka refuses it: "
        'No such configuration property: "linger.mss"'
    ]


def test_error_librdkafka_refuses_a_bad_value_named_by_the_users_key(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "seed: 1\n")
    found = problems(
        path,
        ["kafka.producer.compression.type=zip", "kafka.producer.linger.ms=soon"],
    )
    assert [line.split(": librdkafka")[0] for line in found] == [
        "--set kafka.producer.compression.type",
        "--set kafka.producer.linger.ms",
    ]
    assert 'Invalid value "zip"' in found[0]


def test_error_librdkafka_check_never_echoes_a_secret(tmp_path: Path) -> None:
    path = write(tmp_path, "seed: 1\n")
    found = problems(path, ["kafka.producer.sasl.passwordd=hunter2"])
    assert len(found) == 1 and "hunter2" not in found[0]
