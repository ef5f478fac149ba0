"""The web app's uploads: checked, then copied into a job's own folder, so a job only ever reads its own files.

Uploads are hostile. Count, type and size are checked before anything heavy is copied; a zip's members are
checked from its directory (unsafe paths, symbolic links, declared sizes), and the sizes are enforced again
while it is unpacked. A staged asset is loaded once, so that a broken file or a missing texture fails here,
in the page, rather than in a job. Every problem is an :class:`UploadError` whose one-line message names the
file as the user knows it (its base name, or its path inside their zip), never a path on this machine.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import IO

from restyle.errors import InputError, first_line
from restyle.io import images
from restyle.io.asset_references import escaping_reference, inside
from restyle.io.mesh_types import MissingUVsError
from restyle.io.meshes import load_mesh


class UploadError(InputError):
    """An upload cannot be used. The message is shown in the page as is: one line, naming the file and why."""


@dataclass(frozen=True)
class UploadLimits:
    """What one upload may hold; checked before any work is done on it."""

    max_file_bytes: int = 200 * 2**20
    """Largest single file, and largest single member of a zip once unpacked."""
    max_total_bytes: int = 500 * 2**20
    """Largest upload in all: the files together, or everything a zip unpacks to."""
    max_files: int = 64
    """Most files in one upload, and most members of one zip."""
    max_image_pixels: int = 40_000_000
    """Most pixels in one image (style, content, or an asset's texture)."""


MESH_SUFFIXES = (".glb", ".gltf", ".obj", ".ply")
# what restyle.io.meshes reads beside a main file: .mtl libraries, glTF buffers, and textures Pillow decodes
# (.ktx2/.dds are left out: trimesh cannot decode them, so such an asset would load untextured)
TEXTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tga", ".tif", ".tiff")
COMPANION_SUFFIXES = (".mtl", ".bin", *TEXTURE_SUFFIXES)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
ZIP_SUFFIX = ".zip"
ASSETS_ENV = "RESTYLE_ASSETS"  # the repo's assets/ folder, for an installed package that is not a source checkout

_ASSET_HINT = "upload a .glb, .gltf, .obj or .ply with its .mtl, .bin and textures, or one .zip"
_CHUNK = 2**20
_SYMLINK_MODE = 0o120000


# ---------------------------------------------------------------------------------------------- meshes


@dataclass(frozen=True)
class _Entry:
    """One file of an asset upload, planned but not yet copied."""

    name: PurePosixPath  # where it goes under dest: a base name, or its path inside the zip
    size: int  # bytes, from the file system or the zip's directory (enforced while copying)
    opener: Callable[[], IO[bytes]]


def stage_mesh(files: Sequence[Path], dest: Path, limits: UploadLimits = UploadLimits()) -> Path:
    """Copy an uploaded asset into ``dest`` (created; it must not hold anything yet) and return the path of its
    main mesh file there.

    ``files``: one .glb / .gltf / .obj / .ply, or an OBJ/glTF with its companions as several files, or one
    .zip holding any of these (in sub-folders too; unknown files in it are skipped, never unpacked). Base names
    and the zip's folders are kept, because an OBJ names its .mtl and the .mtl its textures. The staged asset
    is loaded (without unwrapping: a mesh without UVs is accepted, the job unwraps it). On any error ``dest``
    is left as it was found.
    """
    paths, dest = _upload_list(files, limits, "asset"), Path(dest).absolute()
    with contextlib.ExitStack() as stack:
        entries = _asset_entries(paths, limits, stack)
        main = _main_mesh(entries, paths)
        created = _claim_empty(dest)
        try:
            _write_entries(entries, dest)
            _check_staged_asset(dest.joinpath(*main.name.parts), entries, dest, limits)
        except BaseException:
            _undo(dest, created)
            raise
    return dest.joinpath(*main.name.parts)


def _upload_list(files: Sequence[Path], limits: UploadLimits, what: str) -> list[Path]:
    paths = [Path(file).absolute() for file in files]
    if not paths:
        raise UploadError(f"no {what} was uploaded")
    if len(paths) > limits.max_files:
        raise UploadError(f"{len(paths)} files uploaded ({what}); the limit is {limits.max_files}")
    return paths


def _asset_entries(paths: list[Path], limits: UploadLimits, stack: contextlib.ExitStack) -> list[_Entry]:
    zips = [path for path in paths if path.suffix.lower() == ZIP_SUFFIX]
    if zips and len(paths) > 1:
        raise UploadError(f"{zips[0].name}: upload a .zip on its own, not together with other files")
    if zips:
        _checked_size(paths[0], (ZIP_SUFFIX,), limits, _ASSET_HINT)
        return _zip_entries(paths[0], limits, stack)
    return _file_entries(paths, limits)


def _file_entries(paths: list[Path], limits: UploadLimits) -> list[_Entry]:
    entries: dict[str, _Entry] = {}
    for path in paths:
        size = _checked_size(path, MESH_SUFFIXES + COMPANION_SUFFIXES, limits, _ASSET_HINT)
        if path.name in entries:
            raise UploadError(f"{path.name}: two uploaded files have this name")
        entries[path.name] = _Entry(PurePosixPath(path.name), size, partial(path.open, "rb"))
    _check_total(paths, sum(entry.size for entry in entries.values()), limits)
    return list(entries.values())


def _checked_size(path: Path, accepted: tuple[str, ...], limits: UploadLimits, hint: str) -> int:
    """The file's size, once its suffix, existence and size are acceptable."""
    if path.suffix.lower() not in accepted:
        kind = f"{path.suffix} files are" if path.suffix else "files without a suffix are"
        raise UploadError(f"{path.name}: {kind} not accepted ({hint})")
    if not path.is_file():
        raise UploadError(f"{path.name}: not a file")
    size = path.stat().st_size
    if size == 0:
        raise UploadError(f"{path.name}: the file is empty")
    if size > limits.max_file_bytes:
        raise UploadError(f"{path.name}: {_amount(size)} is over the {_amount(limits.max_file_bytes)} file limit")
    return size


def _check_total(paths: list[Path], total: int, limits: UploadLimits) -> None:
    if total > limits.max_total_bytes:
        what = f"{paths[0].name}: {_amount(total)}" if len(paths) == 1 else f"{len(paths)} files: {_amount(total)}"
        raise UploadError(f"{what} in all is over the {_amount(limits.max_total_bytes)} upload limit")


def _main_mesh(entries: list[_Entry], paths: list[Path]) -> _Entry:
    mains = [entry for entry in entries if entry.name.suffix.lower() in MESH_SUFFIXES]
    where = f"{paths[0].name}: " if len(paths) == 1 else ""
    if not mains:
        raise UploadError(f"{where}no mesh file (.glb, .gltf, .obj or .ply) among {_listed(entries)}")
    if len(mains) > 1:
        raise UploadError(f"{where}more than one mesh file ({_listed(mains)}); upload one asset at a time")
    return mains[0]


def _listed(entries: list[_Entry], shown: int = 4) -> str:
    names = [str(entry.name) for entry in entries[:shown]]
    return ", ".join(names) + (f" and {len(entries) - shown} more" if len(entries) > shown else "")


# ------------------------------------------------------------------------------------------------- zips


def _zip_entries(path: Path, limits: UploadLimits, stack: contextlib.ExitStack) -> list[_Entry]:
    """The zip's asset files, after refusing unsafe members and sizes from its directory."""
    try:
        archive = stack.enter_context(zipfile.ZipFile(path))
    except Exception as error:  # hostile bytes can break the directory parser anywhere (struct, seek, ...)
        raise UploadError(f"{path.name}: not a readable zip file ({first_line(error)})") from None
    members = [info for info in archive.infolist() if not info.is_dir()]
    if len(members) > limits.max_files:
        raise UploadError(f"{path.name}: holds {len(members)} files; the limit is {limits.max_files}")
    named = [(_member_path(path.name, info), info) for info in members]  # every member, used or not
    entries: dict[PurePosixPath, _Entry] = {}
    for name, info in named:
        if _is_junk(name) or name.suffix.lower() not in MESH_SUFFIXES + COMPANION_SUFFIXES:
            continue
        if name in entries:
            raise UploadError(f"{path.name}: '{name}' is in the zip twice")
        if info.flag_bits & 0x1:  # bit 0 of the general purpose flags: encrypted
            raise UploadError(f"{path.name}: '{name}' is password-protected")
        if info.file_size > limits.max_file_bytes:
            too_big = f"unpacks to {_amount(info.file_size)}, over the {_amount(limits.max_file_bytes)} file limit"
            raise UploadError(f"{path.name}: '{name}' {too_big}")
        entries[name] = _Entry(name, info.file_size, partial(archive.open, info))
    _check_total([path], sum(entry.size for entry in entries.values()), limits)
    return list(entries.values())


def _member_path(zip_name: str, info: zipfile.ZipInfo) -> PurePosixPath:
    """The member's path below the zip's root; a link or a path that could leave it refuses the whole zip."""
    raw = info.filename.replace("\\", "/")  # zips made on Windows may separate folders with backslashes
    shown = raw if len(raw) <= 60 else raw[:57] + "..."
    if (info.external_attr >> 16) & 0o170000 == _SYMLINK_MODE:
        raise UploadError(f"{zip_name}: '{shown}' is a symbolic link; links are not accepted in a zip")
    name = PurePosixPath(raw)
    drive = len(name.parts[0]) == 2 and name.parts[0][1] == ":" if name.parts else False
    if name.is_absolute() or drive or ".." in name.parts or "\0" in raw or not name.parts:
        raise UploadError(f"{zip_name}: '{shown}' has an unsafe path (absolute, or with '..')")
    return name


def _is_junk(name: PurePosixPath) -> bool:
    # macOS adds resource forks (__MACOSX/._spot.obj) that would otherwise count as a second mesh
    return "__MACOSX" in name.parts or name.name.startswith("._")


# ----------------------------------------------------------------------------------------------- copying


def _claim_empty(dest: Path) -> bool:
    """Make ``dest`` ready; True when it was created here (so undoing removes it too)."""
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ValueError(f"{dest}: the staging folder must be new or empty")  # a caller's bug, not the user's
    created = not dest.exists()
    dest.mkdir(parents=True, exist_ok=True)
    return created


def _undo(dest: Path, created: bool) -> None:
    """Remove what staging wrote: ``dest`` was empty, so everything in it is ours."""
    shutil.rmtree(dest, ignore_errors=True)
    if not created:
        dest.mkdir()


def _write_entries(entries: list[_Entry], dest: Path) -> None:
    for entry in entries:
        target = dest.joinpath(*entry.name.parts)
        if not inside(dest, target):  # the member checks make this impossible; kept as the last word
            raise UploadError(f"{entry.name}: would be written outside the upload folder")
        with _saving(str(entry.name)), entry.opener() as source:
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("xb") as out:
                _copy_bounded(source, out, str(entry.name), entry.size)


@contextlib.contextmanager
def _saving(shown: str) -> Iterator[None]:
    """Unpacking and disk errors as an UploadError naming ``shown``."""
    try:
        yield
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as error:
        raise UploadError(f"{shown}: could not be unpacked ({first_line(error)})") from None
    except OSError as error:  # strerror, unlike str(error), holds no path
        raise UploadError(f"{shown}: could not be saved ({error.strerror or type(error).__name__})") from None


def _copy_bounded(source: IO[bytes], out: IO[bytes], shown: str, declared: int) -> None:
    """Copy, refusing more bytes than declared: a zip's directory can lie about what a member unpacks to."""
    written = 0
    while chunk := source.read(_CHUNK):
        written += len(chunk)
        if written > declared:
            raise UploadError(f"{shown}: holds more data than its declared {_amount(declared)}")
        out.write(chunk)


# ------------------------------------------------------------------------------------- loading the asset


def _check_staged_asset(main: Path, entries: list[_Entry], dest: Path, limits: UploadLimits) -> None:
    for entry in entries:
        if entry.name.suffix.lower() in TEXTURE_SUFFIXES:
            _check_image(dest.joinpath(*entry.name.parts), str(entry.name), limits)
    _check_references(main, dest)
    try:
        load_mesh(main, unwrap=False)
    except MissingUVsError:
        pass  # the job unwraps it; unwrapping here would hold the page for minutes
    except InputError as error:
        raise UploadError(_rephrased(error, main, str(main.relative_to(dest)), dest)) from None


def _check_references(main: Path, dest: Path) -> None:
    """Refuse an asset that names a file by a path outside the upload (``mtllib /home/...``, ``map_Bump ../..``),
    whether or not it exists: the loader would read it, and an OBJ export copies a material's other maps beside
    the result, where the page serves them."""
    escaping = escaping_reference(main, dest)
    if escaping is None:
        return
    where = "" if escaping.source == main else f"{Path(os.path.relpath(escaping.source, dest)).as_posix()} "
    named = "".join(char if char.isprintable() else "?" for char in escaping.path.name)[:60]  # a base name only
    raise UploadError(f"{main.name}: {where}names '{named}' by a path outside the upload (absolute, or out of it "
                      "with '..'); keep the files it needs in the upload and name them relative to it")


# ----------------------------------------------------------------------------------------------- images


def stage_images(
    files: Sequence[Path], dest: Path, role: str, limits: UploadLimits = UploadLimits()
) -> list[Path]:
    """Copy image uploads (``role``: "style image", "content image", ...) into ``dest`` (created) once each
    has an accepted suffix and size and decodes fully within ``max_image_pixels``; return the staged paths in
    order. Names keep only their base name; a clash (with each other or a file already there) gets ``_1``,
    ``_2``, ... An empty list is an error ("no style image was uploaded"). On any error nothing is staged."""
    paths, dest = _upload_list(files, limits, role), Path(dest).absolute()
    hint = f"a {role} must be {', '.join(IMAGE_SUFFIXES)}"
    sizes = [_checked_size(path, IMAGE_SUFFIXES, limits, hint) for path in paths]
    _check_total(paths, sum(sizes), limits)
    for path in paths:
        _check_image(path, path.name, limits)
    created = not dest.exists()
    dest.mkdir(parents=True, exist_ok=True)
    staged: list[Path] = []
    try:
        for path in paths:
            with _saving(path.name):
                staged.append(_claim_free_name(dest, _safe_name(path.name)))
                shutil.copyfile(path, staged[-1])
    except BaseException:
        for target in staged:
            target.unlink(missing_ok=True)
        if created:
            shutil.rmtree(dest, ignore_errors=True)
        raise
    return staged


def _check_image(path: Path, shown: str, limits: UploadLimits) -> None:
    # io.images' own checks: the pixel limit from the header, then a full decode so truncation shows here
    try:
        with images.open_checked(path, limits.max_image_pixels):
            pass
    except InputError as error:
        raise UploadError(_rephrased(error, path, shown, path.parent)) from None


def _claim_free_name(dest: Path, name: str) -> Path:
    """Create an empty ``dest/name``, or ``name_1``, ``name_2``, ... when taken (exclusive, so never a clash)."""
    stem, suffix = Path(name).stem, Path(name).suffix
    for counter in itertools.count():
        target = dest / (name if counter == 0 else f"{stem}_{counter}{suffix}")
        with contextlib.suppress(FileExistsError):
            target.open("xb").close()
            return target
    raise AssertionError("unreachable")


def _safe_name(name: str) -> str:
    """A base name that is an ordinary file: no folders, control characters or leading dots."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(char if char.isprintable() and char not in ':*?"<>|' else "_" for char in base)
    cleaned = cleaned.lstrip(". ")
    return cleaned if Path(cleaned).stem else f"image{Path(base).suffix.lower()}"


# ----------------------------------------------------------------------------------------------- samples


def sample_mesh() -> Path:
    """The bundled Spot (``assets/meshes/spot/spot.obj``, beside its .mtl and texture) in the repo's assets."""
    return _bundled("meshes/spot/spot.obj")


def sample_style() -> Path:
    """The bundled style image (``assets/styles/vangogh_starry_night.jpg``)."""
    return _bundled("styles/vangogh_starry_night.jpg")


def _bundled(relative: str) -> Path:
    # assets/ is not inside the package: found via $RESTYLE_ASSETS, else the source checkout this file is in
    folders = [Path(os.environ[ASSETS_ENV])] if os.environ.get(ASSETS_ENV) else []
    folders.append(Path(__file__).resolve().parents[3] / "assets")  # src/restyle/web/uploads.py -> repo
    for folder in folders:
        if (folder / relative).is_file():
            return folder / relative
    name = PurePosixPath(relative).name
    raise UploadError(f"the sample {name} is not installed: run from a source checkout, or set {ASSETS_ENV}")


# ---------------------------------------------------------------------------------------------- helpers


def _rephrased(error: Exception, path: Path, shown: str, folder: Path) -> str:
    """``error``'s message for the page: ``shown`` instead of ``path``, no mention of ``folder``, one line."""
    message = first_line(error, limit=100_000).removeprefix(f"{path}: ")
    # the absolute folder, longest spelling first; a bare "/" would take every slash with it
    for form in sorted({str(folder.resolve()), str(folder)} - {os.sep}, key=len, reverse=True):
        message = message.replace(form + os.sep, "").replace(form, "the upload")
    line = f"{shown}: {message}"
    return line if len(line) <= 240 else line[:237] + "..."


def _amount(size: int) -> str:
    if size < 2**10:
        return f"{size} bytes"
    return f"{size / 2**10:.3g} KB" if size < 2**20 else f"{size / 2**20:.3g} MB"
