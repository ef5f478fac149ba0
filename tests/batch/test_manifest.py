"""Manifests: jobs, asset x look products, defaults under a job's own options, CSV, relative paths, unique
names, and every problem as one line naming the manifest and the job."""

from __future__ import annotations

from pathlib import Path

import pytest
from batch_fixtures import write_manifest

from restyle.batch.manifest import Resources, load_manifest, safe_name, style_file
from restyle.batch.plan import resolve_configs
from restyle.errors import ConfigError, InputError


def test_jobs_with_defaults_under_their_own_options(workspace: Path) -> None:
    path = write_manifest(workspace, """
[resources]
cpus = 2
[[job]]
name = "first"
mesh = "box.glb"
styles = ["red.png", "blue.png"]
[job.optim]
iters = 5
[job.resources]
gpus = 1
[[job]]
mesh = "box.glb"
text = "a mosaic"
""")
    manifest = load_manifest(path)
    first, second = manifest.jobs
    assert first.name == "first" and second.name == "box"
    assert first.mesh == workspace / "box.glb" and first.styles == (workspace / "red.png", workspace / "blue.png")
    assert first.options["optim"] == {"iters": 5}  # the job's own wins over [defaults]
    assert first.options["render"]["texture_size"] == 32  # the rest of [defaults] stays
    assert second.options["optim"] == {"iters": 3} and second.options["text"] == "a mosaic"
    assert first.resources == Resources(cpus=2, gpus=1) and second.resources == Resources(cpus=2, gpus=0)


def test_assets_times_looks(workspace: Path) -> None:
    (workspace / "lib").mkdir()
    (workspace / "lib" / "crate.glb").write_bytes((workspace / "box.glb").read_bytes())
    path = write_manifest(workspace, """
assets = ["box.glb", "lib/crate.glb"]
[[look]]
name = "red ink"
styles = ["red.png"]
[[look]]
name = "blue"
styles = ["blue.png"]
optim = {iters = 4}
""")
    jobs = load_manifest(path).jobs
    assert [job.name for job in jobs] == ["box_red_ink", "box_blue", "crate_red_ink", "crate_blue"]
    assert jobs[2].mesh == workspace / "lib" / "crate.glb"
    assert jobs[1].options["optim"] == {"iters": 4} and jobs[0].options["optim"] == {"iters": 3}


def test_csv_manifest_with_relative_paths(workspace: Path) -> None:
    sub = workspace / "sub"
    sub.mkdir()
    (sub / "list.csv").write_text("name,mesh,styles,text,preset\n"
                                  "a,../box.glb,../red.png;../blue.png,,\n"
                                  ",../box.glb,,a watercolour,\n")
    first, second = load_manifest(sub / "list.csv").jobs
    assert first.name == "a" and first.styles == (workspace / "red.png", workspace / "blue.png")
    assert second.name == "box" and second.options == {"text": "a watercolour"} and second.styles == ()


def test_duplicate_names_are_an_error_naming_them(workspace: Path) -> None:
    path = write_manifest(workspace, '[[job]]\nmesh = "box.glb"\n[[job]]\nmesh = "box.glb"\n')
    with pytest.raises(ConfigError, match="duplicate job names: box"):
        load_manifest(path)


def test_names_are_filesystem_safe() -> None:
    assert safe_name("../my look/é") == "my_look"
    assert safe_name("...") == "job"


def test_unknown_option_fails_the_batch_naming_manifest_and_job(workspace: Path) -> None:
    path = write_manifest(workspace, '[[job]]\nname = "ok"\nmesh = "box.glb"\nstyles = ["red.png"]\n'
                                     '[[job]]\nname = "typo"\nmesh = "box.glb"\nstyles = ["red.png"]\n'
                                     '[job.optim]\niterz = 3\n')
    with pytest.raises(ConfigError) as caught:
        resolve_configs(load_manifest(path), workspace / "out")
    message = str(caught.value)
    assert "\n" not in message and str(path) in message and "'typo'" in message and "iterz" in message


