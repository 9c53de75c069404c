"""`parla index build` and `parla eval retrieval` on a tiny sentence-transformers model."""

import json

import numpy as np
import pytest

from agent.cli import main
from agent.config import RetrievalConfig
from eval.retrieval import evaluate, markdown_table, rank_of_first_relevant, read_queries
from retrieval.embedding import load_embedder, model_fingerprint
from retrieval.knowledge_base import load_knowledge_base
from tests.retrieval_helpers import write_kb
from tests.test_convert_e5 import read_e5_q4, tiny_tensors, write_e5s1, write_sentence_transformer


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    write_e5s1(folder / "tiny.bin", tiny_tensors(np.random.default_rng(0)))
    write_sentence_transformer(read_e5_q4(folder / "tiny.bin"), folder / "model")
    return folder / "model"


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def error_lines(err):
    return [line for line in err.splitlines() if line.startswith("parla: error:")]


def test_tiny_embedder_loads_once_with_prompts_and_unit_vectors(tiny_model):
    first = load_embedder(str(tiny_model))
    second = load_embedder(str(tiny_model))
    assert first.model is second.model  # loaded once per process
    assert (first.prefixes.query, first.prefixes.passage) == ("query: ", "passage: ")
    vectors = first.embed_passages(["hello world", "world"])
    assert vectors.shape == (2, first.dimension) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert first.count_tokens(["hello world"]) == [2]
    assert first.fingerprint == model_fingerprint(tiny_model)


def test_fingerprint_changes_with_the_weights(tiny_model, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tiny_model, copy)
    assert model_fingerprint(copy) == model_fingerprint(tiny_model)
    (copy / "model.safetensors").write_bytes(
        (copy / "model.safetensors").read_bytes()[:-4] + b"abcd"
    )
    assert model_fingerprint(copy) != model_fingerprint(tiny_model)


def test_index_build_json_and_incremental_rerun(tiny_model, tmp_path, capsys):
    kb = write_kb(tmp_path / "kb")
    out = tmp_path / "index"
    argv = ["index", "build", "--kb", str(kb), "--out", str(out), "--embedder", str(tiny_model)]
    code, stdout, _ = run(capsys, *argv, "--json")
    assert code == 0
    first = json.loads(stdout)
    assert first["documents"] == 3 and first["chunks"] >= 3 and first["seconds"] >= 0
    assert first["embedded_chunks"] == first["chunks"] and first["languages"].keys() == {"en", "es"}
    code, stdout, _ = run(capsys, *argv, "--json")
    again = json.loads(stdout)
    assert code == 0 and again["embedded_chunks"] == 0 and again["unchanged"] == 3


def test_index_build_bad_input_is_one_line(tiny_model, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    argv = ["index", "build", "--out", str(tmp_path / "i"), "--embedder", str(tiny_model), "--json"]
    code, stdout, err = run(capsys, *argv, "--kb", str(tmp_path / "empty"))
    assert code != 0 and stdout == "" and len(error_lines(err)) == 1
    assert "no usable documents" in err and "Traceback" not in err
    code, stdout, err = run(capsys, *argv, "--kb", str(tmp_path / "missing"))
    assert code != 0 and stdout == "" and "does not exist" in error_lines(err)[0]


def test_eval_retrieval_json_keys(tiny_model, tmp_path, capsys):
    kb = write_kb(tmp_path / "kb")
    out = tmp_path / "index"
    run(capsys, "index", "build", "--kb", str(kb), "--out", str(out), "--embedder", str(tiny_model))
    queries = tmp_path / "q.jsonl"
    rows = [
        {"query": "hello", "relevant": ["en/returns.md"], "lang": "en"},
        {"query": "world", "relevant": ["es/returns.md"], "lang": "es"},
        {"query": "hello world", "relevant": ["en/delivery.md"]},
    ]
    queries.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    report = tmp_path / "report"
    argv = ["eval", "retrieval", "--index", str(out), "--queries", str(queries)]
    code, stdout, _ = run(capsys, *argv, "--json", "--report", str(report))
    assert code == 0
    result = json.loads(stdout)
    assert {"n", "recall@1", "recall@5", "mrr@10", "per_language"} <= set(result)
    assert result["n"] == 3 and set(result["per_language"]) == {"en", "es", "any"}
    assert result["recall@5"] == 1.0  # only three documents: each is in the top 5
    assert (report / "retrieval.md").read_text().startswith("| language |")


def test_eval_retrieval_refuses_an_index_of_another_embedder(tiny_model, tmp_path, capsys):
    kb = write_kb(tmp_path / "kb")
    out = tmp_path / "index"
    run(capsys, "index", "build", "--kb", str(kb), "--out", str(out), "--embedder", str(tiny_model))
    other = tmp_path / "other"
    other.mkdir()
    (other / "tiny.bin").write_bytes(b"")
    write_e5s1(other / "tiny.bin", tiny_tensors(np.random.default_rng(1)))
    write_sentence_transformer(read_e5_q4(other / "tiny.bin"), other / "model")
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"query": "hello", "relevant": ["en/returns.md"]}\n', encoding="utf-8")
    code, stdout, err = run(
        capsys, "eval", "retrieval", "--index", str(out), "--queries", str(queries),
        "--embedder", str(other / "model"), "--json",
    )  # fmt: skip
    assert code != 0 and stdout == "" and "was built with embedder" in error_lines(err)[0]


