"""Bad configs and input files: `raysim run` refuses each before anything starts.

Every case runs the real command line. It must exit 2, print no traceback and nothing
on stdout, and print the expected line naming the file, the line when known, the key
and the value. Ray is never reached: connecting to it raises StartAttempted.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from clisupport import StartAttempted, offline_cli  # noqa: F401

from raysim.cli import cli
from raysim.config import CLOCK_MODES

UNSET_VAR = "RAYSIM_TEST_NEVER_SET"
SMALL = "users:\n  generate: 3\ncatalog:\n  generate: 3\n"
LONG_TOPIC = "t" * 250
MODES = ", ".join(repr(mode) for mode in CLOCK_MODES)


@pytest.fixture(autouse=True)
def unset_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(UNSET_VAR, raising=False)


def run(tmp_path: Path, text: str, *args: str) -> tuple[Result, Path]:
    config = tmp_path / "exp.yaml"
    config.write_text(text, encoding="utf-8")
    return CliRunner().invoke(cli, ["run", str(config), *args]), config


def refused(result: Result) -> list[str]:
    """The lines a refused run printed, after checking how it ended."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert not isinstance(result.exception, StartAttempted)
    assert "Traceback" not in result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines, "nothing printed"
    return lines


# One case each: the config text, then the expected ConfigError line, where {cfg} is
# the config file and {dir} its directory.
CONFIG_CASES = [
    # The run's name, which names log files
    ("name-with-a-path", "name: ../../escape\n",
     "{cfg}:1: name: must be up to 100 letters, digits, spaces, '.', '_' or '-', "
     "starting with a letter or digit (it names the log files), got '../../escape'"),
    # YAML itself
    ("tab-indent", "simulation:\n\tconcurrency: 5\n",
     "{cfg}:2: indentation uses a tab; YAML indents with spaces only"),
    ("tab-indent-nested", "kafka:\n  topics:\n\t  users: u\n",
     "{cfg}:3: indentation uses a tab; YAML indents with spaces only"),
    ("duplicate-key", "name: a\nseed: 1\nname: b\n",
     "{cfg}:3: name: duplicate key, first at line 1; YAML would silently keep only "
     "the last one"),
    ("duplicate-producer-key",
     "kafka:\n  producer:\n    linger.ms: 5\n    linger.ms: 9\n",
     "{cfg}:4: kafka.producer.linger.ms: duplicate key, first at line 3; YAML would "
     "silently keep only the last one"),
    ("country-NO-as-channel", "store:\n  channels:\n    NO: 0.5\n    web: 0.5\n",
     '{cfg}:3: store.channels.NO: key must be a string (YAML reads unquoted NO as a '
     'boolean; quote it: "NO"), got False'),
    ("on-as-device", "store:\n  devices:\n    mobile: 1\n    on: 1\n",
     '{cfg}:4: store.devices.on: key must be a string (YAML reads unquoted on as a '
     'boolean; quote it: "on"), got True'),
    ("no-as-topic", "kafka:\n  topics:\n    orders: no\n",
     '{cfg}:3: kafka.topics.orders: must be a string (YAML reads unquoted no as a '
     'boolean; quote it: "no"), got False'),
    ("yes-as-name", "name: yes\n",
     '{cfg}:1: name: must be a string (YAML reads unquoted yes as a boolean; quote '
     'it: "yes"), got True'),
    ("NO-as-currency", "store:\n  currency: NO\n",
     '{cfg}:2: store.currency: must be a string (YAML reads unquoted NO as a '
     'boolean; quote it: "NO"), got False'),
    ("off-as-id-field", "users:\n  generate: 3\n  id_field: off\n",
     '{cfg}:3: users.id_field: must be a string (YAML reads unquoted off as a '
     'boolean; quote it: "off"), got False'),
    ("1e-3-as-integer", "simulation:\n  concurrency: 1e-3\n",
     "{cfg}:2: simulation.concurrency: must be an integer >= 1, got '1e-3'"),
    ("1e999-is-infinite", "duration_s: 1e999\n",
     "{cfg}:1: duration_s: must be a number > 0, got '1e999'"),
    ("quoted-1e5", 'seed: "1e5"\n',
     "{cfg}:1: seed: must be an integer >= 0 (a quoted number is a string; remove "
     "the quotes), got '1e5'"),
    ("1e30-overflows", "seed: 1e30\n",
     "{cfg}:1: seed: must be an integer >= 0 and at most 9223372036854775807, "
     "got '1e30'"),
    ("1e8-users", "users:\n  generate: 1e8\n",
     "{cfg}:2: users.generate: must be an integer in [1, 10000000], got '1e8'"),
    ("empty-file", "",
     "{cfg}: the file is empty; expected a mapping of settings such as 'name:' and "
     "'users:'"),
    ("comments-only", "# nothing yet\n\n",
     "{cfg}: the file is empty; expected a mapping of settings such as 'name:' and "
     "'users:'"),
    # shapes
    ("top-level-list", "- name: a\n- seed: 1\n",
     "{cfg}:1: the top level must be a mapping of settings, got [{{'name': 'a'}}, "
     "{{'seed': 1}}]"),
    ("list-for-topics", "kafka:\n  topics:\n    - users\n    - orders\n",
     "{cfg}:2: kafka.topics: must be a mapping of keys to values, got ['users', "
     "'orders']"),
    ("scalar-for-section", "simulation: 5\n",
     "{cfg}:1: simulation: must be a mapping of keys to values, got 5"),
    ("list-for-range", "simulation:\n  gap_s: [1, 2]\n",
     "{cfg}:2: simulation.gap_s: must be a mapping {{min: ..., max: ...}} or a number, "
     "got [1, 2]"),
    # unknown keys
    ("unknown-top-key", "duraton_s: 5\n",
     "{cfg}:1: duraton_s: unknown key; did you mean 'duration_s'?"),
    ("unknown-throttle-key", "simulation:\n  throttle:\n    cpu: 80\n",
     "{cfg}:3: simulation.throttle.cpu: unknown key; expected one of 'cpu_percent', "
     "'factor', 'min_concurrency', 'interval_s'"),
    ("unknown-kafka-key", "kafka:\n  bootstrap: b:9092\n",
     "{cfg}:2: kafka.bootstrap: unknown key; did you mean 'bootstrap_servers'?"),
    # wrong types
    ("string-for-int", 'simulation:\n  concurrency: "many"\n',
     "{cfg}:2: simulation.concurrency: must be an integer >= 1, got 'many'"),
    ("bool-for-int", "simulation:\n  concurrency: true\n",
     "{cfg}:2: simulation.concurrency: must be an integer >= 1, got True"),
    ("unit-in-duration", "duration_s: 30s\n",
     "{cfg}:1: duration_s: must be a number > 0, got '30s'"),
    ("lowercase-currency", "store:\n  currency: usd\n",
     "{cfg}:2: store.currency: must be a three-letter ISO 4217 code such as 'USD', "
     "got 'usd'"),
    ("percent-for-rate", "store:\n  tax_rate: 8\n",
     "{cfg}:2: store.tax_rate: must be a number in [0, 1], got 8"),
    ("maybe-for-bool", "kafka:\n  create_topics:\n    enabled: maybe\n",
     "{cfg}:3: kafka.create_topics.enabled: must be true or false, got 'maybe'"),
    ("mapping-for-producer-value", "kafka:\n  producer:\n    acks: [1]\n",
     "{cfg}:3: kafka.producer.acks: must be a string, number or boolean, got [1]"),
    # min > max
    ("gap-min-over-max", "simulation:\n  gap_s: {min: 900, max: 60}\n",
     "{cfg}:2: simulation.gap_s: min must not be greater than max, got {{'min': 900, "
     "'max': 60}}"),
    ("duration-min-over-max",
     "simulation:\n  session_duration_s:\n    min: 600\n    max: 60\n",
     "{cfg}:2: simulation.session_duration_s: min must not be greater than max, got "
     "{{'min': 600, 'max': 60}}"),
    ("sessions-min-over-max", "simulation:\n  sessions_per_user: {min: 5, max: 2}\n",
     "{cfg}:2: simulation.sessions_per_user: min must not be greater than max, got "
     "{{'min': 5, 'max': 2}}"),
    # zero or negative
    ("zero-duration", "duration_s: 0\n",
     "{cfg}:1: duration_s: must be a number > 0, got 0"),
    ("negative-duration", "duration_s: -5\n",
     "{cfg}:1: duration_s: must be a number > 0, got -5"),
    ("zero-session-length", "simulation:\n  session_duration_s: {min: 0, max: 5}\n",
     "{cfg}:2: simulation.session_duration_s.min: must be a number > 0, got 0"),
    ("zero-concurrency", "simulation:\n  concurrency: 0\n",
     "{cfg}:2: simulation.concurrency: must be an integer >= 1, got 0"),
    ("negative-concurrency", "simulation:\n  concurrency: -3\n",
     "{cfg}:2: simulation.concurrency: must be an integer >= 1, got -3"),
    ("zero-speed", "clock:\n  mode: accelerated\n  speed: 0\n",
     "{cfg}:3: clock.speed: must be a number > 0, got 0"),
    ("negative-speed", "clock:\n  mode: accelerated\n  speed: -60\n",
     "{cfg}:3: clock.speed: must be a number > 0, got -60"),
    ("zero-throttle-interval", "simulation:\n  throttle: {interval_s: 0}\n",
     "{cfg}:2: simulation.throttle.interval_s: must be a number > 0, got 0"),
    ("zero-actors", "simulation:\n  actors: 0\n",
     "{cfg}:2: simulation.actors: must be 'auto' or an integer >= 1, got 0"),
    ("zero-max-bytes", "users:\n  generate: 3\n  max_bytes: 0\n",
     "{cfg}:3: users.max_bytes: must be an integer >= 1, got 0"),
    # choices and names
    ("clock-mode", "clock:\n  mode: warp\n",
     f"{{cfg}}:2: clock.mode: must be one of {MODES}, got 'warp'"),
    ("log-level", "logging:\n  level: loud\n",
     "{cfg}:2: logging.level: must be one of DEBUG, INFO, WARNING, ERROR, got 'loud'"),
    ("topic-with-slash", "kafka:\n  topics:\n    orders: shop/orders\n",
     "{cfg}:3: kafka.topics.orders: must be a Kafka topic name: 1-249 characters of "
     "a-z, A-Z, 0-9, '.', '_' and '-', and not '.' or '..', got 'shop/orders'"),
    ("topic-too-long", f"kafka:\n  topics:\n    users: {LONG_TOPIC}\n",
     "{cfg}:3: kafka.topics.users: must be a Kafka topic name: 1-249 characters of "
     f"a-z, A-Z, 0-9, '.', '_' and '-', and not '.' or '..', got '{LONG_TOPIC}'"),
    ("topic-dot-dot", "kafka:\n  topics:\n    users: '..'\n",
     "{cfg}:3: kafka.topics.users: must be a Kafka topic name: 1-249 characters of "
     "a-z, A-Z, 0-9, '.', '_' and '-', and not '.' or '..', got '..'"),
    ("topics-collide", "kafka:\n  topics:\n    users: shop.a\n    orders: shop_a\n",
     "{cfg}:4: kafka.topics.orders: must differ from kafka.topics.users (each topic "
     "needs its own name; '.' and '_' count as the same), got 'shop_a'"),
    ("bootstrap-without-port", "kafka:\n  bootstrap_servers: broker\n",
     "{cfg}:2: kafka.bootstrap_servers: must be 'embedded' or host:port, or a list "
     "of them (host:port such as broker:9092), got 'broker'"),
    # environment
    ("unset-variable", f"kafka:\n  bootstrap_servers: ${{{UNSET_VAR}}}\n",
     f"{{cfg}}:2: kafka.bootstrap_servers: environment variable {UNSET_VAR} is not "
     f"set and has no default (write ${{{{{UNSET_VAR}:-default}}}} to give one), got "
     f"'${{{{{UNSET_VAR}}}}}'"),
    ("unquoted-variable-in-flow", "store: {tax_rate: ${RS_RATE}}\n",
     "{cfg}:1: YAML syntax error: expected ',' or '}}', but got '{{' (while parsing "
     "a flow mapping at line 1); inside {{ }} or [ ], quote a ${{VAR}}: '${{VAR}}'"),
    ("not-a-variable", "name: 'run-${not a var}'\n",
     "{cfg}:1: name: ${{not a var}} is not a variable reference; write ${{NAME}} or "
     "${{NAME:-default}}, got 'run-${{not a var}}'"),
    # secrets are never echoed
    ("secret-value-masked", "kafka:\n  producer:\n    sasl.password: [hunter2]\n",
     "{cfg}:3: kafka.producer.sasl.password: must be a string, number or boolean, "
     "got '***'"),
    ("token-value-masked", "kafka:\n  producer:\n    sasl.oauthbearer.token: {a: 1}\n",
     "{cfg}:3: kafka.producer.sasl.oauthbearer.token: must be a string, number or "
     "boolean; write a librdkafka setting as one dotted key, e.g. "
     "sasl.oauthbearer.token.a: ..., got '***'"),
    # what the config points at
    ("users-path-missing", "users:\n  path: data/nope.json\n",
     "{cfg}:2: users.path: file not found, got '{dir}/data/nope.json'"),
    ("catalog-path-directory", "catalog:\n  path: .\n",
     "{cfg}:2: catalog.path: must be a file, not a directory, got '{dir}'"),
    ("logging-dir-is-a-file", "logging:\n  dir: exp.yaml\n",
     "{cfg}:2: logging.dir: must be a directory, not a file, got '{dir}/exp.yaml'"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "expected"), [pytest.param(t, e, id=i) for i, t, e in CONFIG_CASES]
)
def test_run_refuses_bad_config(tmp_path: Path, text: str, expected: str) -> None:
    result, config = run(tmp_path, text)
    lines = refused(result)
    line = "ConfigError: " + expected.format(cfg=config, dir=tmp_path)
    assert line in lines, "\n".join(lines)
    assert "hunter2" not in result.output


