"""Staging of web uploads: what is accepted, what is refused (one line, no server path), nothing escapes dest."""

from __future__ import annotations

import json
import os
import shutil
import stat
import zipfile
from pathlib import Path

import pytest
from PIL import Image
from upload_fixtures import ESCAPES, escaping_upload, quad_upload

from restyle.io.meshes import load_mesh
from restyle.web.uploads import (
    COMPANION_SUFFIXES,
    MESH_SUFFIXES,
    UploadError,
    UploadLimits,
    inside,
    sample_mesh,
    sample_style,
    stage_images,
    stage_mesh,
)

SPOT_FILES = ("spot.obj", "spot.mtl", "spot_texture.png")


# ----------------------------------------------------------------------------------------------- fixtures


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """The parent of every ``dest``: after a refused upload it must hold nothing."""
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


def _upload(uploads: Path, source: Path, name: str | None = None) -> Path:
    folder = uploads / f"u{len(list(uploads.iterdir()))}"
    folder.mkdir()
    return Path(shutil.copyfile(source, folder / (name or source.name)))


def _write(uploads: Path, name: str, data: bytes) -> Path:
    folder = uploads / f"u{len(list(uploads.iterdir()))}"
    folder.mkdir()
    (folder / name).write_bytes(data)
    return folder / name


def _spot(assets: Path, uploads: Path, names: tuple[str, ...] = SPOT_FILES) -> list[Path]:
    return [_upload(uploads, assets / "meshes" / "spot" / name) for name in names]


def _zip(uploads: Path, name: str, members: dict[str, bytes], *, symlink: str | None = None) -> Path:
    path = uploads / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in members.items():
            archive.writestr(member, data)
        if symlink is not None:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return path


def _spot_members(assets: Path, folder: str = "") -> dict[str, bytes]:
    return {folder + name: (assets / "meshes" / "spot" / name).read_bytes() for name in SPOT_FILES}


