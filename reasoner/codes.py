"""This module gives rows integer codes: equal codes exactly where the rows are equal.

The batch paths group rows by what their results depend on — a key per row, then one lookup or
one solve per distinct key — so telling the distinct keys apart is on every chunk's path, several
times. np.unique sorts (a stable argsort for the first positions); Arrow's hash table does it in
one pass and numbers the values in order of first appearance, which is also the order the
callers want (representatives met in row order).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def first_seen(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of an int64 column in order of first appearance: (the first position of
    each, each row's index into them)."""
    if not len(keys):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    inverse = np.asarray(pc.dictionary_encode(pa.array(keys, pa.int64())).indices, dtype=np.int64)
    new = np.empty(len(inverse), dtype=bool)  # a value's code is one more than every code before it
    new[0] = True
    new[1:] = inverse[1:] > np.maximum.accumulate(inverse)[:-1]
    return np.flatnonzero(new), inverse


def pack_codes(columns: list[np.ndarray], n: int) -> np.ndarray:
    """One int64 code per row, equal exactly where every column is equal (columns of codes ≥ −1)."""
    code = np.zeros(n, dtype=np.int64)
    width = 1
    for column in columns:
        base = int(column.max(initial=-1)) + 2
        if width * base >= 1 << 62:  # too many combinations to pack: number the distinct rows instead
            return np.unique(np.stack(columns, axis=1), axis=0, return_inverse=True)[1].reshape(-1)
        code += (column + 1) * width
        width *= base
    return code


__all__ = ["first_seen", "pack_codes"]
