"""The raw decision every router produces: units of (order, node, sku), in index form."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from router.data import IntArray, ProblemData


@dataclass(frozen=True, eq=False)
class Assignment:
    """Rows of ``qty`` units of ``sku`` taken by ``order`` from ``node`` (indices, qty ≥ 1).

    Unfilled units are implicit: whatever a line's qty leaves over.
    """

    order: IntArray
    node: IntArray
    sku: IntArray
    qty: IntArray

    @classmethod
    def empty(cls) -> Assignment:
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z, z, z)

    @classmethod
    def from_rows(cls, order: IntArray, node: IntArray, sku: IntArray, qty: IntArray) -> Assignment:
        """Merge duplicate (order, node, sku) rows and drop zero quantities."""
        order, node, sku, qty = (np.asarray(a, dtype=np.int64) for a in (order, node, sku, qty))
        keep = qty > 0
        order, node, sku, qty = order[keep], node[keep], sku[keep], qty[keep]
        if order.size == 0:
            return cls.empty()
        keys = np.stack([order, node, sku], axis=1)
        uniq, inv = np.unique(keys, axis=0, return_inverse=True)
        total = np.bincount(inv.ravel(), weights=qty, minlength=len(uniq)).astype(np.int64)
        return cls(uniq[:, 0].copy(), uniq[:, 1].copy(), uniq[:, 2].copy(), total)

    @classmethod
    def concat(cls, parts: list[Assignment]) -> Assignment:
        """Rows of several assignments together (merged where they coincide)."""
        if not parts:
            return cls.empty()
        return cls.from_rows(
            np.concatenate([p.order for p in parts]),
            np.concatenate([p.node for p in parts]),
            np.concatenate([p.sku for p in parts]),
            np.concatenate([p.qty for p in parts]),
        )

    def split(self, orders: IntArray) -> tuple[Assignment, Assignment]:
        """The rows of ``orders`` and the rows of every other order."""
        mine = np.isin(self.order, orders)
        return (
            Assignment(self.order[mine], self.node[mine], self.sku[mine], self.qty[mine]),
            Assignment(self.order[~mine], self.node[~mine], self.sku[~mine], self.qty[~mine]),
        )

    def __len__(self) -> int:
        return int(self.qty.size)

    def shipped_per_line(self, data: ProblemData) -> IntArray:
        """Units shipped for each line of the problem (lines are (order, sku) pairs)."""
        shipped = np.zeros(data.num_lines, dtype=np.int64)
        if len(self) == 0:
            return shipped
        line_key = data.line_order * data.num_skus + data.line_sku
        order_of_key = np.argsort(line_key)
        row_key = self.order * data.num_skus + self.sku
        pos = np.searchsorted(line_key[order_of_key], row_key)
        pos = np.clip(pos, 0, max(data.num_lines - 1, 0))
        found = line_key[order_of_key][pos] == row_key
        np.add.at(shipped, order_of_key[pos[found]], self.qty[found])
        return shipped