def _refused(call, tmp_path: Path, work: Path, *names: str) -> str:
    """Run ``call``, expect an UploadError with a one-line, path-free message naming ``names``; return it."""
    with pytest.raises(UploadError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message
    assert str(tmp_path) not in message and str(tmp_path.resolve()) not in message
    for name in names:
        assert name in message, message
    assert list(work.iterdir()) == [], "a refused upload left files behind"
    return message


# -------------------------------------------------------------------------------------------- accepted


def test_glb_stages_and_returns_its_path(assets: Path, uploads: Path, work: Path) -> None:
    glb = _upload(uploads, assets / "meshes" / "box_textured" / "BoxTextured.glb")
    staged = stage_mesh([glb], work / "asset")
    assert staged == work / "asset" / "BoxTextured.glb"
    assert staged.read_bytes() == glb.read_bytes()


def test_obj_with_mtl_and_texture_as_three_files_stages_side_by_side(
    assets: Path, uploads: Path, work: Path
) -> None:
    staged = stage_mesh(_spot(assets, uploads), work / "asset")
    assert staged == work / "asset" / "spot.obj"
    assert sorted(path.name for path in staged.parent.iterdir()) == sorted(SPOT_FILES)
    assert load_mesh(staged, unwrap=False).slots[0].image.shape[-1] > 1


def test_gltf_with_bin_and_texture_stages(assets: Path, uploads: Path, work: Path) -> None:
    separate = assets / "meshes" / "box_textured" / "gltf_separate"
    files = [_upload(uploads, path) for path in sorted(separate.iterdir())]
    assert stage_mesh(files, work / "asset").name == "BoxTextured.gltf"


@pytest.mark.parametrize("folder", ["", "spot/", "my asset/spot/"])
def test_obj_in_a_zip_stages_with_its_folders(assets: Path, uploads: Path, work: Path, folder: str) -> None:
    members = {**_spot_members(assets, folder), folder + "README.txt": b"skipped", "__MACOSX/._spot.obj": b"junk"}
    staged = stage_mesh([_zip(uploads, "spot.zip", members)], work / "asset")
    assert staged == work / "asset" / folder / "spot.obj"
    assert not (staged.parent / "README.txt").exists() and not (work / "asset" / "__MACOSX").exists()
    assert {path.name for path in staged.parent.iterdir()} == set(SPOT_FILES)


def test_sample_mesh_and_style_exist_and_stage(uploads: Path, work: Path) -> None:
    mesh, style = sample_mesh(), sample_style()
    assert mesh.name == "spot.obj" and style.name == "vangogh_starry_night.jpg"
    companions = [path for path in mesh.parent.iterdir() if path.suffix in MESH_SUFFIXES + COMPANION_SUFFIXES]
    assert stage_mesh(companions, work / "asset").name == "spot.obj"
    assert stage_images([style], work / "styles", "style image")[0].name == style.name


def test_images_stage_in_order_with_clashing_names_numbered(assets: Path, uploads: Path, work: Path) -> None:
    first = _upload(uploads, assets / "styles" / "cc0_texture_brick.png", "style.png")
    second = _upload(uploads, assets / "styles" / "cc0_horse_silhouette_lineart.png", "style.png")
    third = _upload(uploads, assets / "styles" / "hokusai_great_wave.jpg", "..hidden.jpg")
    staged = stage_images([first, second, third], work / "styles", "style image")
    assert [path.name for path in staged] == ["style.png", "style_1.png", "hidden.jpg"]
    assert staged[1].read_bytes() == second.read_bytes()
    again = stage_images([first], work / "styles", "style image")
    assert again[0].name == "style_2.png"


# --------------------------------------------------------------------------------------------- refused


def test_obj_without_its_texture_names_the_missing_file(
    assets: Path, uploads: Path, tmp_path: Path, work: Path
) -> None:
    files = _spot(assets, uploads, ("spot.obj", "spot.mtl"))
    message = _refused(lambda: stage_mesh(files, work / "asset"), tmp_path, work, "spot.obj", "spot_texture.png")
    assert "not found" in message


def test_two_meshes_no_mesh_and_unknown_suffixes_are_refused(
    assets: Path, uploads: Path, tmp_path: Path, work: Path
) -> None:
    glb = _upload(uploads, assets / "meshes" / "box_textured" / "BoxTextured.glb")
    spot = _spot(assets, uploads)
    dest = work / "asset"
    _refused(lambda: stage_mesh([glb, *spot], dest), tmp_path, work, "BoxTextured.glb", "spot.obj")
    _refused(lambda: stage_mesh(spot[1:], dest), tmp_path, work, "spot.mtl", "spot_texture.png")
    for name in ("setup.exe", "notes.txt", "noext"):
        odd = _write(uploads, name, b"MZ...")
        _refused(lambda odd=odd: stage_mesh([*spot, odd], dest), tmp_path, work, name)
    _refused(lambda: stage_mesh([], dest), tmp_path, work)


def test_size_and_count_limits(assets: Path, uploads: Path, tmp_path: Path, work: Path) -> None:
    spot = _spot(assets, uploads)
    dest = work / "asset"
    _refused(lambda: stage_mesh(spot, dest, UploadLimits(max_file_bytes=100_000)), tmp_path, work, "spot.obj")
    _refused(lambda: stage_mesh(spot, dest, UploadLimits(max_total_bytes=400_000)), tmp_path, work)
    _refused(lambda: stage_mesh(spot, dest, UploadLimits(max_files=2)), tmp_path, work, "3 files")
    archive = _zip(uploads, "spot.zip", _spot_members(assets))
    _refused(lambda: stage_mesh([archive], dest, UploadLimits(max_files=2)), tmp_path, work, "spot.zip")


@pytest.mark.parametrize("member", ["../evil.obj", "../evil", "a/../../evil.png", "/abs/evil.obj", "C:/evil.obj"])
def test_zip_members_that_could_escape_are_refused(
    assets: Path, uploads: Path, tmp_path: Path, work: Path, member: str
) -> None:
    archive = _zip(uploads, "evil.zip", {**_spot_members(assets), member: b"x"})
    _refused(lambda: stage_mesh([archive], work / "asset"), tmp_path, work, "evil.zip", "unsafe")
    assert not (tmp_path / "evil.obj").exists() and not (tmp_path / "evil").exists()


def test_zip_symlink_member_is_refused(assets: Path, uploads: Path, tmp_path: Path, work: Path) -> None:
    archive = _zip(uploads, "link.zip", _spot_members(assets), symlink="spot_texture_link.png")
    _refused(lambda: stage_mesh([archive], work / "asset"), tmp_path, work, "link.zip", "symbolic link")


def test_zip_bomb_is_refused_from_its_declared_size(uploads: Path, tmp_path: Path, work: Path) -> None:
    archive = _zip(uploads, "bomb.zip", {"bomb.obj": b"v 0 0 0\n" * 200_000})  # 1.6 MB, compresses to ~5 KB
    assert archive.stat().st_size < 20_000
    limits = UploadLimits(max_total_bytes=1_000_000)
    _refused(lambda: stage_mesh([archive], work / "asset", limits), tmp_path, work, "bomb.zip")
    limits = UploadLimits(max_file_bytes=1_000_000)
    _refused(lambda: stage_mesh([archive], work / "asset", limits), tmp_path, work, "bomb.zip", "bomb.obj")


def test_zip_member_larger_than_declared_is_stopped_while_unpacking(
    uploads: Path, tmp_path: Path, work: Path
) -> None:
    archive = _zip(uploads, "liar.zip", {"liar.obj": b"v 0 0 0\n" * 10_000})
    data = bytearray(archive.read_bytes())
    # lower the size in the central directory only: the directory lies, the deflate stream does not
    central = data.rfind(b"PK\x01\x02")
    data[central + 24 : central + 28] = (100).to_bytes(4, "little")
    archive.write_bytes(bytes(data))
    _refused(lambda: stage_mesh([archive], work / "asset"), tmp_path, work, "liar.obj")


def test_corrupt_zip_is_refused(uploads: Path, tmp_path: Path, work: Path) -> None:
    archive = _write(uploads, "broken.zip", b"PK\x03\x04 this is not really a zip")
    _refused(lambda: stage_mesh([archive], work / "asset"), tmp_path, work, "broken.zip")
    other = _write(uploads, "extra.png", b"x")
    _refused(lambda: stage_mesh([archive, other], work / "asset"), tmp_path, work, "broken.zip")


def test_broken_texture_in_an_asset_is_refused(assets: Path, uploads: Path, tmp_path: Path, work: Path) -> None:
    files = _spot(assets, uploads, ("spot.obj", "spot.mtl"))
    fake = _write(uploads, "spot_texture.png", b"just some text, not a PNG")
    _refused(lambda: stage_mesh([*files, fake], work / "asset"), tmp_path, work, "spot_texture.png")


def test_reference_outside_the_upload_is_refused(assets: Path, uploads: Path, tmp_path: Path, work: Path) -> None:
    secret = tmp_path / "secret.png"
    Image.new("RGB", (4, 4)).save(secret)
    mtl = (assets / "meshes" / "spot" / "spot.mtl").read_text() + f"map_Bump {secret}\n"
    files = [*_spot(assets, uploads, ("spot.obj", "spot_texture.png")), _write(uploads, "spot.mtl", mtl.encode())]
    _refused(lambda: stage_mesh(files, work / "asset"), tmp_path, work, "spot.obj", "secret.png", "outside")


def test_the_quad_upload_itself_is_accepted(uploads: Path, work: Path) -> None:
    files = quad_upload(uploads, mtllib="x.bin", library="x.bin", extra="bump quad.png\nMAP_BUMP\tquad.png\n")
    assert stage_mesh(files, work / "asset").name == "quad.obj"


@pytest.mark.parametrize("spelling", ESCAPES)
def test_every_spelling_of_a_path_outside_the_upload_is_refused(
    uploads: Path, tmp_path: Path, work: Path, spelling: str
) -> None:
    files = escaping_upload(uploads, tmp_path, spelling)
    _refused(lambda: stage_mesh(files, work / "asset"), tmp_path, work, "quad.obj", "outside the upload")


def test_gltf_buffer_outside_the_upload_is_refused(
    assets: Path, uploads: Path, tmp_path: Path, work: Path
) -> None:
    separate = assets / "meshes" / "box_textured" / "gltf_separate"
    secret = Path(shutil.copyfile(separate / "CesiumLogoFlat.png", tmp_path / "secret.png"))
    document = json.loads((separate / "BoxTextured.gltf").read_text())
    document["images"][0]["uri"] = str(secret)
    gltf = _write(uploads, "BoxTextured.gltf", json.dumps(document).encode())
    files = [gltf, _upload(uploads, separate / "BoxTextured0.bin")]
    _refused(lambda: stage_mesh(files, work / "asset"), tmp_path, work, "BoxTextured.gltf", "secret.png", "outside")


def test_mesh_without_uvs_is_accepted(uploads: Path, work: Path) -> None:
    obj = _write(uploads, "tetra.obj", b"v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 2 3\nf 1 2 4\nf 1 3 4\nf 2 3 4\n")
    assert stage_mesh([obj], work / "asset") == work / "asset" / "tetra.obj"


def test_bad_images_are_refused(assets: Path, uploads: Path, tmp_path: Path, work: Path) -> None:
    dest = work / "styles"
    text = _write(uploads, "style.png", b"this is text, not an image")
    _refused(lambda: stage_images([text], dest, "style image"), tmp_path, work, "style.png")
    big = _upload(uploads, assets / "styles" / "cc0_texture_brick.png", "brick.png")
    limits = UploadLimits(max_image_pixels=100)
    _refused(lambda: stage_images([big], dest, "style image", limits), tmp_path, work, "brick.png", "pixel")
    exe = _write(uploads, "style.exe", b"MZ")
    _refused(lambda: stage_images([big, exe], dest, "style image"), tmp_path, work, "style.exe", "style image")
    truncated = _write(uploads, "cut.jpg", (assets / "styles" / "hokusai_great_wave.jpg").read_bytes()[:5000])
    _refused(lambda: stage_images([big, truncated], dest, "style image"), tmp_path, work, "cut.jpg")
    _refused(lambda: stage_images([big], dest, "style image", UploadLimits(max_file_bytes=1000)), tmp_path, work)
    _refused(lambda: stage_images([], dest, "style image"), tmp_path, work, "style image")


def test_images_over_the_total_upload_limit_are_refused(
    assets: Path, uploads: Path, tmp_path: Path, work: Path
) -> None:
    """Each image is under the file limit; together they are over the upload's."""
    images = [_upload(uploads, assets / "styles" / "cc0_texture_brick.png", f"style{index}.png") for index in (1, 2)]
    size = images[0].stat().st_size
    limits = UploadLimits(max_file_bytes=size, max_total_bytes=2 * size - 1)
    _refused(lambda: stage_images(images, work / "styles", "style image", limits), tmp_path, work, "2 files",
             "upload limit")
    assert len(stage_images(images, work / "styles", "style image", UploadLimits(max_total_bytes=2 * size))) == 2


def test_a_failure_leaves_an_existing_empty_dest_empty(assets: Path, uploads: Path, work: Path) -> None:
    dest = work / "asset"
    dest.mkdir()
    with pytest.raises(UploadError):
        stage_mesh(_spot(assets, uploads, ("spot.obj", "spot.mtl")), dest)
    assert list(dest.iterdir()) == []
    (dest / "other").write_text("x")
    with pytest.raises(ValueError, match="new or empty"):
        stage_mesh(_spot(assets, uploads), dest)


# ---------------------------------------------------------------------------------------------- inside


def test_inside(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "job").mkdir(parents=True)
    (tmp_path / "data2").mkdir()
    (tmp_path / "secret.txt").write_text("x")
    os.symlink(tmp_path / "secret.txt", root / "job" / "link.txt")
    assert inside(root, root)
    assert inside(root, root / "job" / "out.png")
    assert not inside(root, root / ".." / "secret.txt")
    assert not inside(root, tmp_path / "data2" / "x.png")
    assert not inside(root, root / "job" / "link.txt")
