"""CSV manifests: header ``name,mesh,styles,text,preset``, several styles separated by ``;``.

UTF-8 with or without a byte-order mark (Excel's "CSV UTF-8" writes one). Anything that is not such text (Latin-1,
a NUL byte, a field past the csv module's limit, a row longer than the header) is refused in one line naming the
file and the row: a spreadsheet's row number, the header being row 1.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from restyle.errors import ConfigError, InputError

CSV_HEADER = ("name", "mesh", "styles", "text", "preset")


def csv_entries(path: Path) -> list[dict[str, Any]]:
    """One job entry (``mesh``, ``styles`` and the other columns given) per row of ``path`` after the header."""
    rows = _rows(path, _text(path))
    header = tuple(name.strip() for name in rows[0][1]) if rows else ()
    unknown = sorted(set(header) - set(CSV_HEADER))
    if "mesh" not in header or unknown:
        raise ConfigError(f"{path}: CSV header must be {','.join(CSV_HEADER)} (mesh required"
                          + (f"; unknown column {unknown[0]!r})" if unknown else ")"))
    entries = []
    for row_number, values in rows[1:]:
        if not any(value.strip() for value in values):
            continue  # a blank line, as spreadsheets leave at the end
        if len(values) > len(header):
            raise ConfigError(f"{path}: row {row_number}: {len(values)} cells under a header of {len(header)} "
                              "columns; put a value that holds a comma in double quotes")
        row = {key: value.strip() for key, value in zip(header, values, strict=False)}  # short rows: empty
        entries.append(_entry(row))
    return entries


def _entry(row: dict[str, str]) -> dict[str, Any]:
    entry: dict[str, Any] = {"mesh": row.get("mesh", ""),
                             "styles": [s.strip() for s in row.get("styles", "").split(";") if s.strip()]}
    for key in ("name", "text", "preset"):
        if row.get(key):
            entry[key] = row[key]
    return entry


def _text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise InputError(f"{path}: cannot read the manifest ({error.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")  # a leading byte-order mark is dropped
    except UnicodeDecodeError as error:
        row = raw.count(b"\n", 0, error.start) + 1
        raise InputError(f"{path}: row {row}: not UTF-8 text (byte 0x{raw[error.start]:02x}); save the manifest as "
                         'UTF-8 ("CSV UTF-8" in Excel)') from None
    if "\0" in text:
        row = text.count("\n", 0, text.index("\0")) + 1
        raise InputError(f"{path}: row {row}: holds a NUL byte; a manifest is plain text")
    return text


def _rows(path: Path, text: str) -> list[tuple[int, list[str]]]:
    """Each record with the row it starts on (a quoted value may span lines)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    rows, start = [], 1
    try:
        for values in reader:
            rows.append((start, values))
            start = reader.line_num + 1
    except csv.Error as error:  # a field past the csv module's limit, a broken quote
        raise InputError(f"{path}: row {start}: {error}; not a manifest CSV") from None
    return rows
