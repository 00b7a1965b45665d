"""Turning the bytes of a source file into text: BOM, declared charset, UTF-8, then Chinese legacy codecs.

Bank intranets still hold pages saved as GBK/GB2312 (mainland) or Big5 (Taiwan/HK); a page that decodes
wrongly is worse than a skipped one (mojibake gets indexed and never matches), so every step decodes strictly
and the caller reports a file that no candidate decodes cleanly.
"""

from __future__ import annotations

import codecs
import re

import charset_normalizer

from kb.errors import UnsupportedInput

# Declared labels mapped to the superset codec Python should use: pages labelled gb2312 routinely contain
# GBK-only characters, and Big5 pages are in practice cp950 (Microsoft's extension with the euro sign etc.).
_SUPERSETS = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "cp936": "gb18030",
    "x-gbk": "gb18030",
    "gb18030": "gb18030",
    "big5": "cp950",
    "big5-hkscs": "big5hkscs",
    "x-x-big5": "cp950",
}
_CJK_CANDIDATES = ["gb18030", "big5", "cp950", "big5hkscs"]
_BOMS = [
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: its BOM starts with the UTF-16 LE BOM
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
]
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-:.]+)""", re.IGNORECASE)
# Controls other than tab/newline/CR/form feed/ESC: real text files almost never contain them.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f]")


def bom_encoding(data: bytes) -> str | None:
    """The encoding named by a byte-order mark at the start of ``data``, if any."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name
    return None


def html_declared_charset(data: bytes) -> str | None:
    """The charset of a ``<meta charset>`` / ``http-equiv`` tag in the first 4 KB of an HTML file."""
    m = _META_CHARSET.search(data[:4096])
    return m.group(1).decode("ascii", "replace").lower() if m else None


def looks_binary(data: bytes) -> bool:
    """True when ``data`` is not text: NUL bytes (and no UTF-16/32 BOM) in its first 8 KB."""
    return bom_encoding(data) is None and b"\x00" in data[:8192]


def _codec_name(label: str) -> str | None:
    """A Python codec for a declared label, or None if Python does not know it."""
    label = label.strip().lower()
    if label in _SUPERSETS:
        return _SUPERSETS[label]
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def _is_multibyte(codec: str) -> bool:
    """True for codecs where some byte sequences are invalid (so a clean decode is evidence)."""
    return _strict(bytes(range(128, 256)), codec) is None


def _strict(data: bytes, encoding: str) -> str | None:
    """``data`` decoded with ``encoding``, or None if any byte is invalid."""
    try:
        return data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def _is_clean(text: str) -> bool:
    """Reject decodes full of control characters (a sign of a wrong codec or a binary file)."""
    return len(_CONTROL.findall(text[:20000])) <= 2


def _detect_cjk(data: bytes) -> tuple[str, str] | None:
    """Pick among the Chinese legacy codecs with charset-normalizer (it scores mess/coherence)."""
    best = charset_normalizer.from_bytes(data, cp_isolation=_CJK_CANDIDATES).best()
    if best is None:
        return None
    # Re-decode strictly: charset-normalizer can accept a small share of undecodable bytes.
    text = _strict(data, best.encoding)
    return (text, best.encoding) if text is not None else None


def decode_bytes(data: bytes, declared: str | None = None) -> tuple[str, str]:
    """Decode file bytes to text; returns ``(text, encoding)``.

    Order: BOM, ``declared`` charset (e.g. from HTML meta), strict UTF-8, then charset-normalizer restricted
    to GB18030/Big5. A declared charset that does not decode cleanly is ignored (pages lie about it).
    Raises :class:`kb.errors.UnsupportedInput` for binary data or bytes no candidate decodes.
    """
    bom = bom_encoding(data)
    if bom:
        text = _strict(data, bom)
        if text is None:
            raise UnsupportedInput(f"invalid {bom} despite its byte-order mark")
        return text, bom
    if looks_binary(data):
        raise UnsupportedInput("binary file (contains NUL bytes)")
    attempts = ["utf-8"]
    codec = _codec_name(declared) if declared else None
    if codec and codec not in attempts:
        # A declared multi-byte codec goes first; a single-byte one (latin-1 & co.) decodes any bytes, so
        # strict UTF-8 is better evidence and is tried before it.
        attempts.insert(0 if _is_multibyte(codec) else 1, codec)
    for enc in attempts:
        text = _strict(data, enc)
        if text is not None and _is_clean(text):
            return text, enc
    found = _detect_cjk(data)
    if found and _is_clean(found[0]):
        return found
    raise UnsupportedInput("undecodable text (not UTF-8, GB18030 or Big5; mixed encodings?)")
