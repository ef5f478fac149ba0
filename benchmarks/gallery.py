"""docs/gallery.png: stylised assets at a glance, one row per (asset, style) run.

Each row: the style image, the original asset, the stylised asset from the same camera and from a second one
(the contact sheet's orbit cameras and key light, white background), and a caption with the asset, the style,
the case and the run's wall time with the threads it had. Rows come from run folders:

- a folder of runs, as ``bench_quality.py --only mesh --keep DIR`` or ``--run`` leave it: its ``runs.json`` names
  each run's case, asset, style and wall time; the rows are its runs of ``--case`` (default preview);
- a run folder itself (``restyle mesh -o FOLDER``): the caption's time is then the optimisation's (the last
  ``elapsed_s`` in its metrics), not the whole job's.

``--run DIR`` first runs the ``preview`` preset (``--backbone vgg19``) on the three bundled assets and two styles
of the benchmark into DIR (about 5 minutes each on 2 cores), then composes them.

Run: .venv/bin/python benchmarks/gallery.py DIR [DIR ...] [-o docs/gallery.png] [--case preview]
     .venv/bin/python benchmarks/gallery.py --run DIR [--iters N]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageFont

from _quality_mesh import ASSETS, REPO, RUNS_INDEX, STYLES, Case, record_run, run_job
from restyle.api import MeshConfig, mesh_config
from restyle.io.images import to_pil
from restyle.io.meshes import load_mesh
from restyle.render.geometry import geometry_and_textures
from restyle.run.files import CONFIG_NAME, METRICS_NAME
from restyle.run.previews import render_views, sheet_cameras

OUTPUT = REPO / "docs/gallery.png"
STYLE_TITLES = {"vangogh_starry_night": "The Starry Night", "hokusai_great_wave": "The Great Wave"}
COLUMNS = ("style", "original", "stylised", "stylised, another view")
GAP = 8
CAPTION = 24
WHITE = (255, 255, 255)


@dataclass(frozen=True)
class Row:
    """One run to show: its folder and what its caption says."""

    folder: Path
    case: str
    seconds: float | None
    timed: str  # what the seconds are: "job" (the whole run) or "steps" (the optimisation only)
    threads: int | None


def rows_in(path: Path, case: str) -> list[Row]:
    """The runs ``path`` holds: a run folder, or a folder of runs with their ``runs.json``."""
    if (path / CONFIG_NAME).is_file():
        return [_row_from_run(path, case)]
    index_path = path / RUNS_INDEX
    if not index_path.is_file():
        raise SystemExit(f"{path}: neither a run folder ({CONFIG_NAME}) nor a folder of runs ({RUNS_INDEX})")
    index = json.loads(index_path.read_text())
    entries = [(name, entry) for name, entry in index.items() if entry["case"] == case]
    entries.sort(key=lambda item: (_order(ASSETS, item[1]["asset"]), _order(STYLES, item[1]["style"])))
    return [Row(path / name, entry["case"], entry["wall_s"], "job", entry.get("threads")) for name, entry in entries]


def _order(table: dict, name: str) -> int:
    return list(table).index(name) if name in table else len(table)


def _row_from_run(folder: Path, case: str) -> Row:
    """A run folder's row; the whole job's time when the folder above indexes it, else the optimisation's."""
    index_path = folder.parent / RUNS_INDEX
    entry = json.loads(index_path.read_text()).get(folder.name) if index_path.is_file() else None
    if entry is not None:
        return Row(folder, entry["case"], entry["wall_s"], "job", entry.get("threads"))
    lines = [json.loads(line) for line in (folder / METRICS_NAME).read_text().splitlines() if line.strip()]
    seconds = max((line["elapsed_s"] for line in lines if "elapsed_s" in line), default=None)
    return Row(folder, case, seconds, "steps", None)


def run_previews(folder: Path, iters: int | None) -> None:
    """The preview preset on every bundled asset and style of the benchmark, into ``folder`` (indexed)."""
    case = Case("preview", "preview")
    for asset, mesh in ASSETS.items():
        for style_name, style in STYLES.items():
            run_folder = folder / f"preview_{asset}_{style_name}"
            result, wall = run_job(case, mesh, style, run_folder, iters)
            record_run(folder, run_folder, {"case": case.name, "asset": asset, "style": style_name,
                                            "wall_s": wall, "steps": result.steps})


