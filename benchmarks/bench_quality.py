"""Quality that can be measured offline: every figure comes from one evaluator on the shipped VGG19
(``restyle.eval.evaluator``), so runs compare whatever backbone they optimised.

- mesh: held-out views (cameras the optimisation never used) of the demo config and the ``preview`` preset on
  two bundled assets: style distances of the result against the style image, content distance against the
  original asset's renders of the same views, and the untouched original as the baseline.
- image: ``restyle image`` and the ``pastiche`` CLI on the same content, style, size and step count, side by
  side in one run: wall time, and the time restyle needs to reach pastiche's final style distance.

Writes results/quality_mesh.json and results/quality_image.json. These are the numbers to improve when a method
changes. Run: .venv/bin/python benchmarks/bench_quality.py [--only mesh|image]
"""

from __future__ import annotations

import argparse

from _common import write_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("mesh", "image"), help="run one half only")
    args = parser.parse_args()
    if args.only in (None, "mesh"):
        from _quality_mesh import mesh_quality

        write_result("quality_mesh", mesh_quality())
    if args.only in (None, "image"):
        from _quality_image import image_quality

        write_result("quality_image", image_quality())


if __name__ == "__main__":
    main()
