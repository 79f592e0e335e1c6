"""What minimize watches while it runs: history, the patience rule, progress."""
import math
import sys
import time

import numpy as np

__all__ = ["History", "Patience", "Progress"]


class History:
    """Records (step, epoch, loss, grad_norm, lr) every ``every`` steps.

    Stored in preallocated NumPy arrays that double when full, so recording
    costs a few array stores per record and nothing between records.
    """

    FIELDS = ("step", "epoch", "loss", "grad_norm", "lr")

    def __init__(self, every, expected):
        self.every = every
        cap = int(min(max(expected // every + 2, 16), 1 << 16))
        self._arrays = {f: np.empty(cap, np.int64 if f == "step" else np.float64)
                        for f in self.FIELDS}
        self.size = 0
        self.last = -1
        #: the step of the next periodic record
        self.next = 0

    def add(self, step, epoch, loss, grad_norm, lr):
        if self.size == len(self._arrays["step"]):
            self._arrays = {f: np.concatenate([a, np.empty_like(a)])
                            for f, a in self._arrays.items()}
        i = self.size
        a = self._arrays
        a["step"][i] = step
        a["epoch"][i] = epoch
        a["loss"][i] = np.nan if loss is None else loss
        a["grad_norm"][i] = grad_norm
        a["lr"][i] = lr
        self.size = i + 1
        self.last = step
        self.next = (step // self.every + 1) * self.every

    def state(self):
        """(scalars, arrays) to checkpoint."""
        return ({"size": self.size, "last": self.last, "next": self.next},
                {f: a[:self.size].copy() for f, a in self._arrays.items()})

    def restore(self, scalars, arrays):
        size = int(scalars["size"])
        for f in self.FIELDS:
            a = np.asarray(arrays[f])
            if a.shape != (size,):
                raise ValueError(f"history field {f!r} has shape {a.shape}, expected ({size},)")
            cap = max(len(self._arrays[f]), size)
            new = np.empty(cap, self._arrays[f].dtype)
            new[:size] = a
            self._arrays[f] = new
        self.size, self.last, self.next = size, int(scalars["last"]), int(scalars["next"])

    def result(self):
        from scipy.optimize import OptimizeResult
        return OptimizeResult({f: a[:self.size].copy() for f, a in self._arrays.items()})


class Patience:
    """Stop when the bias-corrected EMA of the loss stops improving.

    ``s = ema*s + (1-ema)*f``, smoothed loss ``s / (1 - ema**k)``; a step
    improves if the smoothed loss falls below the best so far minus
    ``min_delta``; ``patience`` steps in a row without improvement stop.
    """

    def __init__(self, patience, ema, min_delta):
        self.patience = patience
        self.ema = ema
        self.min_delta = min_delta
        self.s = 0.0
        self.k = 0
        self.best = math.inf
        self.since = 0

    def update(self, f):
        """Feed one loss; True when the run should stop."""
        self.k += 1
        self.s = self.ema * self.s + (1.0 - self.ema) * f
        smoothed = self.s / (1.0 - self.ema ** self.k)
        if smoothed < self.best - self.min_delta:
            self.best = smoothed
            self.since = 0
        else:
            self.since += 1
        return self.since >= self.patience

    def state(self):
        return {"s": self.s, "k": self.k, "best": self.best, "since": self.since}

    def restore(self, st):
        self.s, self.k = float(st["s"]), int(st["k"])
        self.best, self.since = float(st["best"]), int(st["since"])

    @property
    def smoothed(self):
        return self.s / (1.0 - self.ema ** self.k) if self.k else math.nan


class Progress:
    """A progress bar with the current loss: tqdm if installed, else plain text.

    Refreshed at most every ``interval`` seconds; writes to stderr.
    """

    def __init__(self, total, interval=0.1, file=None):
        self.total = total
        self.interval = interval
        self.file = sys.stderr if file is None else file
        self.next_time = 0.0
        self.done = 0
        try:
            from tqdm.auto import tqdm
        except ImportError:
            self.bar = None
        else:
            self.bar = tqdm(total=total, unit="step", file=self.file, leave=True,
                            dynamic_ncols=True)

    def due(self):
        return time.perf_counter() >= self.next_time

    def show(self, step, loss):
        self.next_time = time.perf_counter() + self.interval
        text = "loss=?" if loss is None else f"loss={loss:.6g}"
        if self.bar is not None:
            self.bar.set_postfix_str(text, refresh=False)
            self.bar.update(step - self.done)
        else:
            if self.total:
                frac = min(step / self.total, 1.0)
                fill = int(30 * frac)
                head = f"[{'#' * fill}{'.' * (30 - fill)}] {100 * frac:5.1f}% {step}/{self.total}"
            else:
                head = f"step {step}"
            self.file.write(f"\r{head} {text}   ")
            self.file.flush()
        self.done = step

    def close(self, step, loss):
        self.show(step, loss)
        if self.bar is not None:
            self.bar.close()
        else:
            self.file.write("\n")
            self.file.flush()