def test_missing_file_names_manifest_job_and_file(workspace: Path) -> None:
    path = write_manifest(workspace, '[[job]]\nname = "lost"\nmesh = "box.glb"\nstyles = ["nowhere.png"]\n')
    with pytest.raises(InputError, match=r"batch\.toml: job 'lost': style image not found: .*nowhere\.png"):
        load_manifest(path)
    with pytest.raises(InputError, match="manifest not found"):
        load_manifest(workspace / "absent.toml")


def test_bad_manifest_structure_is_one_line(workspace: Path) -> None:
    for body, expected in (('[[job]]\nstyles = ["red.png"]\n', "'mesh'"),
                           ('assets = ["box.glb"]\n', "go together"),
                           ('[[job]]\nmesh = "box.glb"\n[job.resources]\ngpus = -1\n', "gpus must be"),
                           ("jobs = 3\n", "unknown manifest key 'jobs'")):
        with pytest.raises(ConfigError, match=expected) as caught:
            load_manifest(write_manifest(workspace, body))
        assert "\n" not in str(caught.value)


def test_ray_missing_is_one_line_with_the_remedy(workspace: Path, monkeypatch) -> None:
    import sys

    from restyle.batch import run_batch

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    manifest = write_manifest(workspace, '[[job]]\nmesh = "box.glb"\nstyles = ["red.png"]\n')
    with pytest.raises(ConfigError, match=r"pip install 'ray>=2\.9'"):
        run_batch(manifest, workspace / "out", executor="ray")
    with pytest.raises(ConfigError, match="unknown executor 'slurm' \\(valid: local, ray\\)"):
        run_batch(manifest, workspace / "out", executor="slurm")
    assert not (workspace / "out").exists()  # nothing was started


def test_defaults_preset_is_every_jobs_preset_and_a_jobs_own_wins(workspace: Path) -> None:
    # the README's shape: a preset in [defaults], under the jobs' own options
    path = write_manifest(workspace, '[[job]]\nname = "a"\nmesh = "box.glb"\nstyles = ["red.png"]\n'
                                     '[[job]]\nname = "b"\nmesh = "box.glb"\nstyles = ["red.png"]\n'
                                     'preset = "preview"\n',
                          defaults='[defaults]\npreset = "draft"\noptim = {iters = 3}\n')
    manifest = load_manifest(path)
    assert [job.preset for job in manifest.jobs] == ["draft", "preview"]
    assert all("preset" not in job.options for job in manifest.jobs)
    configs = resolve_configs(manifest, workspace / "out")
    assert configs["a"].render.texture_size == 256 and configs["b"].render.texture_size == 512  # each its preset
    assert configs["a"].optim.iters == configs["b"].optim.iters == 3  # [defaults] options over the preset


@pytest.mark.parametrize("table", ["[defaults]", "[[job]]", "[[look]]"])
@pytest.mark.parametrize("key", ["output = \"elsewhere\"", "overwrite = true", "config_file = \"x.toml\"",
                                 "resume = \"out\""])
