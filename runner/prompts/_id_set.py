"""A set of prompt ids kept as 8-byte hashes: a million ids cost 12 MB, not the ~70 MB of a Python set.

The validation pass and resume must recognise every id of a file they stream, without holding the
ids. Each id is kept as its 64-bit ``hash`` in an open-addressing table (linear probing, at most 2/3
full; sized for the ids expected when that is known) inside an ``array``, so the only memory per id
is its slot: 12 bytes an id when the count is known. Two distinct ids share a hash with
probability about n²/2⁶⁵ (3·10⁻⁸ for a million ids); ``str`` hashes are stable within the process,
which is all this set lives for.
"""

from __future__ import annotations

from array import array

_EMPTY = 0
_INITIAL_SLOTS = 1024


class IdSet:
    """Membership of ids by hash; :meth:`add` tells whether the id was new."""

    __slots__ = ("_size", "_slots")

    def __init__(self, expected: int = 0) -> None:
        """``expected``: how many ids will be added, if known; the table is sized for them at once, so it
        never grows (growing holds the old table and the new one, twice its size, at the same time)."""
        self._slots = _empty_table(max(_INITIAL_SLOTS, 3 * expected // 2 + 1))
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def __contains__(self, prompt_id: object) -> bool:
        key = _key(prompt_id)
        return self._slots[self._slot_of(key)] == key

    def add(self, prompt_id: object) -> bool:
        """Add the id; False if it was already there."""
        # _slot_of and _insert inlined: the validation adds a million ids, one call each.
        key = hash(prompt_id if type(prompt_id) is str else str(prompt_id)) or 1
        slots = self._slots
        size = len(slots)
        index = key % size
        while (held := slots[index]) != key:
            if held == _EMPTY:
                slots[index] = key
                self._size += 1
                if 3 * self._size > 2 * size:
                    self._grow()
                return True
            index += 1
            if index == size:
                index = 0
        return False

    def _slot_of(self, key: int) -> int:
        """The slot holding ``key``, or the empty slot where it belongs (linear probing)."""
        slots = self._slots
        size = len(slots)  # any size, not a power of two: a million ids take 1.5 million slots, not 2.1
        index = key % size
        while (held := slots[index]) != _EMPTY and held != key:
            index += 1
            if index == size:
                index = 0
        return index

    def _insert(self, key: int) -> bool:
        index = self._slot_of(key)
        if self._slots[index] == key:
            return False
        self._slots[index] = key
        return True

    def _grow(self) -> None:
        old = self._slots
        self._slots = _empty_table(2 * len(old))
        for key in old:
            if key != _EMPTY:
                self._insert(key)


def _empty_table(slots: int) -> array[int]:
    return array("q", [_EMPTY]) * slots  # one allocation (array("q", bytes(n)) also builds the bytes)


def _key(prompt_id: object) -> int:
    # 0 marks an empty slot, so the one id hashing to 0 is stored as 1 (a harmless extra collision).
    return hash(str(prompt_id)) or 1
