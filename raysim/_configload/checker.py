"""The problem collector: one line per problem, and typed reads of the YAML tree.

Every problem names where the value was written (file and line, or the --set key), its
key path, the rule and the value received. A value under a secret key is shown as ***.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from raysim.config import SECRET_MASK, Range, is_secret

__all__ = [
    "BAD",
    "Checker",
    "KeyPath",
    "Origin",
    "dotted",
    "shown",
    "unknown_key_rule",
]

KeyPath = tuple[str | int, ...]  # a key path in the YAML tree, e.g. ("kafka", "topics")
BAD = object()  # a value that was reported as a problem; the caller keeps its default

NUMBER = re.compile(r"[-+]?(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][-+]?\d+)?")
MAX_INTEGER = 2**63 - 1  # what Kafka, orjson and Ray all carry as an integer
_YAML_BOOLS = {
    **dict.fromkeys(("yes", "true", "on"), True),
    **dict.fromkeys(("no", "false", "off"), False),
}


def _bound(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else f"{number:g}"


def shown(path: KeyPath, value: Any) -> str:
    """The value as a problem line shows it: *** under a key that names a secret."""
    if any(is_secret(part) for part in path):
        return repr(SECRET_MASK)
    return repr(value)


def dotted(path: KeyPath) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
    return text


@dataclass(frozen=True)
class Origin:
    """Where a value of the tree was written."""

    where: str  # "file.yaml:12" or "--set key"
    plain: bool = False  # an unquoted scalar: "1e5" or "yes" may be read as written
    raw: str | None = None  # the scalar's text as written
    override: bool = False  # from --set: relative paths resolve against the CWD


class Checker:
    """Collects problems, one line each, and reads typed values from the tree."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[str] = []
        self.origins: dict[KeyPath, Origin] = {}
        # Values holding a ${VAR} that is not set: reported once, not checked again.
        self.unresolved: set[KeyPath] = set()

    def origin(self, path: KeyPath) -> Origin | None:
        for end in range(len(path), -1, -1):
            found = self.origins.get(path[:end])
            if found is not None:
                return found
        return None

    def add(self, path: KeyPath, rule: str, value: Any = BAD) -> None:
        if path in self.unresolved:
            return
        origin = self.origin(path)
        text = origin.where if origin is not None else self.file
        if path and not text.endswith(f" {dotted(path)}"):  # --set names it already
            text += f": {dotted(path)}"
        text += f": {rule}"
        if value is not BAD:
            text += f", got {shown(path, value)}"
        self.problems.append(text)

    def _is_plain(self, path: KeyPath) -> bool:
        origin = self.origins.get(path)
        return origin is not None and origin.plain

    def _hint(self, path: KeyPath, value: Any, want: str) -> str:
        """Why a value is not of the wanted kind, when YAML's typing is to blame."""
        origin = self.origins.get(path)
        raw = origin.raw if origin is not None and origin.plain else None
        if want == "string" and raw is not None and not isinstance(value, str):
            if isinstance(value, bool):
                return f' (YAML reads unquoted {raw} as a boolean; quote it: "{raw}")'
            return f' (quote it: "{raw}")'
        if want == "number" and isinstance(value, str) and not self._is_plain(path):
            if NUMBER.fullmatch(value.strip()):
                return " (a quoted number is a string; remove the quotes)"
        return ""

    def mapping(
        self, path: KeyPath, value: Any, known: Iterable[str] | None = None
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
                    self.add(path + (key,), unknown_key_rule(key, known))
        return value

    def number(
        self,
        path: KeyPath,
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
                f"must be {kind} in {'(' if open_low else '['}{_bound(low)}, "
                f"{_bound(high)}{')' if open_high else ']'}"
            )
        elif low is not None:
            rule = f"must be {kind} {'>' if open_low else '>='} {_bound(low)}"
        else:
            rule = f"must be {kind}"
        number = self.numeric(path, value)
        if number is None or (
            integer and isinstance(number, float) and not number.is_integer()
        ):
            self.add(path, rule + self._hint(path, value, "number"), value)
            return BAD
        if integer and abs(number) > MAX_INTEGER:
            self.add(path, f"{rule} and at most {MAX_INTEGER}", value)
            return BAD
        if (low is not None and (number <= low if open_low else number < low)) or (
            high is not None and (number >= high if open_high else number > high)
        ):
            self.add(path, rule, value)
            return BAD
        return int(number) if integer else float(number)

    def integer(self, path: KeyPath, value: Any, low: int | None = None) -> Any:
        return self.number(path, value, low, integer=True)

    def numeric(self, path: KeyPath, value: Any) -> int | float | None:
        """A number, also from unquoted text YAML 1.1 leaves as a string (1e5)."""
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return value if abs(value) < 2**63 else None
        if isinstance(value, float):
            return value if math.isfinite(value) else None
        if isinstance(value, str) and self._is_plain(path):
            text = value.strip()
            if NUMBER.fullmatch(text):
                number = float(text.replace("_", ""))
                return number if math.isfinite(number) else None
        return None

    def string(
        self, path: KeyPath, value: Any, choices: Iterable[str] | None = None
    ) -> Any:
        if not isinstance(value, str):
            hint = self._hint(path, value, "string")
            self.add(path, f"must be a string{hint}", value)
            return BAD
        if not value.strip():
            self.add(path, "must not be empty", value)
            return BAD
        if choices is not None and value not in tuple(choices):
            listed = ", ".join(repr(choice) for choice in choices)
            self.add(path, f"must be one of {listed}", value)
            return BAD
        return value

    def boolean(self, path: KeyPath, value: Any) -> Any:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and self._is_plain(path):
            found = _YAML_BOOLS.get(value.strip().lower())
            if found is not None:
                return found
        self.add(path, "must be true or false", value)
        return BAD

    def range(
        self,
        path: KeyPath,
        value: Any,
        low: float,
        *,
        open_low: bool = False,
        integer: bool = False,
    ) -> Any:
        """A {min, max} mapping, or a single number meaning min = max."""

        def read(at: KeyPath, item: Any) -> Any:
            return self.number(at, item, low, open_low=open_low, integer=integer)

        if not isinstance(value, dict):
            if isinstance(value, (list, type(None))):
                self.add(
                    path, "must be a mapping {min: ..., max: ...} or a number", value
                )
                return BAD
            single = read(path, value)
            return BAD if single is BAD else Range(single, single)
        data = self.mapping(path, value, ("min", "max"))
        missing = [key for key in ("min", "max") if key not in data]
        if missing:
            self.add(path, f"needs both min and max, {missing[0]} is missing", value)
            return BAD
        low_value = read(path + ("min",), data["min"])
        high_value = read(path + ("max",), data["max"])
        if low_value is BAD or high_value is BAD:
            return BAD
        if low_value > high_value:
            self.add(path, "min must not be greater than max", value)
            return BAD
        return Range(low_value, high_value)


def unknown_key_rule(key: str, known: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    if close:
        return f"unknown key; did you mean {close[0]!r}?"
    return "unknown key; expected one of " + ", ".join(repr(k) for k in known)
