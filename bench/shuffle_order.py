"""recur::data::DataLoader's epoch order in Python, so the PyTorch benchmark scripts visit
the training samples in exactly recur's order (include/recur/data/loader.hpp documents the
scheme: Fisher-Yates driven by Philox4x32-10, key = seed, counters from epoch * 2^32)."""
import numpy as np

M32 = 0xFFFFFFFF


def philox4x32(key, counter):
    c0, c1, c2, c3 = counter & M32, (counter >> 32) & M32, 0, 0
    k0, k1 = key & M32, (key >> 32) & M32
    for _ in range(10):
        p0, p1 = 0xD2511F53 * c0, 0xCD9E8D57 * c2
        c0, c1, c2, c3 = ((p1 >> 32) ^ c1 ^ k0) & M32, p1 & M32, ((p0 >> 32) ^ c3 ^ k1) & M32, p0 & M32
        k0, k1 = (k0 + 0x9E3779B9) & M32, (k1 + 0xBB67AE85) & M32
    return c0, c1, c2, c3


def epoch_permutation(n, seed, epoch):
    order = np.arange(n, dtype=np.int64)
    counter = epoch << 32
    words = None
    for draw, i in enumerate(range(n - 1, 0, -1)):
        if draw % 2 == 0:
            words = philox4x32(seed, counter)
            counter += 1
        u = (words[2 * (draw % 2)] << 32) | words[2 * (draw % 2) + 1]
        j = (u * (i + 1)) >> 64
        order[i], order[j] = order[j], order[i]
    return order
