"""A sequence of bytes held in blocks, the list type's structure: cheap at both ends and by index.

Elements sit in Python lists ("blocks") of at most :data:`BLOCK` elements (a block may reach twice that
after inserts in the middle, and is then split). Beside the blocks, ``_starts[k]`` is the *virtual
position* of block k's first element: positions increase by one per element, so block k+1 starts at
``_starts[k] + len(block k)``, and element i is at position ``_starts[0] + i``. Finding element i is one
bisection of ``_starts``. Pushing or popping at the left end changes only ``_starts[0]`` (the origin moves
with it), at the right end nothing, so both are O(1) (amortized: a new block at the left end is one
``insert(0)`` into ``_starts``, a memmove of n / BLOCK pointers, once per BLOCK pushes).

Costs (n elements, b = n / BLOCK blocks): push/pop at either end O(1) amortized; element i (LINDEX, LSET)
O(log b); elements i..i+m (LRANGE) O(log b + m); insert or delete at i O(BLOCK + b) (the starts after it
shift by one); dropping r elements from an end (LTRIM) O(r / BLOCK + b); a scan (LPOS, LREM, LINSERT's
pivot) O(n) from either end;
finding the first equal element (LINSERT's pivot) is O(n) too, but block by block in C.
"""
from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator
from itertools import chain

BLOCK = 512


class BlockList:
    """The sequence; indexes are 0 <= i < len (callers resolve Redis's negative indexes)."""

    __slots__ = ("_blocks", "_starts", "_len")

    def __init__(self, items: Iterable[bytes] = ()) -> None:
        self._blocks: list[list[bytes]] = []
        self._starts: list[int] = []
        self._len = 0
        self.extend_right(items)

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[bytes]:
        return chain.from_iterable(self._blocks)

    def __reversed__(self) -> Iterator[bytes]:
        return chain.from_iterable(map(reversed, reversed(self._blocks)))

    def _locate(self, index: int) -> tuple[int, int]:
        """(block, offset in it) of element `index`."""
        starts = self._starts
        position = starts[0] + index
        k = bisect_right(starts, position) - 1
        return k, position - starts[k]

    def __getitem__(self, index: int) -> bytes:
        k, offset = self._locate(index)
        return self._blocks[k][offset]

    def __setitem__(self, index: int, item: bytes) -> None:
        k, offset = self._locate(index)
        self._blocks[k][offset] = item

    def push_left(self, item: bytes) -> None:
        blocks, starts = self._blocks, self._starts
        if blocks and len(blocks[0]) < BLOCK:
            blocks[0].insert(0, item)
            starts[0] -= 1
        else:
            blocks.insert(0, [item])
            starts.insert(0, starts[0] - 1 if starts else 0)
        self._len += 1

    def push_right(self, item: bytes) -> None:
        blocks = self._blocks
        if blocks and len(blocks[-1]) < BLOCK:
            blocks[-1].append(item)
        else:
            self._starts.append(self._starts[-1] + len(blocks[-1]) if blocks else 0)
            blocks.append([item])
        self._len += 1

    def extend_right(self, items: Iterable[bytes]) -> None:
        for item in items:
            self.push_right(item)

    def pop_left(self) -> bytes:
        """The first element, removed (the list must not be empty)."""
        block = self._blocks[0]
        item = block.pop(0)
        self._starts[0] += 1
        if not block:
            del self._blocks[0], self._starts[0]
        self._len -= 1
        return item

    def pop_right(self) -> bytes:
        block = self._blocks[-1]
        item = block.pop()
        if not block:
            del self._blocks[-1], self._starts[-1]
        self._len -= 1
        return item

    def slice(self, start: int, stop: int) -> list[bytes]:
        """Elements start..stop-1 (0 <= start < stop <= len)."""
        k, offset = self._locate(start)
        blocks = self._blocks
        out = blocks[k][offset:offset + stop - start]
        while len(out) < stop - start:
            k += 1
            out += blocks[k][:stop - start - len(out)]
        return out

    def insert(self, index: int, item: bytes) -> None:
        """Inserts `item` before element `index` (0 <= index < len; index == len is push_right)."""
        if index == self._len:
            self.push_right(item)
            return
        k, offset = self._locate(index)
        block = self._blocks[k]
        block.insert(offset, item)
        self._shift(k + 1, 1)
        if len(block) > 2 * BLOCK:
            half = len(block) // 2
            self._blocks[k:k + 1] = [block[:half], block[half:]]
            self._starts.insert(k + 1, self._starts[k] + half)
        self._len += 1

    def delete(self, index: int) -> None:
        k, offset = self._locate(index)
        block = self._blocks[k]
        del block[offset]
        self._shift(k + 1, -1)
        if not block:
            del self._blocks[k], self._starts[k]
        self._len -= 1

    def _shift(self, first: int, by: int) -> None:
        starts = self._starts
        for k in range(first, len(starts)):
            starts[k] += by

    def drop_left(self, count: int) -> None:
        """Removes the first `count` elements (count <= len)."""
        blocks, starts = self._blocks, self._starts
        whole = 0
        left = count
        while whole < len(blocks) and len(blocks[whole]) <= left:
            left -= len(blocks[whole])
            whole += 1
        del blocks[:whole], starts[:whole]
        if left:
            del blocks[0][:left]
            starts[0] += left
        self._len -= count

    def drop_right(self, count: int) -> None:
        blocks, starts = self._blocks, self._starts
        left = count
        while blocks and len(blocks[-1]) <= left:
            left -= len(blocks.pop())
            starts.pop()
        if left:
            del blocks[-1][-left:]
        self._len -= count

    def index(self, item: bytes) -> int | None:
        """The position of the first element equal to `item`, or None: O(n), but each block searched by
        ``list.index`` in C."""
        position = 0
        for block in self._blocks:
            if item in block:
                return position + block.index(item)
            position += len(block)
        return None

    def copy(self) -> BlockList:
        twin = BlockList()
        twin._blocks = [block.copy() for block in self._blocks]
        twin._starts = self._starts.copy()
        twin._len = self._len
        return twin
