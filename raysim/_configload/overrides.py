"""`--set KEY=VALUE` overrides and `${VAR}` interpolation, applied to the YAML tree."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable
from typing import Any

import yaml

from raysim._configload.checker import Checker, KeyPath, Origin, dotted, shown
from raysim._configload.yamlread import Loader

__all__ = ["apply_overrides", "interpolate"]

_ENV_REF = re.compile(r"\$(\$)|\$\{([^}]*)\}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Setting one of these through --set drops the other one when it came from the file.
_EXCLUSIVE = (("users", "path", "generate"), ("catalog", "path", "generate"))


def apply_overrides(
    checker: Checker, tree: dict[str, Any], overrides: Iterable[str]
) -> set[KeyPath]:
    """Set each KEY=VALUE into the tree; returns the key paths that were set."""
    done: set[KeyPath] = set()
    for item in overrides:
        path = override_path(checker, item)
        if path is None:
            continue
        key, _, text = item.partition("=")
        where = f"--set {key.strip()}"
        loader = Loader(text, checker, lambda node, where=where: where, override=True)
        try:
            node = loader.get_single_node()
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or "cannot parse"
            checker.problems.append(
                f"{where}: VALUE is not valid YAML ({problem}), got {shown(path, text)}"
            )
            continue
        finally:
            loader.dispose()
        parent = tree
        for end in range(1, len(path)):
            child = parent.get(path[end - 1])
            if child is None:
                child = parent[path[end - 1]] = {}
                # A mapping that only this --set made: problems with it are its own.
                checker.origins[path[:end]] = Origin(where, override=True)
            elif not isinstance(child, dict):
                checker.problems.append(
                    f"{where}: cannot set {dotted(path)} because "
                    f"{dotted(path[:end])} is not a mapping, "
                    f"got {shown(path[:end], child)}"
                )
                break
            parent = child
        else:
            for known in [
                known for known in checker.origins if known[: len(path)] == path
            ]:
                del checker.origins[known]
            if node is None:
                checker.origins[path] = Origin(where, plain=True, raw="", override=True)
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
    # A clock.mode set on the command line drops a clock.speed from the file that only
    # an accelerated clock takes (quickstart's 60 would refuse a --set backfill run).
    clock = tree.get("clock")
    if (
        isinstance(clock, dict)
        and ("clock", "mode") in done
        and ("clock", "speed") not in done
        and clock.get("mode") != "accelerated"
    ):
        clock.pop("speed", None)
    return done


def override_path(checker: Checker, item: Any) -> KeyPath | None:
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


def interpolate(checker: Checker, value: Any, path: KeyPath) -> Any:
    """Replace ${VAR} and ${VAR:-default} in every string value, at any depth.

    Typed readers then take an interpolated "50" as a number and "true" as a boolean,
    as they would the same text written unquoted; a secret stays the text it was.
    """
    if isinstance(value, dict):
        return {
            key: interpolate(checker, item, path + (key,))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [interpolate(checker, item, path + (i,)) for i, item in enumerate(value)]
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
    elif result != value and (origin := checker.origins.get(path)) is not None:
        # NOTE: the environment only holds text, so quoted or not, an interpolated
        # value is read as YAML would read it unquoted: "50" a number, "true" a bool.
        checker.origins[path] = dataclasses.replace(origin, plain=True, raw=result)
    return result
