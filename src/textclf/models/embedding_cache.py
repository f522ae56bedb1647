"""On-disk cache of sentence embeddings, keyed by encoder, settings and text.

One sqlite file per cache folder; a row per (encoder fingerprint, settings, text hash). The
fingerprint hashes the encoder's weights and config, so a different or retrained encoder never
reads another's vectors. sqlite serialises writers, so parallel sweep jobs can share it.
"""

from __future__ import annotations

import functools
import hashlib
import sqlite3
from pathlib import Path

import numpy as np


# Read beside tokenizer.json too (do_lower_case, special and added tokens change the token ids)
TOKENIZER_SETTINGS = ("tokenizer_config.json", "special_tokens_map.json", "added_tokens.json")
# What a tokenizer is built from in a folder without tokenizer.json (and *.model: sentencepiece)
TOKENIZER_SOURCES = ("vocab.txt", "vocab.json", "merges.txt")


def encoder_fingerprint(folder: str) -> str:
    """A hash of the encoder's config, weights and tokenizer: config.json, model.safetensors,
    tokenizer.json, then other weight files (shards), then the tokenizer's settings files and, in
    a folder without tokenizer.json, the files its tokenizer is built from, each with its name. A
    hub name (no folder here) is its own key."""
    if not Path(folder).is_dir():
        return hashlib.sha256(folder.encode("utf-8")).hexdigest()[:16]
    # Hashed once per process while no file of the folder changes (a notebook may edit one)
    stamps = []
    for path in sorted(Path(folder).iterdir()):
        try:
            stat = path.stat()
        except FileNotFoundError:  # a dangling link, or removed meanwhile
            continue
        stamps.append((path.name, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino))
    return _hashed_folder(folder, tuple(stamps))


@functools.lru_cache(maxsize=8)
def _hashed_folder(folder: str, stamps: tuple) -> str:
    digest = hashlib.sha256()
    files = {path.name: path for path in Path(folder).iterdir() if path.is_file()}
    shards = sorted(name for name in files if name != "model.safetensors" and name.endswith(".safetensors"))
    for name in ("config.json", "model.safetensors", "tokenizer.json", *shards):
        if name in files:
            _add_file(digest, files[name])
    tokenizer = [*TOKENIZER_SETTINGS]
    if "tokenizer.json" not in files:
        tokenizer += [*TOKENIZER_SOURCES, *sorted(name for name in files if name.endswith(".model"))]
    for name in tokenizer:
        if name in files:
            digest.update(f"{name}\0{files[name].stat().st_size}\0".encode("utf-8"))
            _add_file(digest, files[name])
    return digest.hexdigest()[:16]


def _add_file(digest, path: Path) -> None:
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)


def embedding_settings(max_length: int, pooling, normalize: bool, inference: str = "fp32") -> str:
    """What besides the weights and the text changes a vector: part of each cached vector's key."""
    settings = f"{max_length}:{'+'.join(pooling)}:{int(normalize)}"
    if inference != "fp32":  # fp32 keeps the key it had before int8 existed
        settings += f":{inference}"
    return settings


def embedded(texts: list[str], encode, cache_dir: str | None, encoder_folder: str, settings: str) -> np.ndarray:
    """``encode(texts)``, reading and keeping the vectors in the cache in ``cache_dir`` (None: no cache)."""
    if cache_dir is None:
        return encode(texts)
    return EmbeddingCache(cache_dir, encoder_folder, settings).embed(texts, encode)


class EmbeddingCache:
    def __init__(self, cache_dir: str, encoder_folder: str, settings: str):
        """``settings``: everything besides the weights that changes a vector (length, pooling...)."""
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        self.path = Path(cache_dir) / "embeddings.sqlite"
        self.prefix = f"{encoder_fingerprint(encoder_folder)}:{settings}:"
        with self._connect() as db:
            db.execute("CREATE TABLE IF NOT EXISTS embeddings (key TEXT PRIMARY KEY, vector BLOB)")

    def _connect(self):
        return sqlite3.connect(self.path, timeout=60)

    def _key(self, text: str) -> str:
        return self.prefix + hashlib.sha256(text.encode("utf-8")).hexdigest()

    def embed(self, texts: list[str], encode) -> np.ndarray:
        """Vectors for ``texts``: cached ones read, the rest computed by ``encode`` and stored."""
        keys = [self._key(text) for text in texts]
        found: dict[str, np.ndarray] = {}
        with self._connect() as db:
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                rows = db.execute(f"SELECT key, vector FROM embeddings WHERE key IN ({','.join('?' * len(chunk))})", chunk)
                found.update((key, np.frombuffer(blob, dtype=np.float32)) for key, blob in rows)
        missing = list(dict.fromkeys(text for text, key in zip(texts, keys) if key not in found))
        if missing:
            vectors = encode(missing)
            new = {self._key(text): vector.astype(np.float32) for text, vector in zip(missing, vectors)}
            with self._connect() as db:
                db.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?)",
                               [(key, vector.tobytes()) for key, vector in new.items()])
            found.update(new)
        self.hits, self.misses = len(texts) - len(missing), len(missing)
        return np.stack([found[key] for key in keys])