def test_run_refuses_a_secret_set_as_broken_yaml_without_echoing_it(
    tmp_path: Path,
) -> None:
    result, _ = run(tmp_path, SMALL, "--set", "kafka.producer.sasl.password=[hunter2")
    assert refused(result) == [
        "ConfigError: --set kafka.producer.sasl.password: VALUE is not valid YAML "
        "(expected ',' or ']', but got '<stream end>'), got '***'"
    ]
    assert "hunter2" not in result.output


def test_a_misspelt_producer_key_is_refused_without_echoing_its_value(
    tmp_path: Path,
) -> None:
    # sasl.pasword does not say "password", so masking by name cannot catch it.
    result, _ = run(tmp_path, SMALL, "--set", "kafka.producer.sasl.pasword=hunter2")
    assert refused(result) == [
        "ConfigError: --set kafka.producer.sasl.pasword: librdkafka refuses it: "
        'No such configuration property: "sasl.pasword"'
    ]
    assert "hunter2" not in result.output


def test_an_unknown_section_made_by_set_is_blamed_on_the_set(tmp_path: Path) -> None:
    result, _ = run(tmp_path, SMALL, "--set", "simulaton.concurrency=5")
    lines = refused(result)
    assert len(lines) == 1, lines
    assert lines[0].startswith(
        "ConfigError: --set simulaton.concurrency: simulaton: unknown key; "
        "did you mean 'simulation'?"
    ), lines


