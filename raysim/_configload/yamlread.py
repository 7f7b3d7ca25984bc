"""YAML reading that keeps the file and line of every value.

PyYAML's SafeLoader would accept duplicate keys, keys that are not strings and alias
cycles silently; this loader reports each of them as a problem instead.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from raysim._configload.checker import Checker, KeyPath, Origin

__all__ = ["Loader", "read_yaml"]

_MERGE_TAG = "tag:yaml.org,2002:merge"
# Far more values than any experiment has; aliases of aliases can stand for billions.
MAX_VALUES = 100_000


class Loader(yaml.SafeLoader):
    """A SafeLoader that builds the tree itself, to keep where each value was written.

    It reports duplicate keys (with both lines) and keys that are not strings, which
    PyYAML would otherwise accept silently.
    """

    def __init__(
        self,
        text: str,
        checker: Checker,
        locate: Callable[[yaml.Node], str],
        override: bool = False,
    ) -> None:
        super().__init__(text)
        self.checker = checker
        self.locate = locate
        self.override = override
        self.active: set[int] = set()  # nodes being built, to stop at alias cycles
        self.values = 0  # values built so far, aliases counted each time they are used

    def note(self, path: KeyPath, where: str, node: yaml.Node) -> None:
        scalar = isinstance(node, yaml.ScalarNode)
        self.checker.origins[path] = Origin(
            where,
            plain=scalar and node.style is None,
            raw=node.value if scalar else None,
            override=self.override,
        )

    def build(self, node: yaml.Node, path: KeyPath, where: str) -> Any:
        self.values += 1
        if self.values > MAX_VALUES:
            if self.values == MAX_VALUES + 1:
                self.note(path, where, node)
                self.checker.add(
                    path,
                    f"the YAML stands for more than {MAX_VALUES:,} values (aliases "
                    "that repeat aliases?); not read further",
                )
            return None
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

    def build_mapping(self, node: yaml.MappingNode, path: KeyPath) -> dict[str, Any]:
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
                self.checker.origins[path + (str(raw),)] = Origin(where)
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
                self.checker.origins[path + (key,)] = Origin(where)
                self.checker.add(
                    path + (key,),
                    f"duplicate key, first at line {lines[key]}; "
                    "YAML would silently keep only the last one",
                )
            lines[key] = line
            result[key] = self.build(value_node, path + (key,), where)
        return {**merged, **result}


def read_yaml(path: Path, checker: Checker) -> dict[str, Any] | None:
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

    loader = Loader(text, checker, locate)
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
        checker.problems.extend(syntax_problems(shown, text, exc))
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


def syntax_problems(shown: str, text: str, exc: yaml.MarkedYAMLError) -> list[str]:
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
    lines = text.splitlines()
    if mark is not None and mark.line < len(lines) and "${" in lines[mark.line]:
        if "flow" in (exc.context or ""):
            detail += "; inside { } or [ ], quote a ${VAR}: '${VAR}'"
    return [f"{where}: YAML syntax error: {detail}"]
