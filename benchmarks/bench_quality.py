"""Quality that can be measured offline: every figure comes from one evaluator on the shipped VGG19
(``restyle.eval.evaluator``), so runs compare whatever backbone they optimised.

- mesh: held-out views (cameras the optimisation never used) of every mesh preset (draft, preview, quality, with
  ``--backbone vgg19``) and the demo config, on three bundled assets (Spot, the box, the vase made by
  examples/make_vase.py) and any ``--extra-asset NAME=PATH`` (e.g. the fetched SciFiHelmet, CC0, from the
  Khronos glTF samples, not bundled: helmet=/work/fetched/scifi_helmet/SciFiHelmet.glb), and two styles
  (The Starry Night, The Great Wave): style distances of the result against the style image, content distance
  against the original asset's renders of the same views, the untouched original as the baseline, the
  recolour-only start where a case recolours, and a 2D reference (the same views stylised as photos by
  ``restyle image``, cached in results/quality_reference_cache.json). ``--keep DIR`` keeps the run folders (what
  ``gallery.py`` composes into docs/gallery.png).
- image: ``restyle image`` and the ``pastiche`` CLI on the same content, style, size and step count, side by
  side in one run: wall time, and the time restyle needs to reach pastiche's final style distance.

Writes results/quality_mesh.json and results/quality_image.json. These are the numbers to improve when a method
changes. Run: .venv/bin/python benchmarks/bench_quality.py [--only mesh|image]
  [--cases draft,preview --assets spot --styles starry] [--extra-asset NAME=PATH ...] [--iters N] [--keep DIR]
  [--no-reference]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _common import write_result


def _names(valid: tuple[str, ...]):
    """An argparse type: a comma-separated list of names out of ``valid``."""
    def parse(text: str) -> tuple[str, ...]:
        names = tuple(name.strip() for name in text.split(",") if name.strip())
        unknown = [name for name in names if name not in valid]
        if unknown or not names:
            raise argparse.ArgumentTypeError(f"{', '.join(unknown) or text!r}: choose from {', '.join(valid)}")
        return names
    return parse


def _extra_asset(taken: tuple[str, ...]):
    """An argparse type: ``NAME=PATH``, an asset that is not bundled, under a name no bundled asset has."""
    def parse(text: str) -> tuple[str, Path]:
        name, separator, path = text.partition("=")
        if not separator or not name.strip() or not path:
            raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=PATH")
        if name.strip() in taken:
            raise argparse.ArgumentTypeError(f"{name.strip()!r} is a bundled asset; give the extra one another name")
        if not Path(path).expanduser().is_file():
            raise argparse.ArgumentTypeError(f"{path}: no such file")
        return name.strip(), Path(path).expanduser().resolve()
    return parse


def _parser() -> argparse.ArgumentParser:
    from _quality_mesh import ASSETS, STYLES, mesh_cases

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("mesh", "image"), help="run one half only")
    mesh = parser.add_argument_group("mesh half")
    mesh.add_argument("--cases", type=_names(tuple(mesh_cases())), help="cases to run (default: all)")
    mesh.add_argument("--assets", type=_names(tuple(ASSETS)), help="bundled assets to run (default: all)")
    mesh.add_argument("--styles", type=_names(tuple(STYLES)), help="styles to run (default: all)")
    mesh.add_argument("--extra-asset", type=_extra_asset(tuple(ASSETS)), action="append", default=[],
                      metavar="NAME=PATH", help="also measure this asset, not bundled (repeatable)")
    mesh.add_argument("--iters", type=int, help="steps of every case instead of its own (quick checks only)")
    mesh.add_argument("--keep", type=Path, metavar="DIR", help="keep the run folders in DIR (for gallery.py)")
    mesh.add_argument("--no-reference", action="store_true", help="skip the 2D reference")
    # steps per view of the 2D reference: 100 for the figures; fewer only to check that the code runs
    mesh.add_argument("--reference-iters", type=int, default=100, help=argparse.SUPPRESS)
    return parser


def main() -> None:
    args = _parser().parse_args()
    if args.only in (None, "mesh"):
        from _quality_mesh import Selection, mesh_quality, summary_table

        selection = Selection(cases=args.cases, assets=args.assets, styles=args.styles, iters=args.iters,
                              keep=args.keep, reference=not args.no_reference, reference_iters=args.reference_iters,
                              extra_assets=tuple(args.extra_asset))
        result = mesh_quality(selection)
        write_result("quality_mesh", result)
        print(summary_table(result))
    if args.only in (None, "image"):
        from _quality_image import image_quality

        write_result("quality_image", image_quality())


if __name__ == "__main__":
    main()