def test_eval_retrieval_bad_queries_are_one_line(tmp_path, capsys):
    bad = tmp_path / "q.jsonl"
    bad.write_text('{"query": "x"}\n', encoding="utf-8")
    code, _, err = run(capsys, "eval", "retrieval", "--index", str(tmp_path), "--queries", str(bad))
    assert code != 0 and "needs a query and a non-empty relevant list" in error_lines(err)[0]
    code, _, err = run(capsys, "eval", "retrieval", "--index", str(tmp_path), "--queries", "nope")
    assert code != 0 and "not found" in error_lines(err)[0]


def test_eval_retrieval_takes_the_demo_index_by_name(parla_home, tmp_path, capsys):
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"query": "x", "relevant": ["a"]}\n', encoding="utf-8")
    argv = ["eval", "retrieval", "--index", "demo:index", "--queries", str(queries)]
    code, _, err = run(capsys, *argv)
    assert code != 0 and str(parla_home / "demo" / "index") in error_lines(err)[0]


def test_load_knowledge_base_without_the_demo_index_says_run_setup(parla_home):
    from agent.errors import ParlaError

    with pytest.raises(ParlaError, match="parla setup"):
        load_knowledge_base(RetrievalConfig())


def test_rank_counts_documents_not_chunks():
    ranked = ["a.md", "a.md", "b.md", "a.md", "c.md"]
    assert rank_of_first_relevant(ranked, ["c.md"]) == 3
    assert rank_of_first_relevant(ranked, ["z.md"]) is None


def test_evaluate_metrics_on_a_fake_knowledge_base(tmp_path):
    from retrieval.builder import build_index
    from retrieval.knowledge_base import KnowledgeBase
    from tests.retrieval_helpers import WordEmbedder, small_config

    kb_dir = write_kb(tmp_path / "kb")
    embedder = WordEmbedder()
    snapshot, _ = build_index(kb_dir, tmp_path / "index", embedder, small_config())
    kb = KnowledgeBase(embedder, snapshot, small_config())
    queries = read_queries(_write(tmp_path / "q.jsonl", [
        {"query": "express delivery next day", "relevant": ["en/delivery.md"], "lang": "en"},
        {"query": "devolver producto gratis", "relevant": "es/returns.md", "lang": "es"},
        {"query": "return engraved items", "relevant": ["en/delivery.md"], "lang": "en"},
    ]))  # fmt: skip
    result = evaluate(kb, queries)
    assert result["n"] == 3 and result["recall@1"] == pytest.approx(2 / 3, abs=1e-3)
    assert result["per_language"]["es"]["recall@1"] == 1.0
    assert result["mrr@10"] == pytest.approx((1 + 1 + 0.5) / 3, abs=1e-3)
    assert "| all | 3 |" in markdown_table(result)


def _write(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_index_build_learns_from_train_queries(tiny_model, tmp_path, capsys):
    kb = write_kb(tmp_path / "kb")
    train = _write(tmp_path / "train.jsonl", [
        {"query": "hello", "relevant": ["en/returns.md"], "lang": "en"},
        {"query": "world", "relevant": ["en/delivery.md"], "lang": "en"},
        {"query": "nothing", "relevant": ["missing.md"]},
    ])  # fmt: skip
    argv = ["index", "build", "--kb", str(kb), "--out", str(tmp_path / "i"), "--json"]
    code, stdout, _ = run(
        capsys, *argv, "--embedder", str(tiny_model), "--train-queries", str(train)
    )
    assert code == 0 and json.loads(stdout)["query_adapter"]["queries"] == 2
