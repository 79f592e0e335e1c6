"""
Logistic regression that recovers its generating weights
========================================================

Synthetic binary data are drawn from a logistic model with known weights
``w_true``; Adam fits the model by minimising the mean logistic loss and
recovers ``w_true`` up to the sampling error (which shrinks as
1/sqrt(n_samples)).  Run it as a script::

    python examples/logistic_regression.py
"""
import numpy as np

import numadam
from numadam.problems import logistic_loss, make_logistic_regression

X, y, w_true = make_logistic_regression(n_samples=20000, n_features=8, seed=1)

res = numadam.minimize(logistic_loss, True, np.zeros(X.shape[1]), args=(X, y),
                       method="adam", options={"lr": 0.05, "maxiter": 3000, "gtol": 1e-7})
print(res.message, f"after {res.nit} steps; loss {res.fun:.6f}")
print("generating weights:", np.round(w_true, 3))
print("fitted weights:    ", np.round(res.x, 3))
err = np.max(np.abs(res.x - w_true))
print(f"largest error: {err:.3f}")
assert err < 0.15, err

# the same fit in float32 stays float32 end to end
res32 = numadam.minimize(logistic_loss, True, np.zeros(X.shape[1], np.float32),
                         args=(X.astype(np.float32), y.astype(np.float32)),
                         method="adamw", options={"lr": 0.05, "maxiter": 3000,
                                                  "weight_decay": 0.0, "gtol": 1e-5})
print(f"float32 AdamW: dtype {res32.x.dtype}, largest error "
      f"{np.max(np.abs(res32.x - w_true)):.3f}")
assert res32.x.dtype == np.float32
