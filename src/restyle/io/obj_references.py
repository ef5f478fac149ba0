"""The files an OBJ and its MTL libraries name, read one way for everyone who follows them.

The loader (:mod:`restyle.io.mtl`), the OBJ exporter (:mod:`restyle.io.obj_text`, which copies a material's other
maps beside the export) and the web upload check (:mod:`restyle.io.asset_references`) all read statements, split
lines and resolve names here. The sharing is the point: a statement that the check reads differently from the
exporter (``BUMP`` against ``bump``, a tab for a space, a library named ``x.bin``, a line break that only
``str.splitlines`` sees) names a file the check never saw and the exporter copies to where the web page serves it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# MTL statements that name a file: every map_* (map_Kd, map_Bump, map_d, ...) and the older bare names
MTL_FILE_KEYWORD = re.compile(r"map_\w+|bump|disp|decal|refl|norm", re.IGNORECASE)
NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
# map_* options and how many arguments each takes (-o/-s/-t take 1..3 numbers, handled apart)
_MAP_OPTION_ARGS = {"-blendu": 1, "-blendv": 1, "-bm": 1, "-boost": 1, "-cc": 1, "-clamp": 1,
                    "-imfchan": 1, "-mm": 2, "-texres": 1, "-type": 1}  # fmt: skip


@dataclass(frozen=True)
class Statement:
    """One line of an OBJ or MTL: ``keyword`` as written, ``rest`` without the surrounding whitespace."""

    keyword: str
    rest: str

    @property
    def key(self) -> str:
        """The keyword in lower case: readers disagree on case (trimesh lowers every keyword), so all compare so."""
        return self.keyword.lower()

    @property
    def names_file(self) -> bool:
        """True for an MTL statement that names a file (``map_Kd``, ``Map_Bump``, ``BUMP``, ``disp``, ...)."""
        return MTL_FILE_KEYWORD.fullmatch(self.keyword) is not None


def parse_statement(line: str) -> Statement:
    """``'map_Bump\\t-bm 0.5 b.png'`` -> ``Statement('map_Bump', '-bm 0.5 b.png')``: split at any whitespace."""
    parts = line.split(None, 1)
    if not parts:
        return Statement("", "")
    return Statement(parts[0], parts[1].strip() if len(parts) > 1 else "")


def statement_lines(path: Path, containing: str = "") -> Iterator[str]:
    """The lines of an OBJ or MTL, read one at a time (an OBJ can be 200 MB) and split wherever
    ``str.splitlines`` splits (``\\r``, ``\\v``, ``\\x85``, ``\\u2028``, ...), so no statement hides in another.
    ``containing`` (lower case): only the lines holding it in any case, a cheap filter for the few statements
    an OBJ's millions of ``v``/``f`` lines are not (a tenth of the time of parsing each line)."""
    with path.open(encoding="utf-8-sig", errors="replace") as lines:
        for line in lines:
            if containing in line.lower():
                yield from line.splitlines()


def statements(path: Path, containing: str = "") -> Iterator[Statement]:
    """Every non-empty statement of an OBJ or MTL, comments included (their keyword is ``#``); with
    ``containing``, only those on lines that hold it (see :func:`statement_lines`)."""
    for line in statement_lines(path, containing):
        statement = parse_statement(line)
        if statement.keyword:
            yield statement


def material_statements(obj: Path) -> Iterator[Statement]:
    """The statements of an OBJ that can be ``mtllib`` or ``usemtl``: each holds "mtl", so the rest are skipped
    unparsed."""
    return statements(obj, containing="mtl")


def library_names(obj: Path) -> list[str]:
    """The material libraries an OBJ names (``mtllib``, any case), as written; whatever their extension."""
    return [statement.rest for statement in material_statements(obj) if statement.key == "mtllib" and statement.rest]


def map_names(library: Path) -> list[str]:
    """The file of every statement of an MTL that names one, as written (options removed), anywhere in the file."""
    return [split_map_statement(statement.rest)[1] for statement in statements(library) if statement.names_file]


def split_map_statement(rest: str) -> tuple[dict[str, list[str]], str]:
    """``-o 1 1 -clamp on my file.png`` -> ({'-o': [...], '-clamp': ['on']}, 'my file.png')."""
    tokens = rest.split()
    options: dict[str, list[str]] = {}
    index = 0
    while index < len(tokens) and tokens[index].startswith("-") and not NUMBER.match(tokens[index]):
        option = tokens[index]
        if option in ("-o", "-s", "-t"):
            count = 0
            while count < 3 and index + 1 + count < len(tokens) and NUMBER.match(tokens[index + 1 + count]):
                count += 1
        else:
            count = _MAP_OPTION_ARGS.get(option, 0)
        options[option] = tokens[index + 1 : index + 1 + count]
        index += 1 + count
    # whatever follows the options is the file name, spaces included
    return options, " ".join(tokens[index:])


def reference_candidates(folder: Path, name: str) -> tuple[Path, Path]:
    """Where a named file is looked for, in order: as written (relative to ``folder``, Windows separators and
    quotes allowed), then its base name in ``folder`` (for paths from another machine). The second never leaves
    ``folder``; the first may, which is what the upload check refuses."""
    cleaned = name.strip().strip('"').replace("\\", "/")
    return folder / cleaned, folder / Path(cleaned).name


def resolve_reference(folder: Path, name: str) -> Path | None:
    """The first of :func:`reference_candidates` that is a file, or None."""
    return next((candidate for candidate in reference_candidates(folder, name) if candidate.is_file()), None)
