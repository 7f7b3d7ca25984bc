"""Reading input files: a JSON list, a [[...]] list, JSON Lines or CSV.

Each record comes with where it was found ("line 4 (record [3])") for error messages.
JSON Lines and CSV are read line by line; a JSON list is read whole, so a file over the
caller's max_bytes is refused before it is opened.
"""

from __future__ import annotations

import csv
import json
import os
import re
from typing import Any

from raysim.errors import InputError

__all__ = ["CSV_SUFFIXES", "JSON_LINES_SUFFIXES", "read_records"]

JSON_LINES_SUFFIXES = (".jsonl", ".ndjson")
CSV_SUFFIXES = (".csv",)

_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


def read_records(
    path: str, kind: str, max_bytes: int | None = None
) -> list[tuple[str, Any]]:
    """Read a JSON list, a [[...]] list, JSON Lines or CSV file.

    Returns (location, record) pairs, where location reads "line 4 (record [3])" or
    "line 4" for error messages. JSON Lines and CSV are read line by line; a JSON list
    is read whole, so a file over max_bytes is refused before it is read. Raises
    InputError naming the file for anything unreadable.
    """
    if not os.path.exists(path):
        raise InputError(f"{kind} file {path} does not exist.")
    if os.path.isdir(path):
        raise InputError(f"{kind} file {path} is a directory, expected a file.")
    size = os.path.getsize(path)
    if max_bytes is not None and size > max_bytes:
        key = "users.max_bytes" if kind == "users" else "catalog.max_bytes"
        raise InputError(
            f"{kind} file {path} is {size:,} bytes, over {key} ({max_bytes:,}); "
            f"raise {key} or use a smaller file."
        )
    lower = path.lower()
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            if lower.endswith(CSV_SUFFIXES):
                records = _read_csv(path, handle, kind)
            elif lower.endswith(JSON_LINES_SUFFIXES):
                records = _read_json_lines(path, handle, kind)
            else:
                records = _read_json(path, handle.read(), kind)
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{kind} file {path} cannot be read: {exc}.") from exc
    return records


def _empty(path: str, kind: str) -> InputError:
    return InputError(f"{kind} file {path} is empty; expected a list of {kind}.")


def _read_json(path: str, text: str, kind: str) -> list[tuple[str, Any]]:
    if not text.strip():
        raise _empty(path, kind)
    items = _scan_list(text, 0, whole=True)
    if items is None:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{kind} file {path} is not valid JSON: {exc.msg} at line "
                f"{exc.lineno} column {exc.colno}."
            ) from exc
        if isinstance(data, dict) and isinstance(data.get(kind), list):
            data = data[kind]  # the {"users": [...], "total": ...} shape of a REST API
        if not isinstance(data, list):
            raise InputError(
                f"{kind} file {path} holds a JSON {type(data).__name__}, expected a "
                f"list of {kind} objects."
            )
        items = [(None, item) for item in data]
    if items and all(isinstance(item, list) for _, item in items):
        flat: list[tuple[int | None, Any]] = []
        for at, item in items:
            inner = _scan_list(text, at) if at is not None else None
            flat.extend(inner if inner is not None else [(None, x) for x in item])
        items = flat
    lines = _lines(text, [at for at, _ in items])
    return [
        (f"record [{i}]" if line is None else f"line {line} (record [{i}])", item)
        for i, (line, (_, item)) in enumerate(zip(lines, items, strict=True))
    ]


def _scan_list(
    text: str, start: int, whole: bool = False
) -> list[tuple[int | None, Any]] | None:
    """The items of the JSON list at text[start:], each with its offset in text.

    None when there is no such list, or it is not valid JSON: json.loads then says why.
    With whole, the list must also be all the text holds.
    """
    pos = _WS.match(text, start).end()
    if not text.startswith("[", pos):
        return None
    items: list[tuple[int | None, Any]] = []
    pos = _WS.match(text, pos + 1).end()
    if text.startswith("]", pos):
        pos += 1
    else:
        while True:
            try:
                item, end = _DECODER.raw_decode(text, pos)
            except json.JSONDecodeError:
                return None
            items.append((pos, item))
            pos = _WS.match(text, end).end()
            if text.startswith(",", pos):
                pos = _WS.match(text, pos + 1).end()
            elif text.startswith("]", pos):
                pos += 1
                break
            else:
                return None
    if whole and _WS.match(text, pos).end() != len(text):
        return None
    return items


def _lines(text: str, offsets: list[int | None]) -> list[int | None]:
    """The line of each offset; offsets given in increasing order."""
    line, counted, found = 1, 0, []
    for at in offsets:
        if at is None:
            found.append(None)
            continue
        line += text.count("\n", counted, at)
        counted = at
        found.append(line)
    return found


def _read_json_lines(path: str, handle: Any, kind: str) -> list[tuple[str, Any]]:
    records = []
    blank = True
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        blank = False
        try:
            records.append((f"line {number}", json.loads(line.rstrip("\r\n"))))
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{kind} file {path} line {number} is not valid JSON: {exc.msg} at "
                f"column {exc.colno}."
            ) from exc
    if blank:
        raise _empty(path, kind)
    return records


def _read_csv(path: str, handle: Any, kind: str) -> list[tuple[str, Any]]:
    reader = csv.DictReader(handle)
    records = []
    try:
        if not reader.fieldnames:
            raise _empty(path, kind)
        for row in reader:
            if None in row:
                raise InputError(
                    f"{kind} file {path} line {reader.line_num} has more values "
                    f"than the {len(reader.fieldnames)} columns its header names."
                )
            records.append((f"line {reader.line_num}", dict(row)))
    except csv.Error as exc:
        raise InputError(
            f"{kind} file {path} line {reader.line_num} is not valid CSV: {exc}."
        ) from exc
    return records
