"""The rules every loader shares: how text is decoded, what an id is, which duplicate wins.

Decoding (``sniff_encoding``, ``decode``): a byte-order mark decides (UTF-8, UTF-16 LE/BE);
UTF-16 without a BOM is recognised by its NUL bytes in alternate positions; otherwise the text
is UTF-8 when it decodes as UTF-8, else cp1252 (Windows-1252: Latin-1 plus printable
punctuation in 0x80-0x9F; the five bytes cp1252 leaves undefined keep their Latin-1 meaning,
so decoding never fails). The encoding used is named in the dataset's notes.

Ids (``ID_DTYPES``, ``read_csv_kwargs``): user and item ids are the exact strings of the file
(surrounding blanks removed): ``007`` and ``7`` are two items, ``NA``/``None``/``null``/``nan``
are ids like any other. Only the rating column is numeric.

Duplicates (``duplicate_mask``): when a (user, item) pair occurs more than once, the newest
rating wins when timestamps are known; file order breaks ties (the later line wins), and is the
only rule without timestamps.
"""
from __future__ import annotations

import codecs

import numpy as np
import pandas as pd

from ..errors import InputError

#: Python codec name -> the name shown to people.
ENCODING_NAMES = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 (with BOM)", "utf-16": "UTF-16",
                  "utf-16-le": "UTF-16 LE", "utf-16-be": "UTF-16 BE", "cp1252": "cp1252",
                  "ascii": "ASCII"}
#: The 8-bit fallback, with the error handler that maps cp1252's 5 undefined bytes as Latin-1.
FALLBACK = "cp1252"
ERRORS = "factorlab-latin1"
#: Rows per step when ``duplicate_mask`` looks up the keys that repeat (bounds its temporaries).
_KEY_CHUNK = 1 << 22
#: Strings read as a missing *rating* (never as a missing id).
MISSING_RATING = ["", "NA", "N/A", "NaN", "nan", "NULL", "null", "None", "none", "-"]

_MAGIC = {
    b"PK\x03\x04": "a zip archive", b"\x1f\x8b": "a gzip archive", b"PAR1": "a parquet file",
    b"BZh": "a bzip2 archive", b"\xfd7zXZ": "an xz archive", b"7z\xbc\xaf": "a 7-zip archive",
    b"%PDF": "a PDF document", b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image",
    b"SQLite format 3": "an SQLite database", b"\x7fELF": "an executable",
    b"\x80\x04": "a Python pickle", b"\x80\x05": "a Python pickle",
}


def _latin1_fallback(err: UnicodeDecodeError):
    """Codec error handler: an undefined cp1252 byte keeps its Latin-1 code point."""
    bad = err.object[err.start:err.end]
    return "".join(chr(b) for b in bad), err.end


codecs.register_error(ERRORS, _latin1_fallback)


def encoding_name(encoding: str) -> str:
    return ENCODING_NAMES.get(encoding, encoding)


def _utf16_without_bom(head: bytes) -> str | None:
    """``utf-16-le``/``-be`` when ``head`` looks like UTF-16 text with no BOM, else None."""
    n = len(head) - len(head) % 2
    if n < 4:
        return None
    even, odd = head[0:n:2], head[1:n:2]
    zeros_even, zeros_odd = even.count(0), odd.count(0)
    if zeros_odd > 0.6 * len(odd) and zeros_even < 0.1 * len(even):
        return "utf-16-le"
    if zeros_even > 0.6 * len(even) and zeros_odd < 0.1 * len(odd):
        return "utf-16-be"
    return None


def sniff_encoding(head: bytes, *, label: str, complete: bool) -> str:
    """The codec to read a file whose first bytes are ``head`` (``complete``: that is all of it).

    InputError (naming ``label``) for an empty or binary file. Returns a Python codec name:
    ``utf-8-sig``, ``utf-16``, ``utf-16-le``, ``utf-16-be``, ``utf-8`` or ``cp1252`` (to be
    used with ``errors=ERRORS``).
    """
    if not head:
        raise InputError("file is empty", file=label)
    for bom, enc in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                     (codecs.BOM_UTF16_BE, "utf-16")):
        if head.startswith(bom):
            return enc
    for magic, what in _MAGIC.items():
        if head.startswith(magic):
            raise InputError(f"not a text file (looks like {what})", file=label)
    if b"\x00" in head:
        enc = _utf16_without_bom(head)
        if enc:
            return enc
        line = head[:head.index(b"\x00")].count(b"\n") + 1
        raise InputError("not a text file (it contains NUL bytes)", file=label, line=line)
    control = sum(head.count(bytes([b])) for b in range(32) if b not in (9, 10, 12, 13))
    if control > max(8, len(head) // 100):
        raise InputError("not a text file (too many control characters)", file=label)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=complete)
    except UnicodeDecodeError:
        high = sum(1 for b in head if b >= 0x80)
        if high > 0.3 * len(head):  # 8-bit text is mostly ASCII; this is binary data
            raise InputError("not a text file (mostly bytes that are neither ASCII nor UTF-8)",
                             file=label) from None
        return FALLBACK
    return "utf-8"


def decode(raw: bytes, *, label: str) -> tuple[str, str]:
    """``(text, codec)`` of a whole file's bytes by the policy above (a BOM is dropped)."""
    enc = sniff_encoding(raw[:1 << 16], label=label, complete=len(raw) <= 1 << 16)
    if enc == "utf-8":
        try:
            return raw.decode("utf-8"), enc
        except UnicodeDecodeError:  # invalid UTF-8 after the sniffed head
            enc = FALLBACK
    text = raw.decode(enc, errors=ERRORS if enc == FALLBACK else "strict")
    return text.lstrip("\ufeff") if enc == "utf-16" else text, enc


