"""The D2L_* settings, read in one module at every call."""

import importlib
from pathlib import Path

import pytest

import d2lhelpers as d2l

settings = importlib.import_module("d2lhelpers.settings")


def test_data_root_reads_env_at_call_time(monkeypatch, tmp_path):
    monkeypatch.setenv("D2L_DATA_DIR", str(tmp_path / "a"))
    assert d2l.data_root() == tmp_path / "a"
    monkeypatch.setenv("D2L_DATA_DIR", str(tmp_path / "b"))
    assert d2l.data_root() == tmp_path / "b"


def test_data_root_defaults_to_checkout_data(monkeypatch):
    monkeypatch.delenv("D2L_DATA_DIR", raising=False)
    assert d2l.data_root() == Path(settings.__file__).resolve().parent.parent / "data"


def test_data_root_outside_a_checkout_is_a_user_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("D2L_DATA_DIR", raising=False)
    fake = tmp_path / "site-packages" / "d2lhelpers" / "settings.py"
    monkeypatch.setattr(settings, "__file__", str(fake))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(settings.sys, "platform", "linux")
    assert d2l.data_root() == tmp_path / "cache" / "d2lhelpers"


def test_the_data_sets_folders_follow_the_data_root(monkeypatch, tmp_path):
    monkeypatch.setenv("D2L_DATA_DIR", str(tmp_path / "root"))
    assert d2l.datasets.FASHION_MNIST.folder() == tmp_path / "root" / "FashionMNIST" / "raw"
    assert d2l.fashion_mnist.raw_folder() == tmp_path / "root" / "FashionMNIST" / "raw"
    assert d2l.datasets.AIRFOIL.folder() == tmp_path / "root"


@pytest.mark.parametrize("value", ["", " ", "\t\n"])
def test_a_blank_data_dir_means_the_default(monkeypatch, value):
    monkeypatch.delenv("D2L_DATA_DIR", raising=False)
    default = d2l.data_root()
    monkeypatch.setenv("D2L_DATA_DIR", value)
    assert d2l.data_root() == default


@pytest.mark.parametrize("value", ["data", "./data", " /tmp/x", "../d2l"])
def test_a_relative_data_dir_is_refused_and_creates_nothing(monkeypatch, tmp_path, value):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("D2L_DATA_DIR", value)
    with pytest.raises(ValueError, match=f"D2L_DATA_DIR={value!r} is a relative path"):
        d2l.data_root()
    with pytest.raises(ValueError, match="is a relative path"):
        d2l.load_data_fashion_mnist(16)
    with pytest.raises(ValueError, match="is a relative path"):
        d2l.download("airfoil")
    assert list(tmp_path.iterdir()) == []


def test_a_home_relative_data_dir_is_expanded(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("D2L_DATA_DIR", "~/d2l-data")
    assert d2l.data_root() == tmp_path / "d2l-data"


def test_a_relative_xdg_cache_home_is_ignored(monkeypatch, tmp_path):
    monkeypatch.setattr(settings.sys, "platform", "linux")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", "cache")
    assert settings.user_cache_dir() == tmp_path / ".cache" / "d2lhelpers"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert settings.user_cache_dir() == tmp_path / "xdg" / "d2lhelpers"


@pytest.mark.parametrize("value, expected", [(None, 1.0), ("", 1.0), ("0.05", 0.05), ("1", 1.0)])
def test_epoch_fraction_reads_a_number_in_the_unit_interval(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv("D2L_EPOCH_FRACTION", raising=False)
    else:
        monkeypatch.setenv("D2L_EPOCH_FRACTION", value)
    assert d2l.epoch_fraction() == expected


@pytest.mark.parametrize("value", ["0", "1.5", "fast", "-0.1", "nan"])
def test_a_bad_epoch_fraction_is_explained(monkeypatch, value):
    monkeypatch.setenv("D2L_EPOCH_FRACTION", value)
    with pytest.raises(ValueError, match=f"D2L_EPOCH_FRACTION={value!r}: expected a number in"):
        d2l.epoch_fraction()


def test_describe_gives_each_setting_its_value_meaning_and_effect(monkeypatch, tmp_path):
    monkeypatch.setenv("D2L_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("D2L_EPOCH_FRACTION", raising=False)
    text = d2l.settings.describe()
    assert f"D2L_DATA_DIR = {str(tmp_path)!r}" in text
    assert "meaning:   the data root, where data sets are looked for and downloaded to" in text
    assert f"in effect: {tmp_path}" in text
    assert "D2L_EPOCH_FRACTION is not set" in text and "in effect: 1.0" in text


def test_describe_reports_a_bad_setting_instead_of_raising(monkeypatch):
    monkeypatch.setenv("D2L_EPOCH_FRACTION", "2")
    text = d2l.settings.describe()
    assert "D2L_EPOCH_FRACTION = '2'" in text
    assert "in effect: an error: D2L_EPOCH_FRACTION='2': expected a number in (0, 1]" in text