def test_run_refuses_a_report_path_it_could_not_write_before_starting(
    tmp_path: Path,
) -> None:
    report = tmp_path / "missing" / "r.json"
    result, _ = run(tmp_path, SMALL, "--report", str(report))
    assert refused(result) == [
        f"ConfigError: --report {report}: its directory does not exist "
        f"({tmp_path / 'missing'})"
    ]


def test_aliases_of_aliases_are_refused_before_they_fill_the_memory(
    tmp_path: Path,
) -> None:
    # Nine levels of nine aliases each stand for 9**9 (387 million) values.
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]")
    result, _ = run(tmp_path, "\n".join(lines) + "\n")
    expanded = [line for line in refused(result) if "stands for more than" in line]
    assert len(expanded) == 1, result.output
    assert "100,000 values (aliases that repeat aliases?)" in expanded[0]


def test_run_refuses_a_missing_config_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    result = CliRunner().invoke(cli, ["run", str(missing)])
    assert refused(result) == [f"ConfigError: {missing}: config file not found"]


def test_run_refuses_a_file_over_max_bytes_naming_its_size(tmp_path: Path) -> None:
    (tmp_path / "users.jsonl").write_text('{"id": 1}\n' * 30)
    text = "users:\n  path: users.jsonl\n  max_bytes: 100\n"
    result, config = run(tmp_path, text)
    assert refused(result) == [
        f"ConfigError: {config}:2: users.path: the file is 300 bytes, over "
        "users.max_bytes 100 bytes; it is read whole before the run starts: raise "
        "users.max_bytes if this machine has the memory, or use a smaller file, "
        f"got '{tmp_path / 'users.jsonl'}'"
    ]


