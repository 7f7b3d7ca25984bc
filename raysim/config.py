"""Experiment configuration: frozen dataclasses built from YAML.

All validation happens here, before any actor starts. Nothing here touches Ray or Kafka.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import math
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from raysim.errors import ConfigError

__all__ = [
    "CatalogConfig",
    "ClockConfig",
    "Config",
    "CreateTopicsConfig",
    "KafkaConfig",
    "LoggingConfig",
    "Range",
    "RayConfig",
    "SimulationConfig",
    "StoreConfig",
    "ThrottleConfig",
    "TopicsConfig",
    "UsersConfig",
    "dump_config",
    "load_config",
]

logger = logging.getLogger(__name__)

TOPIC_KEYS = ("users", "marketings", "sessions", "orders", "behaviours")
DEFAULT_USERS = 1000  # generated when neither users.path nor users.generate is given
DEFAULT_PRODUCTS = 200  # generated when neither catalog.path nor catalog.generate is
CLOCK_MODES = ("realtime", "accelerated")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
SECRET_WORDS = (
    "password",
    "secret",
    "token",
)  # dump_config masks keys containing these
SECRET_MASK = "***"


@dataclass(frozen=True)
class Range:
    """A closed interval [min, max] that values are drawn from uniformly."""

    min: float
    max: float


@dataclass(frozen=True)
class UsersConfig:
    path: str | None = None  # absolute once loaded
    id_field: str = "user_id"  # falls back to "id" when records lack it
    generate: int | None = None  # exactly one of path / generate
    keep_fields: tuple[str, ...] = ()  # sensitive fields to keep anyway


@dataclass(frozen=True)
class CatalogConfig:
    path: str | None = None  # absolute once loaded
    generate: int | None = None  # exactly one of path / generate; default 200


@dataclass(frozen=True)
class ThrottleConfig:
    cpu_percent: float = 90.0
    factor: float = 0.5
    min_concurrency: int = 10
    interval_s: float = 1.0


@dataclass(frozen=True)
class SimulationConfig:
    actors: int | str = "auto"  # "auto": one per physical core of each node
    concurrency: int = 100  # sessions in flight per actor
    sessions_per_user: Range | None = None  # sessions a user has in a run; None: no cap
    session_duration_s: Range = Range(60.0, 900.0)
    gap_s: Range = Range(600.0, 86_400.0)  # between the end of one session and the next
    throttle: ThrottleConfig = field(default_factory=ThrottleConfig)


@dataclass(frozen=True)
class StoreConfig:
    """Rates and prices of the simulated store; the defaults look like a real shop."""

    currency: str = "USD"
    tax_rate: float = 0.08
    shipping_fee: float = 4.99
    free_shipping_over: float = 50.0
    add_to_cart_rate: float = 0.12  # share of sessions that add to cart
    checkout_rate: float = 0.45  # share of carts that begin checkout
    purchase_rate: float = 0.60  # share of checkouts that purchase
    channels: dict[str, float] = field(
        default_factory=lambda: {
            "organic_search": 0.33,
            "direct": 0.22,
            "paid_search": 0.16,
            "social": 0.12,
            "email": 0.09,
            "referral": 0.05,
            "display": 0.03,
        }
    )
    devices: dict[str, float] = field(
        default_factory=lambda: {"mobile": 0.62, "desktop": 0.33, "tablet": 0.05}
    )


@dataclass(frozen=True)
class ClockConfig:
    mode: str = "realtime"  # "realtime" | "accelerated"
    speed: float = 1.0  # accelerated: simulated seconds per wall second
    start: datetime | None = (
        None  # accelerated: event time at the start; None: now (UTC)
    )


@dataclass(frozen=True)
class TopicsConfig:
    users: str = "users"
    marketings: str = "marketings"
    sessions: str = "sessions"
    orders: str = "orders"
    behaviours: str = "behaviours"

    def names(self) -> dict[str, str]:
        """Logical topic -> configured Kafka topic name."""
        return {key: getattr(self, key) for key in TOPIC_KEYS}


@dataclass(frozen=True)
class CreateTopicsConfig:
    enabled: bool = True
    partitions: int = 6
    replication_factor: int = 1


@dataclass(frozen=True)
class KafkaConfig:
    bootstrap_servers: str = "embedded"  # "embedded" or "host:port,host:port"
    topics: TopicsConfig = field(default_factory=TopicsConfig)
    producer: dict[str, Any] = field(default_factory=dict)  # librdkafka keys, as given
    create_topics: CreateTopicsConfig = field(default_factory=CreateTopicsConfig)


@dataclass(frozen=True)
class RayConfig:
    address: str | None = (
        None  # None: a local instance; "auto" or "ray://...": a cluster
    )
    namespace: str = "raysim"


@dataclass(frozen=True)
class LoggingConfig:
    dir: str = "logs"  # absolute once loaded
    level: str = "INFO"


@dataclass(frozen=True)
class Config:
    name: str = "raysim"
    seed: int = 0
    duration_s: float | None = None  # None: until Ctrl+C (or every user is done)
    users: UsersConfig = field(default_factory=UsersConfig)
    catalog: CatalogConfig = field(default_factory=CatalogConfig)
    simulation: SimulationConfig = field(default_factory=SimulationConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    clock: ClockConfig = field(default_factory=ClockConfig)
    kafka: KafkaConfig = field(default_factory=KafkaConfig)
    ray: RayConfig = field(default_factory=RayConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    source: str = "<defaults>"  # the file this config came from


_Path = tuple[str | int, ...]  # a key path in the YAML tree, e.g. ("kafka", "topics")
_BAD = object()  # a value that was reported as a problem; the caller keeps its default

_TOPIC_NAME = re.compile(r"[a-zA-Z0-9._-]{1,249}")
_ENV_REF = re.compile(r"\$(\$)|\$\{([^}]*)\}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"[-+]?(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][-+]?\d+)?")
_HOST_PORT = re.compile(r"(?:[A-Za-z_]+://)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d+)")
_CURRENCY = re.compile(r"[A-Z]{3}")
_YAML_BOOLS = {
    **dict.fromkeys(("yes", "true", "on"), True),
    **dict.fromkeys(("no", "false", "off"), False),
}
# Setting one of these through --set drops the other one when it came from the file.
_EXCLUSIVE = (("users", "path", "generate"), ("catalog", "path", "generate"))
_MERGE_TAG = "tag:yaml.org,2002:merge"

_TOP_KEYS = (
    "name",
    "seed",
    "duration_s",
    "users",
    "catalog",
    "simulation",
    "store",
    "clock",
    "kafka",
    "ray",
    "logging",
)


def load_config(
    path: str | os.PathLike[str], overrides: list[str] | tuple[str, ...] = ()
) -> Config:
    """Read, interpolate, override and validate a YAML experiment.

    `overrides` are the CLI's `--set KEY=VALUE` strings: KEY is a dotted key path
    (under `kafka.producer` the rest is one librdkafka key) and VALUE is read as YAML.
    `${VAR}` and `${VAR:-default}` in string values are replaced from the environment
    (`$$` is a literal `$`). Raises ConfigError listing every problem found.
    """
    shown = os.fspath(path)
    if isinstance(overrides, str):
        overrides = [overrides]
    checker = _Checker(shown)
    tree = _read_yaml(Path(shown), checker)
    if tree is None:
        tree = {}
    _apply_overrides(checker, tree, overrides)
    tree = _interpolate(checker, tree, ())
    config = _Builder(checker, Path(shown)).build(tree)
    if checker.problems:
        raise ConfigError(checker.problems)
    logger.debug("loaded config %s from %s", config.name, config.source)
    return config


def dump_config(config: Config) -> dict[str, Any]:
    """The config as plain data for logs and reports, with every secret shown as ***.

    A key is secret when it contains "password", "secret" or "token" (any case), e.g.
    `sasl.password` or `sasl.oauthbearer.token`.
    """
    return _plain(dataclasses.asdict(config))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: SECRET_MASK if _is_secret(key) else _plain(item)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _is_secret(key: object) -> bool:
    return isinstance(key, str) and any(word in key.lower() for word in SECRET_WORDS)


def _dotted(path: _Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
    return text


@dataclass(frozen=True)
class _Origin:
    """Where a value of the tree was written."""

    where: str  # "file.yaml:12" or "--set key"
    plain: bool = False  # an unquoted scalar: "1e5" or "yes" may be read as written
    raw: str | None = None  # the scalar's text as written
    override: bool = False  # from --set: relative paths resolve against the CWD


class _Checker:
    """Collects problems, one line each, and reads typed values from the tree."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[str] = []
        self.origins: dict[_Path, _Origin] = {}
        # Values holding a ${VAR} that is not set: reported once, not checked again.
        self.unresolved: set[_Path] = set()

    def origin(self, path: _Path) -> _Origin | None:
        for end in range(len(path), -1, -1):
            found = self.origins.get(path[:end])
            if found is not None:
                return found
        return None

    def add(self, path: _Path, rule: str, value: Any = _BAD) -> None:
        if path in self.unresolved:
            return
        origin = self.origin(path)
        text = origin.where if origin is not None else self.file
        if path:
            text += f": {_dotted(path)}"
        text += f": {rule}"
        if value is not _BAD:
            text += f", got {value!r}"
        self.problems.append(text)

    def _is_plain(self, path: _Path) -> bool:
        origin = self.origins.get(path)
        return origin is not None and origin.plain

    def _hint(self, path: _Path, value: Any, want: str) -> str:
        """Why a value is not of the wanted kind, when YAML's typing is to blame."""
        origin = self.origins.get(path)
        raw = origin.raw if origin is not None and origin.plain else None
        if want == "string" and raw is not None and not isinstance(value, str):
            if isinstance(value, bool):
                return f' (YAML reads unquoted {raw} as a boolean; quote it: "{raw}")'
            return f' (quote it: "{raw}")'
        if want == "number" and isinstance(value, str) and not self._is_plain(path):
            if _NUMBER.fullmatch(value.strip()):
                return " (a quoted number is a string; remove the quotes)"
        return ""

    def mapping(
        self, path: _Path, value: Any, known: Iterable[str] | None = None
    ) -> dict[str, Any]:
        """A mapping (null reads as empty); with `known`, other keys are problems."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.add(path, "must be a mapping of keys to values", value)
            return {}
        if known is not None:
            known = tuple(known)
            for key in value:
                if key not in known:
                    self.add(path + (key,), _unknown_key_rule(key, known))
        return value

    def number(
        self,
        path: _Path,
        value: Any,
        low: float | None = None,
        high: float | None = None,
        *,
        open_low: bool = False,
        open_high: bool = False,
        integer: bool = False,
    ) -> Any:
        kind = "an integer" if integer else "a number"
        if low is not None and high is not None:
            rule = (
                f"must be {kind} in {'(' if open_low else '['}{low:g}, {high:g}"
                f"{')' if open_high else ']'}"
            )
        elif low is not None:
            rule = f"must be {kind} {'>' if open_low else '>='} {low:g}"
        else:
            rule = f"must be {kind}"
        number = self.numeric(path, value)
        if number is None or (
            integer and isinstance(number, float) and not number.is_integer()
        ):
            self.add(path, rule + self._hint(path, value, "number"), value)
            return _BAD
        if (low is not None and (number <= low if open_low else number < low)) or (
            high is not None and (number >= high if open_high else number > high)
        ):
            self.add(path, rule, value)
            return _BAD
        return int(number) if integer else float(number)

    def integer(self, path: _Path, value: Any, low: int | None = None) -> Any:
        return self.number(path, value, low, integer=True)

    def numeric(self, path: _Path, value: Any) -> int | float | None:
        """A number, also from unquoted text YAML 1.1 leaves as a string (1e5)."""
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return value if abs(value) < 2**63 else None
        if isinstance(value, float):
            return value if math.isfinite(value) else None
        if isinstance(value, str) and self._is_plain(path):
            text = value.strip()
            if _NUMBER.fullmatch(text):
                number = float(text.replace("_", ""))
                return number if math.isfinite(number) else None
        return None

    def string(
        self, path: _Path, value: Any, choices: Iterable[str] | None = None
    ) -> Any:
        if not isinstance(value, str):
            hint = self._hint(path, value, "string")
            self.add(path, f"must be a string{hint}", value)
            return _BAD
        if not value.strip():
            self.add(path, "must not be empty", value)
            return _BAD
        if choices is not None and value not in tuple(choices):
            listed = ", ".join(repr(choice) for choice in choices)
            self.add(path, f"must be one of {listed}", value)
            return _BAD
        return value

    def boolean(self, path: _Path, value: Any) -> Any:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and self._is_plain(path):
            found = _YAML_BOOLS.get(value.strip().lower())
            if found is not None:
                return found
        self.add(path, "must be true or false", value)
        return _BAD

    def range(
        self,
        path: _Path,
        value: Any,
        low: float,
        *,
        open_low: bool = False,
        integer: bool = False,
    ) -> Any:
        """A {min, max} mapping, or a single number meaning min = max."""

        def read(at: _Path, item: Any) -> Any:
            return self.number(at, item, low, open_low=open_low, integer=integer)

        if not isinstance(value, dict):
            if isinstance(value, (list, type(None))):
                self.add(
                    path, "must be a mapping {min: ..., max: ...} or a number", value
                )
                return _BAD
            single = read(path, value)
            return _BAD if single is _BAD else Range(single, single)
        data = self.mapping(path, value, ("min", "max"))
        missing = [key for key in ("min", "max") if key not in data]
        if missing:
            self.add(path, f"needs both min and max, {missing[0]} is missing", value)
            return _BAD
        low_value = read(path + ("min",), data["min"])
        high_value = read(path + ("max",), data["max"])
        if low_value is _BAD or high_value is _BAD:
            return _BAD
        if low_value > high_value:
            self.add(path, "min must not be greater than max", value)
            return _BAD
        return Range(low_value, high_value)


def _unknown_key_rule(key: str, known: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    if close:
        return f"unknown key; did you mean {close[0]!r}?"
    return "unknown key; expected one of " + ", ".join(repr(k) for k in known)


class _Loader(yaml.SafeLoader):
    """A SafeLoader that builds the tree itself, to keep where each value was written.

    It reports duplicate keys (with both lines) and keys that are not strings, which
    PyYAML would otherwise accept silently.
    """

    def __init__(
        self,
        text: str,
        checker: _Checker,
        locate: Callable[[yaml.Node], str],
        override: bool = False,
    ) -> None:
        super().__init__(text)
        self.checker = checker
        self.locate = locate
        self.override = override
        self.active: set[int] = set()  # nodes being built, to stop at alias cycles

    def note(self, path: _Path, where: str, node: yaml.Node) -> None:
        scalar = isinstance(node, yaml.ScalarNode)
        self.checker.origins[path] = _Origin(
            where,
            plain=scalar and node.style is None,
            raw=node.value if scalar else None,
            override=self.override,
        )

    def build(self, node: yaml.Node, path: _Path, where: str) -> Any:
        self.note(path, where, node)
        if isinstance(node, yaml.ScalarNode):
            try:
                return self.construct_object(node)
            except yaml.YAMLError as exc:
                problem = getattr(exc, "problem", None) or str(exc)
                self.checker.add(
                    path, f"cannot read this value ({problem})", node.value
                )
                return None
        if id(node) in self.active:
            self.checker.add(path, "an alias may not refer to the node that holds it")
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [
                    self.build(item, path + (index,), self.locate(item))
                    for index, item in enumerate(node.value)
                ]
            return self.build_mapping(node, path)
        finally:
            self.active.discard(id(node))

    def build_mapping(self, node: yaml.MappingNode, path: _Path) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                sources = (
                    value_node.value
                    if isinstance(value_node, yaml.SequenceNode)
                    else [value_node]
                )
                own = self.checker.origins[path]
                for source in sources:
                    built = self.build(source, path, self.locate(source))
                    if isinstance(built, dict):
                        merged = {**built, **merged}
                self.checker.origins[path] = own
        result: dict[str, Any] = {}
        lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            where = self.locate(key_node)
            key: Any = None
            if isinstance(key_node, yaml.ScalarNode):
                key = self.construct_object(key_node)
            if not isinstance(key, str):
                raw = key_node.value if isinstance(key_node, yaml.ScalarNode) else "?"
                self.checker.origins[path + (str(raw),)] = _Origin(where)
                hint = ""
                if isinstance(key, bool):
                    hint = (
                        f' (YAML reads unquoted {raw} as a boolean; quote it: "{raw}")'
                    )
                elif isinstance(key_node, yaml.ScalarNode):
                    hint = f' (quote it: "{raw}")'
                self.checker.add(path + (str(raw),), f"key must be a string{hint}", key)
                continue
            line = key_node.start_mark.line + 1
            if key in lines:
                self.checker.origins[path + (key,)] = _Origin(where)
                self.checker.add(
                    path + (key,),
                    f"duplicate key, first at line {lines[key]}; "
                    "YAML would silently keep only the last one",
                )
            lines[key] = line
            result[key] = self.build(value_node, path + (key,), where)
        return {**merged, **result}


def _read_yaml(path: Path, checker: _Checker) -> dict[str, Any] | None:
    shown = checker.file
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        checker.problems.append(f"{shown}: config file not found")
        return None
    except IsADirectoryError:
        checker.problems.append(f"{shown}: is a directory, not a config file")
        return None
    except UnicodeDecodeError as exc:
        checker.problems.append(
            f"{shown}: not UTF-8 text ({exc.reason} at byte {exc.start})"
        )
        return None
    except OSError as exc:
        checker.problems.append(
            f"{shown}: cannot read the config file ({exc.strerror})"
        )
        return None

    def locate(node: yaml.Node) -> str:
        return f"{shown}:{node.start_mark.line + 1}"

    loader = _Loader(text, checker, locate)
    try:
        root = loader.get_single_node()
        if root is None:
            checker.problems.append(
                f"{shown}: the file is empty; expected a mapping of settings "
                "such as 'name:' and 'users:'"
            )
            return None
        tree = loader.build(root, (), locate(root))
    except yaml.MarkedYAMLError as exc:
        checker.problems.extend(_syntax_problems(shown, text, exc))
        return None
    except yaml.YAMLError as exc:
        checker.problems.append(
            f"{shown}: not valid YAML ({' '.join(str(exc).split())})"
        )
        return None
    finally:
        loader.dispose()
    if not isinstance(tree, dict):
        checker.add((), "the top level must be a mapping of settings", tree)
        return None
    return tree


def _syntax_problems(shown: str, text: str, exc: yaml.MarkedYAMLError) -> list[str]:
    tabs = [
        number
        for number, line in enumerate(text.splitlines(), 1)
        if "\t" in line[: len(line) - len(line.lstrip(" \t"))]
    ]
    if tabs:
        return [
            f"{shown}:{number}: indentation uses a tab; YAML indents with spaces only"
            for number in tabs
        ]
    mark = exc.problem_mark or exc.context_mark
    where = f"{shown}:{mark.line + 1}" if mark is not None else shown
    detail = exc.problem or exc.context or "cannot parse"
    if "\\t" in detail:
        detail += "; use spaces, not tabs"
    if exc.context and exc.problem and exc.context_mark is not None:
        detail += f" ({exc.context} at line {exc.context_mark.line + 1})"
    return [f"{where}: YAML syntax error: {detail}"]


def _apply_overrides(
    checker: _Checker, tree: dict[str, Any], overrides: Iterable[str]
) -> set[_Path]:
    """Set each KEY=VALUE into the tree; returns the key paths that were set."""
    done: set[_Path] = set()
    for item in overrides:
        path = _override_path(checker, item)
        if path is None:
            continue
        key, _, text = item.partition("=")
        where = f"--set {key.strip()}"
        loader = _Loader(text, checker, lambda node, where=where: where, override=True)
        try:
            node = loader.get_single_node()
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or "cannot parse"
            checker.problems.append(
                f"{where}: VALUE is not valid YAML ({problem}), got {text!r}"
            )
            continue
        finally:
            loader.dispose()
        parent = tree
        for end in range(1, len(path)):
            child = parent.get(path[end - 1])
            if child is None:
                child = parent[path[end - 1]] = {}
            elif not isinstance(child, dict):
                checker.problems.append(
                    f"{where}: cannot set {_dotted(path)} because "
                    f"{_dotted(path[:end])} is not a mapping, got {child!r}"
                )
                break
            parent = child
        else:
            for known in [
                known for known in checker.origins if known[: len(path)] == path
            ]:
                del checker.origins[known]
            if node is None:
                checker.origins[path] = _Origin(
                    where, plain=True, raw="", override=True
                )
                parent[path[-1]] = None
            else:
                parent[path[-1]] = loader.build(node, path, where)
            done.add(path)
    for section, first, second in _EXCLUSIVE:
        part = tree.get(section)
        for mine, other in ((first, second), (second, first)):
            if (
                isinstance(part, dict)
                and (section, mine) in done
                and part.get(mine) is not None
                and (section, other) not in done
            ):
                part.pop(other, None)
    return done


def _override_path(checker: _Checker, item: Any) -> _Path | None:
    example = "e.g. --set simulation.concurrency=200"
    if not isinstance(item, str) or "=" not in item:
        checker.problems.append(f"--set {item}: expected KEY=VALUE, {example}")
        return None
    key = item.partition("=")[0].strip()
    parts = key.split(".")
    if not key or not all(parts) or any(part != part.strip() for part in parts):
        checker.problems.append(
            f"--set {item}: KEY must be a dotted key path such as "
            f"simulation.concurrency, got {key!r}"
        )
        return None
    if parts[:2] == ["kafka", "producer"] and len(parts) > 2:
        return ("kafka", "producer", ".".join(parts[2:]))
    return tuple(parts)


def _interpolate(checker: _Checker, value: Any, path: _Path) -> Any:
    """Replace ${VAR} and ${VAR:-default} in every string value."""
    if isinstance(value, dict):
        return {
            key: _interpolate(checker, item, path + (key,))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [
            _interpolate(checker, item, path + (i,)) for i, item in enumerate(value)
        ]
    if not isinstance(value, str) or "$" not in value:
        return value

    def replace(match: re.Match[str]) -> str:
        if match.group(1):
            return "$"
        inner = match.group(2)
        name, has_default, default = inner.partition(":-")
        if not _ENV_NAME.fullmatch(name):
            checker.add(
                path,
                f"${{{inner}}} is not a variable reference; write ${{NAME}} or "
                "${NAME:-default}",
                value,
            )
            return match.group(0)
        found = os.environ.get(name)
        if found is None or (has_default and not found):
            if has_default:
                return default
            checker.add(
                path,
                f"environment variable {name} is not set and has no default "
                f"(write ${{{name}:-default}} to give one)",
                value,
            )
            return match.group(0)
        return found

    before = len(checker.problems)
    result = _ENV_REF.sub(replace, value)
    if len(checker.problems) > before:
        checker.unresolved.add(path)
    return result


class _Builder:
    """Turns the checked tree into a Config, section by section."""

    def __init__(self, checker: _Checker, file: Path) -> None:
        self.c = checker
        self.file = file

    def field(
        self,
        data: dict[str, Any],
        path: _Path,
        key: str,
        default: Any,
        read: Callable[[_Path, Any], Any],
        *,
        nullable: bool = False,
    ) -> Any:
        if key not in data:
            return default
        value = data[key]
        if value is None and nullable:
            return None
        got = read(path + (key,), value)
        return default if got is _BAD else got

    def build(self, tree: dict[str, Any]) -> Config:
        c = self.c
        data = c.mapping((), tree, _TOP_KEYS)
        name = self.field(data, (), "name", self.file.stem, c.string)
        seed = self.field(data, (), "seed", 0, lambda p, v: c.integer(p, v, 0))
        duration_s = self.field(
            data,
            (),
            "duration_s",
            None,
            lambda p, v: c.number(p, v, 0, open_low=True),
            nullable=True,
        )
        return Config(
            name=name,
            seed=seed,
            duration_s=duration_s,
            users=self.users(data.get("users")),
            catalog=self.catalog(data.get("catalog")),
            simulation=self.simulation(data.get("simulation")),
            store=self.store(data.get("store")),
            clock=self.clock(data.get("clock")),
            kafka=self.kafka(data.get("kafka")),
            ray=self.ray(data.get("ray")),
            logging=self.logging(data.get("logging")),
            source=os.path.abspath(self.file),
        )

    def input_file(self, path: _Path, value: Any) -> Any:
        """An existing file; relative to the YAML file, or to the CWD from --set."""
        if self.c.string(path, value) is _BAD:
            return _BAD
        origin = self.c.origin(path)
        from_cwd = origin is not None and origin.override
        base = Path.cwd() if from_cwd else self.file.absolute().parent
        resolved = os.path.abspath(base / os.path.expanduser(value))
        if not os.path.exists(resolved):
            self.c.add(path, "file not found", resolved)
            return _BAD
        if not os.path.isfile(resolved):
            self.c.add(path, "must be a file, not a directory", resolved)
            return _BAD
        return resolved

    def exactly_one(
        self, path: _Path, data: dict[str, Any], default_generate: int
    ) -> tuple[str | None, int | None]:
        file = self.field(data, path, "path", None, self.input_file, nullable=True)
        generate = self.field(
            data,
            path,
            "generate",
            None,
            lambda p, v: self.c.integer(p, v, 1),
            nullable=True,
        )
        if data.get("path") is not None and data.get("generate") is not None:
            self.c.add(
                path,
                "give exactly one of path and generate",
                {"path": data["path"], "generate": data["generate"]},
            )
        elif data.get("path") is None and data.get("generate") is None:
            generate = default_generate
        return file, generate

    def users(self, value: Any) -> UsersConfig:
        path: _Path = ("users",)
        data = self.c.mapping(
            path, value, ("path", "id_field", "generate", "keep_fields")
        )
        file, generate = self.exactly_one(path, data, DEFAULT_USERS)
        id_field = self.field(data, path, "id_field", "user_id", self.c.string)
        keep = self.field(
            data, path, "keep_fields", (), self.string_list, nullable=True
        )
        return UsersConfig(file, id_field, generate, keep or ())

    def string_list(self, path: _Path, value: Any) -> Any:
        if not isinstance(value, list):
            self.c.add(path, "must be a list of strings", value)
            return _BAD
        items = [self.c.string(path + (i,), item) for i, item in enumerate(value)]
        return _BAD if _BAD in items else tuple(items)

    def catalog(self, value: Any) -> CatalogConfig:
        path: _Path = ("catalog",)
        data = self.c.mapping(path, value, ("path", "generate"))
        file, generate = self.exactly_one(path, data, DEFAULT_PRODUCTS)
        return CatalogConfig(file, generate)

    def simulation(self, value: Any) -> SimulationConfig:
        c, path = self.c, ("simulation",)
        known = ("actors", "concurrency", "sessions_per_user", "session_duration_s")
        data = c.mapping(path, value, known + ("gap_s", "throttle"))
        d = SimulationConfig()
        return SimulationConfig(
            actors=self.field(data, path, "actors", d.actors, self.actors),
            concurrency=self.field(
                data,
                path,
                "concurrency",
                d.concurrency,
                lambda p, v: c.integer(p, v, 1),
            ),
            sessions_per_user=self.field(
                data,
                path,
                "sessions_per_user",
                None,
                lambda p, v: c.range(p, v, 1, integer=True),
                nullable=True,
            ),
            session_duration_s=self.field(
                data,
                path,
                "session_duration_s",
                d.session_duration_s,
                lambda p, v: c.range(p, v, 0, open_low=True),
            ),
            gap_s=self.field(
                data, path, "gap_s", d.gap_s, lambda p, v: c.range(p, v, 0)
            ),
            throttle=self.throttle(data.get("throttle")),
        )

    def actors(self, path: _Path, value: Any) -> Any:
        if isinstance(value, str) and value.strip() == "auto":
            return "auto"
        number = self.c.numeric(path, value)
        if number is None or number < 1 or not float(number).is_integer():
            self.c.add(path, "must be 'auto' or an integer >= 1", value)
            return _BAD
        return int(number)

    def throttle(self, value: Any) -> ThrottleConfig:
        c, path = self.c, ("simulation", "throttle")
        known = ("cpu_percent", "factor", "min_concurrency", "interval_s")
        data = c.mapping(path, value, known)
        d = ThrottleConfig()
        return ThrottleConfig(
            cpu_percent=self.field(
                data,
                path,
                "cpu_percent",
                d.cpu_percent,
                lambda p, v: c.number(p, v, 1, 100),
            ),
            factor=self.field(
                data,
                path,
                "factor",
                d.factor,
                lambda p, v: c.number(p, v, 0, 1, open_low=True, open_high=True),
            ),
            min_concurrency=self.field(
                data,
                path,
                "min_concurrency",
                d.min_concurrency,
                lambda p, v: c.integer(p, v, 1),
            ),
            interval_s=self.field(
                data,
                path,
                "interval_s",
                d.interval_s,
                lambda p, v: c.number(p, v, 0, open_low=True),
            ),
        )

    def store(self, value: Any) -> StoreConfig:
        c, path = self.c, ("store",)
        d = StoreConfig()
        known = [f.name for f in dataclasses.fields(StoreConfig)]
        data = c.mapping(path, value, known)
        values: dict[str, Any] = {}
        for key in known:
            read = self.store_reader(key)
            values[key] = self.field(data, path, key, getattr(d, key), read)
        return StoreConfig(**values)

    def store_reader(self, key: str) -> Callable[[_Path, Any], Any]:
        if key == "currency":
            return self.currency
        if key in ("channels", "devices"):
            return self.weights
        if key.endswith("_rate"):
            return lambda path, value: self.c.number(path, value, 0, 1)
        return lambda path, value: self.c.number(path, value, 0)

    def currency(self, path: _Path, value: Any) -> Any:
        text = self.c.string(path, value)
        if text is not _BAD and not _CURRENCY.fullmatch(text):
            self.c.add(
                path, "must be a three-letter ISO 4217 code such as 'USD'", value
            )
            return _BAD
        return text

    def weights(self, path: _Path, value: Any) -> Any:
        if not isinstance(value, dict) or not value:
            self.c.add(
                path, "must be a non-empty mapping of names to weights > 0", value
            )
            return _BAD
        weights = {
            key: self.c.number(path + (key,), weight, 0, open_low=True)
            for key, weight in value.items()
        }
        return _BAD if _BAD in weights.values() else weights

    def clock(self, value: Any) -> ClockConfig:
        c, path = self.c, ("clock",)
        data = c.mapping(path, value, ("mode", "speed", "start"))
        speed = self.field(
            data, path, "speed", 1.0, lambda p, v: c.number(p, v, 0, open_low=True)
        )
        # A speed other than 1 alone means accelerated; with an explicit realtime it
        # is a contradiction.
        implied = "accelerated" if speed != 1 else "realtime"
        mode = self.field(
            data, path, "mode", implied, lambda p, v: c.string(p, v, CLOCK_MODES)
        )
        start = self.field(data, path, "start", None, self.start, nullable=True)
        if mode == "realtime" and speed != 1:
            c.add(
                path + ("speed",),
                "must be 1 when clock.mode is realtime (set clock.mode: accelerated "
                "to run faster)",
                data.get("speed"),
            )
        if mode == "realtime" and start is not None:
            c.add(
                path + ("start",),
                "applies only when clock.mode is accelerated; realtime uses the wall "
                "clock",
                data.get("start"),
            )
        return ClockConfig(mode, speed, start)

    def start(self, path: _Path, value: Any) -> Any:
        rule = "must be an ISO 8601 date-time such as 2026-11-27T00:00:00Z"
        if isinstance(value, datetime):
            moment = value
        elif isinstance(value, date):
            moment = datetime(value.year, value.month, value.day)
        elif isinstance(value, str):
            text = value.strip()
            if text[-1:] in ("Z", "z"):
                text = text[:-1] + "+00:00"
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                self.c.add(path, rule, value)
                return _BAD
        else:
            self.c.add(path, rule, value)
            return _BAD
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment

    def kafka(self, value: Any) -> KafkaConfig:
        c, path = self.c, ("kafka",)
        known = ("bootstrap_servers", "topics", "producer", "create_topics")
        data = c.mapping(path, value, known)
        d = KafkaConfig()
        return KafkaConfig(
            bootstrap_servers=self.field(
                data, path, "bootstrap_servers", d.bootstrap_servers, self.bootstrap
            ),
            topics=self.topics(data.get("topics")),
            producer=self.producer(data.get("producer")),
            create_topics=self.create_topics(data.get("create_topics")),
        )

    def bootstrap(self, path: _Path, value: Any) -> Any:
        rule = "must be 'embedded' or host:port, or a list of them"
        if isinstance(value, str):
            if value.strip() == "embedded":
                return "embedded"
            items = [(path, item.strip()) for item in value.split(",")]
        elif isinstance(value, list) and value:
            items = [(path + (i,), item) for i, item in enumerate(value)]
        else:
            self.c.add(path, rule, value)
            return _BAD
        servers = []
        for at, item in items:
            if self.host_port(at, item, rule) is _BAD:
                return _BAD
            servers.append(item)
        return ",".join(servers)

    def host_port(self, path: _Path, value: Any, rule: str) -> Any:
        if not isinstance(value, str):
            self.c.add(path, rule, value)
            return _BAD
        match = _HOST_PORT.fullmatch(value)
        if match is None:
            self.c.add(path, f"{rule} (host:port such as broker:9092)", value)
            return _BAD
        if not 1 <= int(match.group(2)) <= 65535:
            self.c.add(path, "port must be in 1..65535", value)
            return _BAD
        return value

    def topics(self, value: Any) -> TopicsConfig:
        c, path = self.c, ("kafka", "topics")
        data = c.mapping(path, value, TOPIC_KEYS)
        names = {
            key: self.field(data, path, key, key, self.topic_name) for key in TOPIC_KEYS
        }
        seen: dict[str, str] = {}
        for key, name in names.items():
            # Kafka treats "." and "_" as the same in metric names, so it refuses both.
            same = name.replace(".", "_")
            if same in seen:
                c.add(
                    path + (key,),
                    f"must differ from kafka.topics.{seen[same]} (each topic needs its "
                    "own name; '.' and '_' count as the same)",
                    name,
                )
            else:
                seen[same] = key
        return TopicsConfig(**names)

    def topic_name(self, path: _Path, value: Any) -> Any:
        name = self.c.string(path, value)
        if name is _BAD:
            return _BAD
        if not _TOPIC_NAME.fullmatch(name) or name in (".", ".."):
            self.c.add(
                path,
                "must be a Kafka topic name: 1-249 characters of a-z, A-Z, 0-9, '.', "
                "'_' and '-', and not '.' or '..'",
                value,
            )
            return _BAD
        return name

    def producer(self, value: Any) -> dict[str, Any]:
        path = ("kafka", "producer")
        data = self.c.mapping(path, value)
        settings: dict[str, Any] = {}
        for key, item in data.items():
            at = path + (key,)
            if key == "bootstrap.servers":
                self.c.add(
                    at,
                    "set kafka.bootstrap_servers instead; the sink fills this in",
                    item,
                )
            elif isinstance(item, dict):
                inner = next(iter(item), "ms")
                self.c.add(
                    at,
                    "must be a string, number or boolean; write a librdkafka setting "
                    f"as one dotted key, e.g. {key}.{inner}: ...",
                    item,
                )
            elif isinstance(item, (str, int, float, bool)):
                settings[key] = item
            else:
                self.c.add(at, "must be a string, number or boolean", item)
        return settings

    def create_topics(self, value: Any) -> CreateTopicsConfig:
        c, path = self.c, ("kafka", "create_topics")
        data = c.mapping(path, value, ("enabled", "partitions", "replication_factor"))
        d = CreateTopicsConfig()
        return CreateTopicsConfig(
            enabled=self.field(data, path, "enabled", d.enabled, c.boolean),
            partitions=self.field(
                data, path, "partitions", d.partitions, lambda p, v: c.integer(p, v, 1)
            ),
            replication_factor=self.field(
                data,
                path,
                "replication_factor",
                d.replication_factor,
                lambda p, v: c.integer(p, v, 1),
            ),
        )

    def ray(self, value: Any) -> RayConfig:
        c, path = self.c, ("ray",)
        data = c.mapping(path, value, ("address", "namespace"))
        return RayConfig(
            address=self.field(
                data, path, "address", None, self.ray_address, nullable=True
            ),
            namespace=self.field(
                data, path, "namespace", RayConfig().namespace, c.string
            ),
        )

    def ray_address(self, path: _Path, value: Any) -> Any:
        rule = "must be 'auto', ray://host:port or host:port"
        address = self.c.string(path, value)
        if address is _BAD or address == "auto":
            return address
        rest = address[len("ray://") :] if address.startswith("ray://") else address
        if "://" in rest:
            self.c.add(path, rule, value)
            return _BAD
        return _BAD if self.host_port(path, rest, rule) is _BAD else address

    def logging(self, value: Any) -> LoggingConfig:
        c, path = self.c, ("logging",)
        data = c.mapping(path, value, ("dir", "level"))
        d = LoggingConfig()
        directory = self.field(data, path, "dir", d.dir, c.string)
        level = self.field(data, path, "level", d.level, self.log_level)
        return LoggingConfig(os.path.abspath(os.path.expanduser(directory)), level)

    def log_level(self, path: _Path, value: Any) -> Any:
        level = self.c.string(path, value)
        if level is _BAD or level.upper() in LOG_LEVELS:
            return level if level is _BAD else level.upper()
        listed = ", ".join(LOG_LEVELS)
        self.c.add(path, f"must be one of {listed}", value)
        return _BAD
