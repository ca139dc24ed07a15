"""Length-bucketed batches: texts of similar length share a batch, so dynamic padding pads little.

Padding every tweet to 128 tokens (or mixing a 20-token tweet with a 128-token review chunk) spends most of a
2-core CPU's time on pad tokens. The sampler shuffles, cuts the order into pools of ``pool_batches`` batches,
sorts each pool by length, cuts it into batches and shuffles the batches: randomness stays (pools and batch
order change every epoch), padding goes. Deterministic for a (seed, epoch), so a run resumed mid-epoch skips
exactly the batches it already trained on.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

from torch.utils.data import Sampler


class LengthBucketBatchSampler(Sampler[list[int]]):
    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int = 42, pool_batches: int = 50):
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.pool = batch_size * max(1, pool_batches)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def batches(self) -> list[list[int]]:
        rng = random.Random(self.seed * 1_000_003 + self.epoch)
        order = list(range(len(self.lengths)))
        rng.shuffle(order)
        out: list[list[int]] = []
        for start in range(0, len(order), self.pool):
            pool = sorted(order[start:start + self.pool], key=self.lengths.__getitem__)
            out.extend(pool[i:i + self.batch_size] for i in range(0, len(pool), self.batch_size))
        rng.shuffle(out)
        return out

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches())

    def __len__(self) -> int:
        full, rest = divmod(len(self.lengths), self.pool)
        return full * -(-self.pool // self.batch_size) + -(-rest // self.batch_size)


def padding_share(lengths: Sequence[int], batches: list[list[int]]) -> float:
    """Share of pad tokens when each batch is padded to its longest member (for reports and tests)."""
    real = sum(lengths[i] for b in batches for i in b)
    padded = sum(max(lengths[i] for i in b) * len(b) for b in batches if b)
    return 1 - real / padded if padded else 0.0