def test_run_refuses_a_huge_catalog_by_default_without_reading_it(
    tmp_path: Path,
) -> None:
    huge = tmp_path / "products.json"
    with huge.open("wb") as handle:  # sparse: 3 GiB on disk costs nothing
        handle.truncate(3 * 2**30)
    result, config = run(tmp_path, "catalog:\n  path: products.json\n")
    assert refused(result) == [
        f"ConfigError: {config}:2: catalog.path: the file is 3.0 GiB (3,221,225,472 "
        "bytes), over catalog.max_bytes 64.0 MiB (67,108,864 bytes); it is read "
        "whole before the run starts: raise catalog.max_bytes if this machine has "
        f"the memory, or use a smaller file, got '{huge}'"
    ]


# Input files: the file name, its text, then the expected InputError line, where
# {path} is the input file.
USERS_CASES = [
    ("users-empty", "users.json", "",
     "users file {path} is empty; expected a list of users."),
    ("users-blank-jsonl", "users.jsonl", "\n  \n",
     "users file {path} is empty; expected a list of users."),
    ("users-not-json", "users.json", '[{"id": 1},\n {"id": 2,}]\n',
     "users file {path} is not valid JSON: Expecting property name enclosed in "
     "double quotes at line 2 column 11."),
    ("users-not-a-list", "users.json", '{"id": 1}',
     "users file {path} holds a JSON dict, expected a list of users objects."),
    ("users-no-records", "users.json", "[]",
     "users file {path} contains no users; expected at least one."),
    ("users-id-missing", "users.json", '[\n  {"id": 1},\n  {"name": "Ana"}\n]\n',
     "users file {path} line 3 (record [1]) has no 'user_id' field (nor 'id'); "
     'every user needs an id (set users.id_field); its fields: "name".'),
    ("users-id-null", "users.json", '[{"id": null}]',
     "users file {path} line 1 (record [0]) field 'id' must be a non-empty string "
     "or number, got null."),
    ("users-id-duplicated", "users.json",
     '[\n  {"id": 1},\n  {"id": 2},\n  {"id": 1}\n]',
     "users file {path} line 4 (record [2]) repeats id '1', first seen at line 2 "
     "(record [0]); ids must be unique."),
    ("users-record-not-object", "users.json", '[\n  {"id": 1},\n  "Ana"\n]',
     'users file {path} line 3 (record [1]) is a string, expected an object: "Ana".'),
    ("users-jsonl-bad-line", "users.jsonl", '{"id": 1}\n{"id": 2\n',
     "users file {path} line 2 is not valid JSON: Expecting ',' delimiter at "
     "column 9."),
    ("users-csv-without-id", "users.csv", "name,email\nAva,ava@example.com\n",
     "users file {path} line 2 has no 'user_id' field (nor 'id'); every user needs "
     'an id (set users.id_field); its fields: "name, email".'),
    ("users-csv-ragged", "users.csv", "id,name\n1,Ana\n2,Ben,extra\n",
     "users file {path} line 3 has more values than the 2 columns its header names."),
    ("users-csv-blank-id", "users.csv", "id,name\n,Ana\n",
     "users file {path} line 2 field 'id' must be a non-empty string or number, "
     'got "".'),
]  # fmt: skip

