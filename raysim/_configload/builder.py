"""Turns the checked YAML tree into the frozen Config, section by section."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from raysim._configload.checker import BAD, KeyPath, dotted
from raysim._configload.kafka import Sections
from raysim.config import (
    CLOCK_MODES,
    DEFAULT_CATALOG_MAX_BYTES,
    DEFAULT_PRODUCTS,
    DEFAULT_USERS,
    DEFAULT_USERS_MAX_BYTES,
    LOG_LEVELS,
    MAX_GENERATED_PRODUCTS,
    MAX_GENERATED_USERS,
    CatalogConfig,
    ClockConfig,
    Config,
    LoggingConfig,
    RayConfig,
    SimulationConfig,
    StoreConfig,
    ThrottleConfig,
    UsersConfig,
)

__all__ = ["Builder"]

_CURRENCY = re.compile(r"[A-Z]{3}")
# The run's name becomes part of log file names: no path separators, no leading dot.
_RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._ -]{0,99}")
_TOP_KEYS = tuple(
    field.name for field in dataclasses.fields(Config) if field.name != "source"
)


class Builder(Sections):
    """Turns the checked tree into a Config, section by section."""

    def _run_name(self, path: KeyPath, value: Any) -> Any:
        name = self.c.string(path, value)
        if name is not BAD and not _RUN_NAME.fullmatch(name):
            self.c.add(
                path,
                "must be up to 100 letters, digits, spaces, '.', '_' or '-', starting "
                "with a letter or digit (it names the log files)",
                name,
            )
            return BAD
        return name

    def build(self, tree: dict[str, Any]) -> Config:
        c = self.c
        data = c.mapping((), tree, _TOP_KEYS)
        name = self.field(data, (), "name", self.file.stem, self._run_name)
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

    def input_file(self, path: KeyPath, value: Any) -> Any:
        """An existing file; relative to the YAML file, or to the CWD from --set."""
        if self.c.string(path, value) is BAD:
            return BAD
        origin = self.c.origin(path)
        from_cwd = origin is not None and origin.override
        base = Path.cwd() if from_cwd else self.file.absolute().parent
        resolved = os.path.abspath(base / os.path.expanduser(value))
        if not os.path.exists(resolved):
            self.c.add(path, "file not found", resolved)
            return BAD
        if not os.path.isfile(resolved):
            self.c.add(path, "must be a file, not a directory", resolved)
            return BAD
        return resolved

    def exactly_one(
        self,
        path: KeyPath,
        data: dict[str, Any],
        default_generate: int,
        most: int,
        max_bytes: int,
    ) -> tuple[str | None, int | None]:
        file = self.field(data, path, "path", None, self.input_file, nullable=True)
        generate = self.field(
            data,
            path,
            "generate",
            None,
            lambda p, v: self.c.number(p, v, 1, most, integer=True),
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
        if file is not None and max_bytes is not BAD:
            size = os.path.getsize(file)
            if size > max_bytes:
                key = dotted(path + ("max_bytes",))
                self.c.add(
                    path + ("path",),
                    f"the file is {_size(size)}, over {key} {_size(max_bytes)}; "
                    f"it is read whole before the run starts: raise {key} if this "
                    "machine has the memory, or use a smaller file",
                    file,
                )
        return file, generate

    def max_bytes(self, path: KeyPath, data: dict[str, Any], default: int) -> Any:
        if "max_bytes" not in data:
            return default
        return self.c.integer(path + ("max_bytes",), data["max_bytes"], 1)

    def users(self, value: Any) -> UsersConfig:
        path: KeyPath = ("users",)
        known = ("path", "id_field", "generate", "keep_fields", "max_bytes")
        data = self.c.mapping(path, value, known)
        max_bytes = self.max_bytes(path, data, DEFAULT_USERS_MAX_BYTES)
        file, generate = self.exactly_one(
            path, data, DEFAULT_USERS, MAX_GENERATED_USERS, max_bytes
        )
        id_field = self.field(data, path, "id_field", "user_id", self.c.string)
        keep = self.field(
            data, path, "keep_fields", (), self.string_list, nullable=True
        )
        if max_bytes is BAD:
            max_bytes = DEFAULT_USERS_MAX_BYTES
        return UsersConfig(file, id_field, generate, keep or (), max_bytes)

    def string_list(self, path: KeyPath, value: Any) -> Any:
        if isinstance(value, str) and value.strip():
            value = [item.strip() for item in value.split(",")]  # e.g. from ${VAR}
        if not isinstance(value, list):
            self.c.add(path, "must be a list of strings", value)
            return BAD
        items = [self.c.string(path + (i,), item) for i, item in enumerate(value)]
        return BAD if BAD in items else tuple(items)

    def catalog(self, value: Any) -> CatalogConfig:
        path: KeyPath = ("catalog",)
        data = self.c.mapping(path, value, ("path", "generate", "max_bytes"))
        max_bytes = self.max_bytes(path, data, DEFAULT_CATALOG_MAX_BYTES)
        file, generate = self.exactly_one(
            path, data, DEFAULT_PRODUCTS, MAX_GENERATED_PRODUCTS, max_bytes
        )
        if max_bytes is BAD:
            max_bytes = DEFAULT_CATALOG_MAX_BYTES
        return CatalogConfig(file, generate, max_bytes)

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

    def actors(self, path: KeyPath, value: Any) -> Any:
        if isinstance(value, str) and value.strip() == "auto":
            return "auto"
        number = self.c.numeric(path, value)
        if number is None or number < 1 or not float(number).is_integer():
            self.c.add(path, "must be 'auto' or an integer >= 1", value)
            return BAD
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

    def store_reader(self, key: str) -> Callable[[KeyPath, Any], Any]:
        if key == "currency":
            return self.currency
        if key in ("channels", "devices"):
            return self.weights
        if key.endswith("_rate"):
            return lambda path, value: self.c.number(path, value, 0, 1)
        return lambda path, value: self.c.number(path, value, 0)

    def currency(self, path: KeyPath, value: Any) -> Any:
        text = self.c.string(path, value)
        if text is not BAD and not _CURRENCY.fullmatch(text):
            self.c.add(
                path, "must be a three-letter ISO 4217 code such as 'USD'", value
            )
            return BAD
        return text

    def weights(self, path: KeyPath, value: Any) -> Any:
        if not isinstance(value, dict) or not value:
            self.c.add(
                path, "must be a non-empty mapping of names to weights > 0", value
            )
            return BAD
        weights = {
            key: self.c.number(path + (key,), weight, 0, open_low=True)
            for key, weight in value.items()
        }
        return BAD if BAD in weights.values() else weights

    def clock(self, value: Any) -> ClockConfig:
        c, path = self.c, ("clock",)
        known = ("mode", "speed", "start", "end", "max_skew_s")
        data = c.mapping(path, value, known)
        speed = self.field(
            data, path, "speed", 1.0, lambda p, v: c.number(p, v, 0, open_low=True)
        )
        # A speed other than 1 alone means accelerated, an end alone backfill; with
        # an explicit mode that disagrees it is a contradiction.
        implied = "accelerated" if speed != 1 else "realtime"
        if "end" in data and speed == 1:
            implied = "backfill"
        mode = self.field(
            data, path, "mode", implied, lambda p, v: c.string(p, v, CLOCK_MODES)
        )
        start = self.field(data, path, "start", None, self.start, nullable=True)
        end = self.field(data, path, "end", None, self.start, nullable=True)
        max_skew_s = self.field(
            data,
            path,
            "max_skew_s",
            ClockConfig().max_skew_s,
            lambda p, v: c.number(p, v, 0, open_low=True),
        )
        if mode == "backfill":
            self.backfill_window(data, speed, start, end)
        else:
            for key in ("end", "max_skew_s"):
                if key in data:
                    c.add(
                        path + (key,),
                        "applies only when clock.mode is backfill",
                        _as_written(data[key]),
                    )
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
        return ClockConfig(mode, speed, start, end, max_skew_s)

    def backfill_window(
        self,
        data: dict[str, Any],
        speed: float,
        start: datetime | None,
        end: datetime | None,
    ) -> None:
        c, path = self.c, ("clock",)
        if speed != 1:
            c.add(
                path + ("speed",),
                "applies only when clock.mode is accelerated; backfill runs as fast "
                "as the CPUs allow",
                data.get("speed"),
            )
        for key, example in (("start", "2026-11-01"), ("end", "2026-12-01")):
            if data.get(key) is None:
                c.add(
                    path + (key,),
                    f"is required when clock.mode is backfill (an ISO 8601 date-time "
                    f"such as {example}T00:00:00Z)",
                )
        if start is not None and end is not None and end <= start:
            c.add(
                path + ("end",),
                f"must be after clock.start ({start.isoformat()})",
                _as_written(data.get("end")),
            )

    def start(self, path: KeyPath, value: Any) -> Any:
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
                return BAD
        else:
            self.c.add(path, rule, value)
            return BAD
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment

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

    def ray_address(self, path: KeyPath, value: Any) -> Any:
        rule = "must be 'auto', ray://host:port or host:port"
        address = self.c.string(path, value)
        if address is BAD or address == "auto":
            return address
        rest = address[len("ray://") :] if address.startswith("ray://") else address
        if "://" in rest:
            self.c.add(path, rule, value)
            return BAD
        return BAD if self.host_port(path, rest, rule) is BAD else address

    def logging(self, value: Any) -> LoggingConfig:
        c, path = self.c, ("logging",)
        data = c.mapping(path, value, ("dir", "level"))
        d = LoggingConfig()
        directory = self.field(data, path, "dir", d.dir, c.string)
        level = self.field(data, path, "level", d.level, self.log_level)
        resolved = os.path.abspath(os.path.expanduser(directory))
        if os.path.exists(resolved) and not os.path.isdir(resolved):
            c.add(path + ("dir",), "must be a directory, not a file", resolved)
        return LoggingConfig(resolved, level)

    def log_level(self, path: KeyPath, value: Any) -> Any:
        level = self.c.string(path, value)
        if level is BAD or level.upper() in LOG_LEVELS:
            return level if level is BAD else level.upper()
        listed = ", ".join(LOG_LEVELS)
        self.c.add(path, f"must be one of {listed}", value)
        return BAD


def _size(count: int) -> str:
    """A byte count as people read it: "3.0 GiB (3,221,225,472 bytes)"."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit} ({count:,} bytes)"
    return f"{count:,} bytes"


def _as_written(value: Any) -> Any:
    """A YAML date or date-time shown as ISO 8601 text rather than as a Python repr."""
    return value.isoformat() if isinstance(value, (date, datetime)) else value