def row_image(row: Row, size: int, font: ImageFont.ImageFont) -> Image.Image:
    """The row's caption over its cells: style, original, stylised from two cameras."""
    config = mesh_config(config_file=row.folder / CONFIG_NAME, preset="none")
    geometry, originals, wraps = geometry_and_textures(load_mesh(config.mesh, unwrap=config.unwrap))
    stylised = _stylised_textures(row.folder, len(originals))
    cameras = sheet_cameras(geometry, n_views=2, size=size)
    before = render_views(geometry, originals, wraps, cameras.select([0]))
    after = render_views(geometry, stylised, wraps, cameras)
    cells = [_style_cell(config.styles[0], size), to_pil(before[0]), to_pil(after[0]), to_pil(after[1])]
    image = Image.new("RGB", (len(cells) * (size + GAP) - GAP, CAPTION + size), WHITE)
    ImageDraw.Draw(image).text((0, 4), _caption(row, config), fill=(0, 0, 0), font=font)
    for index, cell in enumerate(cells):
        image.paste(cell, (index * (size + GAP), CAPTION))
    return image


def _stylised_textures(folder: Path, slots: int) -> list[torch.Tensor]:
    """The textures of the stylised GLB a run wrote, in the original's slot order."""
    glbs = sorted(folder.glob("*_stylized.glb"))
    if not glbs:
        raise SystemExit(f"{folder}: no *_stylized.glb (did the run finish?)")
    textures = geometry_and_textures(load_mesh(glbs[0], unwrap=False))[1]
    if len(textures) != slots:
        raise SystemExit(f"{glbs[0]}: {len(textures)} textures where the original has {slots}")
    return textures


def _style_cell(style: Path, size: int) -> Image.Image:
    """The style image fitted into a white square."""
    cell = Image.new("RGB", (size, size), WHITE)
    with Image.open(style) as image:
        thumbnail = image.convert("RGB")
    thumbnail.thumbnail((size, size), Image.LANCZOS)
    cell.paste(thumbnail, ((size - thumbnail.width) // 2, (size - thumbnail.height) // 2))
    return cell


def _caption(row: Row, config: MeshConfig) -> str:
    style = STYLE_TITLES.get(config.styles[0].stem, config.styles[0].stem)
    parts = [config.mesh.stem, style, row.case]
    if row.seconds is not None:
        cores = f" on {row.threads} cores" if row.threads else ""
        parts.append(f"{_duration(row.seconds)}{cores}" + (" (steps only)" if row.timed == "steps" else ""))
    return " · ".join(parts)


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


def gallery(rows: list[Row], size: int) -> Image.Image:
    """Column titles over one :func:`row_image` per row."""
    font = _font(14)
    images = [row_image(row, size, font) for row in rows]
    width = max(image.width for image in images)
    sheet = Image.new("RGB", (width + 2 * GAP, CAPTION + sum(i.height + GAP for i in images) + GAP), WHITE)
    draw = ImageDraw.Draw(sheet)
    for index, title in enumerate(COLUMNS):
        draw.text((GAP + index * (size + GAP), GAP), title, fill=(90, 90, 90), font=font)
    top = CAPTION + GAP
    for image in images:
        sheet.paste(image, (GAP, top))
        top += image.height + GAP
    return sheet


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)  # Pillow >= 10.1 with FreeType: a scalable font
    except (TypeError, OSError):
        return ImageFont.load_default()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", type=Path, help="run folders, or folders of runs (runs.json)")
    parser.add_argument("--run", type=Path, metavar="DIR", help="first run preview on 3 assets x 2 styles into DIR")
    parser.add_argument("--iters", type=int, help="with --run: steps instead of the preset's (quick checks only)")
    parser.add_argument("--case", default="preview", help="in a folder of runs, the case to show (default preview)")
    parser.add_argument("--size", type=int, default=256, help="side of each cell in pixels")
    parser.add_argument("-o", "--output", type=Path, default=OUTPUT, help="the image (default docs/gallery.png)")
    args = parser.parse_args()
    if args.run is not None:
        args.run.mkdir(parents=True, exist_ok=True)
        run_previews(args.run, args.iters)
        args.folders.append(args.run)
    rows = [row for folder in args.folders for row in rows_in(folder, args.case)]
    if not rows:
        parser.error("no runs to show: give run folders, a folder of runs, or --run DIR")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    gallery(rows, args.size).save(args.output)
    print(f"wrote {args.output} ({len(rows)} rows)")


if __name__ == "__main__":
    main()