def encoding_notice(encodings: dict[str, str]) -> str | None:
    """One notice naming the encoding each file was read with (None when no file was text)."""
    if not encodings:
        return None
    parts = []
    for label, enc in encodings.items():
        why = " (not valid UTF-8)" if enc == FALLBACK else ""
        parts.append(f"{label}: {encoding_name(enc)}{why}")
    return "text encoding: " + "; ".join(parts)


# ---------------------------------------------------------------------- ids
def id_strings(values) -> np.ndarray:
    """Ids as the exact strings read (object array), blanks around them removed."""
    s = pd.Series(values, copy=False)
    if s.dtype.kind in "iu":  # integer ids from a binary format: their decimal text
        return s.astype(str).to_numpy(dtype=object)
    return s.astype(str).str.strip().to_numpy(dtype=object)


# ---------------------------------------------------------------------- duplicates
def duplicate_mask(users, items, timestamps=None) -> np.ndarray:
    """True for every rating that loses to another of the same (user, item) pair.

    The winner is the one with the newest timestamp; among equal timestamps (or without
    timestamps) the one that comes last in the input. Vectorised and compact: every pair gets
    one int64 key (``_pair_keys``); a sorted copy of the keys finds the keys that repeat, a
    chunked hash look-up marks their ratings, and only those are sorted by time and position.
    Memory: one int64 per rating at a time, no hash table over the pairs.
    """
    key_of = _pair_keys(users, items)
    n = len(users)
    lose = np.zeros(n, dtype=bool)
    keys = key_of(slice(None))
    keys.sort()
    same = keys[1:] == keys[:-1]
    if not same.any():
        return lose
    repeated = np.unique(keys[1:][same])   # the keys that occur more than once, sorted
    del keys, same
    member = np.zeros(n, dtype=bool)
    for start in range(0, n, _KEY_CHUNK):
        part = slice(start, start + _KEY_CHUNK)
        member[part] = pd.Series(key_of(part), copy=False).isin(repeated).to_numpy()
    idx = np.flatnonzero(member)
    del member
    k = key_of(idx)
    if timestamps is None:
        order = np.lexsort((idx, k))
    else:
        order = np.lexsort((idx, np.asarray(timestamps)[idx], k))
    k_sorted = k[order]
    last = np.ones(len(order), dtype=bool)
    last[:-1] = k_sorted[1:] != k_sorted[:-1]
    lose[idx[order[~last]]] = True
    return lose


def _pair_keys(users, items):
    """A function giving the int64 key of the (user, item) pairs at a slice or index array:
    equal keys for equal pairs, different keys for different pairs. Non-negative integer ids
    small enough are combined directly (``user * (max item + 1) + item``); any other ids are
    first numbered by ``pandas.factorize`` (equal values, equal codes)."""
    users, items = np.asarray(users), np.asarray(items)
    if (users.dtype.kind in "iu" and items.dtype.kind in "iu" and len(users)
            and users.min() >= 0 and items.min() >= 0
            and (int(users.max()) + 1) * (int(items.max()) + 1) <= np.iinfo(np.int64).max):
        base = int(items.max()) + 1
        if items.dtype == np.uint64:   # (int64 += uint64 is refused; the values fit)
            items = items.astype(np.int64)
    else:
        users = pd.factorize(users, sort=False)[0]
        items, uniques = pd.factorize(items, sort=False)
        base = max(len(uniques), 1)

    def key_of(sel):
        k = users[sel].astype(np.int64)
        k *= base
        k += items[sel]
        return k
    return key_of


def duplicate_notice(lose: np.ndarray, users, items, *, label: str, timestamps=None) -> str:
    """The notice for ``duplicate_mask``'s result: how many pairs, how many ratings, which rule."""
    n_drop = int(np.count_nonzero(lose))
    u = np.asarray(users)[lose]
    i = np.asarray(items)[lose]
    n_pairs = int(pd.DataFrame({"u": u, "i": i}).drop_duplicates().shape[0])
    rule = ("kept the newest rating of each pair (by timestamp; file order breaks ties)"
            if timestamps is not None else "kept the last rating of each pair in file order "
            "(no timestamps)")
    first = int(np.flatnonzero(lose)[0])
    example = f"e.g. user {np.asarray(users)[first]}, item {np.asarray(items)[first]}"
    return (f"{n_pairs} (user, item) pair(s) rated more than once in {label} ({example}); "
            f"{rule}; dropped {n_drop} older rating(s)")


# ---------------------------------------------------------------------- files
def regular_file(path) -> None:
    """InputError unless ``path`` is a regular file: reading a FIFO, a device or a socket would
    block or never end."""
    import stat
    from pathlib import Path

    p = Path(path)
    try:
        mode = p.stat().st_mode
    except FileNotFoundError:
        raise InputError("no such file", file=str(p)) from None
    except OSError as err:
        raise InputError(f"cannot read the file ({err.strerror or err})", file=str(p)) from None
    if stat.S_ISDIR(mode):
        raise InputError("is a folder, not a file", file=str(p))
    if not stat.S_ISREG(mode):
        raise InputError("not a regular file (a pipe, device or socket); give a file",
                         file=str(p))
