"""Paths are made absolute once, where they enter: command-line paths against the current folder,
settings-file paths against the settings file's folder; URIs and hub ids are left alone."""

from __future__ import annotations

import os

import pytest

from catalog_motion.errors import StepError, describe_exception, run_step
from catalog_motion.paths import absolute_location
from catalog_motion.settings import load_settings, resolve_run_settings


def test_absolute_location_resolves_local_paths_and_keeps_uris(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert absolute_location("out/demo") == str(tmp_path / "out" / "demo")
    assert absolute_location("a/../b", base="/srv/x") == "/srv/x/b"
    assert absolute_location("~/cm") == os.path.expanduser("~/cm")
    for uri in ("s3://bucket/prefix", "https://feeds.example/f.xml", "shopify://shop", "file:///srv/c.csv"):
        assert absolute_location(uri) == uri


def test_settings_file_paths_are_relative_to_the_file(tmp_path, monkeypatch):
    conf = tmp_path / "conf"
    (conf / "models" / "wan").mkdir(parents=True)
    (conf / "settings.yaml").write_text(
        "work_dir: scratch\n"
        "presets_file: ../presets.yaml\n"
        "sink: {uri: published}\n"
        "intake: {ca_bundle: certs/ca.pem}\n"
        "engines:\n"
        "  wan: {weights: models/wan, lora: {path: ./loras/fast}}\n"
        "  svd: {weights: stabilityai/stable-video-diffusion-img2vid-xt}\n",
        encoding="utf-8",
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    settings = load_settings("../conf/settings.yaml")
    assert settings.work_dir == str(conf / "scratch")
    assert settings.presets_file == str(tmp_path / "presets.yaml")
    assert settings.sink.uri == str(conf / "published")
    assert settings.intake.ca_bundle == str(conf / "certs" / "ca.pem")
    assert settings.engines["wan"]["weights"] == str(conf / "models" / "wan")  # exists: a local folder
    assert settings.engines["wan"]["lora"]["path"] == str(conf / "loras" / "fast")  # written as a path
    assert settings.engines["svd"]["weights"] == "stabilityai/stable-video-diffusion-img2vid-xt"  # a hub id


def test_run_settings_resolve_command_line_paths_against_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = resolve_run_settings("out", None, "my-presets.yaml")
    assert settings.sink.uri == str(tmp_path / "out")
    assert settings.work_dir == str(tmp_path / "out" / ".work")
    assert settings.presets_file == str(tmp_path / "my-presets.yaml")
    remote = resolve_run_settings("s3://bucket/brand", None, None)
    assert remote.sink.uri == "s3://bucket/brand" and remote.work_dir == str(tmp_path / ".work")


def test_run_step_names_the_step_and_the_place_in_words(tmp_path):
    target = tmp_path / "docs"
    with pytest.raises(StepError) as caught, run_step("writing the Data Docs at", str(target)):
        raise NotADirectoryError(20, "Not a directory", str(target))
    assert str(caught.value) == f"writing the Data Docs at {target} failed: not a directory"
    assert isinstance(caught.value.__cause__, NotADirectoryError)  # kept for --debug
    assert describe_exception(ValueError("base_directory must be absolute")) == "base_directory must be absolute"
    assert describe_exception(RuntimeError()) == "RuntimeError"  # nothing else to say
