from pathlib import Path

import pytest

from agent.config import LANGUAGES, ParlaConfig, load_config
from agent.errors import ParlaError


def test_defaults_work_offline():
    cfg = load_config()
    assert cfg == ParlaConfig()
    assert cfg.retrieval.embedder.startswith("bundle:")
    assert cfg.language.languages == LANGUAGES


def test_toml_then_command_line_overrides(tmp_path: Path):
    path = tmp_path / "parla.toml"
    path.write_text('[retrieval]\ntop_k = 8\nmin_score = 1\n[language]\nlanguages = ["en", "de"]\n')
    cfg = load_config(path, ["retrieval.top_k=3", "asr.backend=openai-whisper"])
    assert cfg.retrieval.top_k == 3
    assert cfg.retrieval.min_score == 1.0 and isinstance(cfg.retrieval.min_score, float)
    assert cfg.language.languages == ("en", "de")
    assert cfg.asr.backend == "openai-whisper"


@pytest.mark.parametrize(
    "text, overrides, message",
    [
        ("[nope]\nx = 1\n", [], "unknown config key"),
        ("[retrieval]\ntop_k = 'many'\n", [], "should be a int"),
        ("retrieval = 3\n", [], "must be a table"),
        ("[retrieval\n", [], "not valid TOML"),
        ("", ["top_k=3"], "section.key=value"),
    ],
)
def test_bad_config_is_one_clear_error(tmp_path: Path, text, overrides, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ParlaError, match=message):
        load_config(path, overrides)


def test_missing_config_file():
    with pytest.raises(ParlaError, match="not found"):
        load_config("/nonexistent/parla.toml")


def test_configs_are_frozen():
    cfg = ParlaConfig()
    with pytest.raises(AttributeError):
        cfg.retrieval.top_k = 2  # type: ignore[misc]