def test_keys_that_are_not_options_are_one_line_listing_the_valid_ones(workspace: Path, table: str,
                                                                        key: str) -> None:
    job = '[[job]]\nname = "a"\nmesh = "box.glb"\nstyles = ["red.png"]\n'
    bodies = {"[defaults]": f"{job}[defaults]\n{key}\n", "[[job]]": f"{job}{key}\n",
              "[[look]]": f'assets = ["box.glb"]\n[[look]]\nname = "l"\nstyles = ["red.png"]\n{key}\n'}
    path = write_manifest(workspace, bodies[table], defaults="")
    with pytest.raises(ConfigError) as caught:
        load_manifest(path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    assert f"unknown key {key.split(' ')[0]!r}" in message and "valid: " in message
    assert "preset" in message and "optim" in message and "render" in message


def test_a_job_without_styles_or_text_is_refused_at_planning(workspace: Path) -> None:
    path = write_manifest(workspace, '[[job]]\nname = "bare"\nmesh = "box.glb"\n'
                                     '[[job]]\nname = "told"\nmesh = "box.glb"\ntext = "a mosaic"\n')
    with pytest.raises(ConfigError, match=r"job 'bare': no style image and no text; give it 'styles' or 'text'"):
        resolve_configs(load_manifest(path), workspace / "out")


def test_csv_with_a_byte_order_mark_is_read(workspace: Path) -> None:
    # Excel's "CSV UTF-8"
    (workspace / "list.csv").write_bytes(b"\xef\xbb\xbfname,mesh,styles\nr\xc3\xa9d,box.glb,red.png\n")
    (job,) = load_manifest(workspace / "list.csv").jobs
    assert job.name == "r_d" and job.mesh == workspace / "box.glb"


@pytest.mark.parametrize(("content", "expected"), [
    (b"name,mesh,styles\na,box.glb,red.png\nb\xe9,box.glb,red.png\n", r"row 3: not UTF-8 text \(byte 0xe9\)"),
    (b"name,mesh,styles\na,box.glb,red.png\n\nb,box\x00.glb,red.png\n", "row 4: holds a NUL byte"),
    (b"name,mesh,styles\na,box.glb,red.png\nb," + b"x" * 200_000 + b",red.png\n",
     "row 3: field larger than field limit"),
    (b"name,mesh,styles\na,box.glb,red.png,blue.png\n", "row 2: 4 cells under a header of 3 columns"),
])
def test_csv_that_is_not_utf8_text_is_one_line_naming_file_and_row(workspace: Path, content: bytes,
                                                                   expected: str) -> None:
    (workspace / "list.csv").write_bytes(content)
    with pytest.raises((InputError, ConfigError), match=expected) as caught:
        load_manifest(workspace / "list.csv")
    assert "\n" not in str(caught.value) and str(caught.value).startswith(f"{workspace / 'list.csv'}: ")


@pytest.mark.parametrize(("mesh", "expected"), [("box\\u0000.glb", "holds a NUL character"),
                                                ("x" * 5000 + ".glb", "is longer than 4096 characters"),
                                                ("x" * 300 + ".glb", "mesh not found")])
def test_impossible_paths_are_one_line(workspace: Path, mesh: str, expected: str) -> None:
    path = write_manifest(workspace, f'[[job]]\nname = "a"\nmesh = "{mesh}"\nstyles = ["red.png"]\n')
    with pytest.raises((ConfigError, InputError), match=expected) as caught:
        load_manifest(path)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 1000  # the 5000 characters are not repeated


def test_style_paths_with_an_at_sign_in_a_folder_keep_it_and_their_mask(workspace: Path) -> None:
    """A manifest splits ``FILE@MASK`` with the CLI's and the API's parser: at the last ``@``, and only when what
    follows is a mask, so a folder named ``my@styles`` stays whole."""
    folder = workspace / "my@styles"
    folder.mkdir()
    for name in ("red.png", "blue.png"):
        (folder / name).write_bytes((workspace / name).read_bytes())
    path = write_manifest(workspace, """
[[job]]
mesh = "box.glb"
styles = ["my@styles/red.png@far", "my@styles/blue.png"]
""")
    job = load_manifest(path).jobs[0]
    assert job.styles == (Path(f"{folder / 'red.png'}@far"), folder / "blue.png")
    assert [style_file(spec) for spec in job.styles] == [folder / "red.png", folder / "blue.png"]


def test_a_broken_mask_on_a_style_names_manifest_and_job(workspace: Path) -> None:
    path = write_manifest(workspace, '[[job]]\nname = "a"\nmesh = "box.glb"\nstyles = ["red.png@sigmoid:0.5"]\n')
    with pytest.raises(ConfigError, match=r"batch\.toml: job 'a': mask 'sigmoid:0\.5' takes two numbers"):
        load_manifest(path)
