"""Minibatches of per-sample data for :func:`numadam.minimize`."""
import math
import numbers

import numpy as np

from ._numbers import as_int

__all__ = ["Batches"]


def _is_sparse(a):
    """Whether ``a`` is a scipy.sparse matrix or array."""
    from ._inputs import _is_sparse as check
    return check(a)


class Batches:
    """Cycle through ``data`` in minibatches, reshuffled every epoch.

    ``data`` is a tuple of arrays sharing axis 0 (the samples).  With
    ``shuffle`` the sample order is permuted at the start of every epoch by
    ``rng`` and a batch is gathered with :func:`numpy.take` into buffers
    allocated once (no Python loop over samples, no allocation per step);
    without it, batches are views of consecutive samples.  The last batch of
    an epoch holds the remaining ``n % batch_size`` samples, or is dropped
    with ``drop_last``.
    """

    def __init__(self, data, batch_size, shuffle, drop_last, rng):
        if isinstance(data, np.ndarray) or not isinstance(data, (tuple, list)):
            data = (data,)
        if isinstance(data, list) and data and all(
                isinstance(v, numbers.Number) for v in data):
            raise TypeError("data must be an array or a tuple of arrays sharing axis 0 "
                            f"(the samples); got a list of {len(data)} numbers: pass "
                            "data=np.array([...]) for one array of samples")
        arrays = []
        for i, a in enumerate(data):
            if _is_sparse(a):
                # scipy.sparse: minibatches are row slices of a CSR matrix
                a = a.tocsr()
                arrays.append(a)
                continue
            try:
                a = np.asarray(a)
            except Exception as exc:  # noqa: BLE001
                raise TypeError(f"data[{i}] must be an array; got "
                                f"{type(a).__name__}") from exc
            if a.ndim == 0:
                raise ValueError(f"data[{i}] must have a sample axis (axis 0); "
                                 "got a 0-d array")
            if a.dtype.kind in "fc" and not a.dtype.isnative:
                a = a.astype(a.dtype.newbyteorder("="))   # big-endian: native order
            arrays.append(a)
        if not arrays:
            raise ValueError("data must hold at least one array")
        n = arrays[0].shape[0]
        for i, a in enumerate(arrays[1:], 1):
            if a.shape[0] != n:
                raise ValueError("data arrays must share their first axis (the "
                                 f"samples): data[0] has {n}, data[{i}] has "
                                 f"{a.shape[0]}")
        if n == 0:
            raise ValueError("data holds no samples")
        batch_size = as_int("option 'batch_size'", batch_size, 1)
        batch_size = int(min(batch_size, n)) if not drop_last else int(batch_size)
        per_epoch = n // batch_size if drop_last else math.ceil(n / batch_size)
        if per_epoch == 0:
            raise ValueError(f"option 'batch_size' ({batch_size}) exceeds the {n} "
                             "samples and drop_last=True leaves no batch")
        self.arrays = tuple(arrays)
        self.n = n
        self.batch_size = batch_size
        self.per_epoch = per_epoch
        self.shuffle = shuffle
        self.rng = rng
        self.epoch = 0  # epochs completed
        self.pos = 0    # batches drawn in the current epoch
        if shuffle:
            self.order = np.arange(n)
            self.buffers = tuple(None if _is_sparse(a) else
                                 np.empty((batch_size,) + a.shape[1:], a.dtype)
                                 for a in arrays)

    def next(self):
        """The next minibatch, a tuple of arrays (buffers reused next call)."""
        pos = self.pos
        if pos == 0 and self.shuffle:
            self.rng.shuffle(self.order)
        lo = pos * self.batch_size
        hi = min(lo + self.batch_size, self.n)
        if self.shuffle:
            idx = self.order[lo:hi]
            m = hi - lo
            batch = tuple(a[idx] if buf is None else
                          np.take(a, idx, axis=0, out=buf[:m], mode="clip")
                          for a, buf in zip(self.arrays, self.buffers))
        else:
            batch = tuple(a[lo:hi] for a in self.arrays)
        pos += 1
        if pos == self.per_epoch:
            pos = 0
            self.epoch += 1
        self.pos = pos
        return batch

    def fingerprint(self):
        """A SHA-256 of every data array's dtype, shape and bytes (a list of hex
        digests), recorded by checkpoints so a resumed run refuses other data."""
        import hashlib
        out = []
        for a in self.arrays:
            h = hashlib.sha256()
            if _is_sparse(a):
                h.update(f"sparse|{a.format}|{a.shape}".encode())
                parts = (a.data, a.indices, a.indptr)
            else:
                h.update(f"{a.dtype.str}|{a.shape}".encode())
                parts = (a,)
            for part in parts:
                part = np.ascontiguousarray(part)
                flat = part.reshape(-1).view(np.uint8) if part.size else b""
                step = 1 << 24   # hash in 16 MiB pieces (memory-mapped data)
                for lo in range(0, len(flat), step):
                    h.update(flat[lo:lo + step])
            out.append(h.hexdigest())
        return out

    def state(self):
        """(scalars, arrays) to checkpoint: position, order and the RNG state."""
        scalars = {"n": self.n, "batch_size": self.batch_size, "per_epoch": self.per_epoch,
                   "shuffle": self.shuffle, "epoch": self.epoch, "pos": self.pos,
                   "rng": self.rng.bit_generator.state}
        return scalars, ({"order": self.order.copy()} if self.shuffle else {})

    def check_state(self, scalars, arrays):
        """Refuse a checkpoint taken with other data or batching."""
        for key in ("n", "batch_size", "per_epoch", "shuffle"):
            if scalars[key] != getattr(self, key):
                raise ValueError(f"it was taken with {key}={scalars[key]!r}, this run "
                                 f"has {key}={getattr(self, key)!r}")
        for key, high in (("epoch", 2 ** 62), ("pos", self.per_epoch - 1)):
            v = scalars[key]
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= high:
                raise ValueError(f"its batches' {key} is {v!r}, not an int in [0, {high}]")
        if self.shuffle:
            order = np.asarray(arrays["order"])
            if order.shape != (self.n,) or not np.array_equal(np.sort(order),
                                                              np.arange(self.n)):
                raise ValueError("its sample order is not a permutation of the data")

    def restore(self, scalars, arrays):
        self.epoch, self.pos = int(scalars["epoch"]), int(scalars["pos"])
        self.rng.bit_generator.state = scalars["rng"]
        if self.shuffle:
            self.order[:] = arrays["order"]
