"""Write tests/data/embedding_reference.json: 50 fixed sentences and the vectors
sentence-transformers (on PyTorch) gives them with the bundled all-MiniLM-L6-v2.

The ONNX embedder must reproduce these (cosine >= 0.99999 on each,
tests/integration/test_onnx_embedder.py). Run once, in a venv with the torch extra:

    pip install -e '.[torch]'
    python scripts/embedding_reference.py > tests/data/embedding_reference.json

Vectors are rounded to 6 decimals (cosine to the unrounded vector > 0.9999999).
"""

from __future__ import annotations

import json
import os
import sys

SENTENCES = [
    "",
    "ok",
    "The payments API is owned by team Atlas.",
    "Service s17 listens on port 7017 in eu-west-1.",
    "Deploys to production need two approvals since March.",
    "Alice prefers dark mode and short answers.",
    "The nightly backup job writes to s3://backups/fleet/2026-01-01/ and keeps 30 days.",
    "Never call the billing service from the EU cluster without the VPN.",
    "Bob is on call this week; escalate incidents to him first.",
    "The Postgres primary moved from db-1 to db-3 after the failover on 2026-02-14.",
    "Use `make test` before every merge; CI runs the same command.",
    "def add(a: int, b: int) -> int:\n    return a + b",
    "SELECT id, name FROM users WHERE created_at > NOW() - INTERVAL '7 days';",
    '{"service": "search", "replicas": 3, "region": "us-east-1"}',
    "Error: connection refused (ECONNREFUSED) at 10.0.3.17:5432",
    "Ünïcödé àccents: café, naïve, résumé, Zürich, São Paulo.",
    "Emoji in notes 🚀🔥✅ should embed like any other token.",
    "日本語のテキストも埋め込みできます。",
    "中文文本：支付接口由阿特拉斯团队负责。",
    "Русский текст: платёжный API принадлежит команде Атлас.",
    "النص العربي: واجهة الدفع تملكها فريق أطلس.",
    "עברית: ממשק התשלומים שייך לצוות אטלס.",
    "Ελληνικά: το API πληρωμών ανήκει στην ομάδα Άτλας.",
    "한국어 문장도 처리됩니다.",
    "Mixed 混合 text with ñ, ß, ø and 🚀 in one line.",
    "   leading and trailing spaces   ",
    "tabs\tand\nnewlines\r\nin one text",
    "UPPER CASE TEXT IS LOWER-CASED BY THE TOKENIZER",
    "hyphen-ated, under_scored, camelCase and snake_case_words",
    "3.14159 2.71828 1.41421 42 1e-9 0xDEADBEEF",
    "https://example.com/path?query=1&other=two#fragment",
    "The quick brown fox jumps over the lazy dog.",
    "A very short note.",
    "Meeting moved to Thursday at 3pm; bring the Q3 numbers.",
    "Customer 8841 reported duplicate charges on invoice INV-2026-0042.",
    "The vault sync runs every five minutes and skips files larger than 2 MB.",
    "Remember: the staging cluster is shared with the data team.",
    "Latency p99 regressed from 120 ms to 480 ms after the cache change.",
    "Rotate the API keys quarterly; the last rotation was in January.",
    "Kubernetes namespace fleet-prod runs 12 pods behind an nginx ingress.",
    "The agent learned that the user dislikes verbose explanations.",
    "Feature flag search.v2 is enabled for 10% of tenants.",
    "When in doubt, ask the human before deleting anything.",
    "Memory 1 of 2: the graph store is SQLite by default, Neo4j when configured.",
    "Memory 2 of 2: the vector index is Qdrant Edge, or a Qdrant server.",
    " ".join(f"word{i}" for i in range(400)),  # far past 256 tokens: truncated
    "The incident review found three causes. " * 40,  # long, repeated, truncated
    " ".join(["token"] * 254),  # just under the limit with [CLS] and [SEP]
    "Paragraph one describes the system.\n\nParagraph two lists the owners: Alice, Bob, "
    "Carol and Dana, each responsible for one service, with escalation paths documented "
    "in the runbook and reviewed every quarter by the platform team.",
    "Ω≈ç√∫˜µ≤≥÷ åß∂ƒ©˙∆˚¬… œ∑´®†¥¨ˆøπ“‘ «»",
]


def main() -> None:
    """Print the reference JSON on stdout."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import numpy as np
    import sentence_transformers
    import torch
    from sentence_transformers import SentenceTransformer

    from fleetmem.memory.stores.embedding.bundled import MODEL_PACKAGE, bundled_model_path

    assert len(SENTENCES) == 50
    model = SentenceTransformer(str(bundled_model_path()), device="cpu")
    vectors = model.encode(SENTENCES, batch_size=64, normalize_embeddings=True,
                           convert_to_numpy=True, show_progress_bar=False)
    vectors = np.asarray(vectors, dtype=np.float64)
    json.dump({
        "model": MODEL_PACKAGE,
        "made_with": f"sentence-transformers {sentence_transformers.__version__}, "
                     f"torch {torch.__version__}, scripts/embedding_reference.py",
        "texts": SENTENCES,
        "vectors": [[round(float(x), 6) for x in row] for row in vectors],
    }, sys.stdout, ensure_ascii=False, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