PRODUCT = '"title": "Mug", "category": "kitchen"'
PRODUCTS_CASES = [
    ("price-zero", f'[{{"id": 1, {PRODUCT}, "price": 0}}]',
     "products file {path} line 1 (record [0]) field 'price' must be > 0, got 0."),
    ("price-negative", f'[\n{{"id": 1, {PRODUCT}, "price": -2.5}}\n]',
     "products file {path} line 2 (record [0]) field 'price' must be > 0, got -2.5."),
    ("price-not-a-number", f'[{{"id": 1, {PRODUCT}, "price": "cheap"}}]',
     "products file {path} line 1 (record [0]) field 'price' must be a number, got "
     "'cheap'."),
    ("price-missing", f'[{{"id": 1, {PRODUCT}}}]',
     "products file {path} line 1 (record [0]) has no 'price' field; every product "
     "needs a price."),
    ("catalog-empty-list", "[]",
     "products file {path} contains no products; expected at least one."),
    ("catalog-empty-file", "",
     "products file {path} is empty; expected a list of products."),
]  # fmt: skip


def run_on_input(tmp_path: Path, section: str, name: str, text: str) -> Result:
    (tmp_path / name).write_text(text, encoding="utf-8")
    other = "catalog" if section == "users" else "users"
    result, _ = run(tmp_path, f"{section}:\n  path: {name}\n{other}:\n  generate: 3\n")
    return result


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [pytest.param(n, t, e, id=i) for i, n, t, e in USERS_CASES],
)
def test_run_refuses_bad_users_file(
    tmp_path: Path, name: str, text: str, expected: str
) -> None:
    result = run_on_input(tmp_path, "users", name, text)
    expected = "InputError: " + expected.format(path=tmp_path / name)
    assert refused(result) == [expected]


@pytest.mark.parametrize(
    ("text", "expected"), [pytest.param(t, e, id=i) for i, t, e in PRODUCTS_CASES]
)
def test_run_refuses_bad_products_file(
    tmp_path: Path, text: str, expected: str
) -> None:
    result = run_on_input(tmp_path, "catalog", "products.json", text)
    expected = "InputError: " + expected.format(path=tmp_path / "products.json")
    assert refused(result) == [expected]


def test_run_accepts_a_users_csv_with_a_byte_order_mark(tmp_path: Path) -> None:
    result = run_on_input(tmp_path, "users", "u.csv", "\ufeffuser_id,name\nu1,Ava\n")
    assert isinstance(result.exception, StartAttempted), result.output


def test_case_count_meets_the_issue() -> None:
    cases = len(CONFIG_CASES) + len(USERS_CASES) + len(PRODUCTS_CASES) + 4
    assert cases >= 40
