"""
The Adam paper's logistic regression experiment, on synthetic data
==================================================================

Kingma & Ba (2014), Section 6.1: L2-regularised multinomial logistic
regression trained on minibatches of 128 with the step size decaying as
alpha/sqrt(t), comparing Adam with Adagrad, SGD with Nesterov momentum and
RMSprop.  The paper used MNIST; this script draws a 10-class, 100-feature
data set from a softmax model with known weights (no download), so it runs
anywhere.  Each method's alpha was picked from a grid (1e-3 ... 1) for the
lowest loss after 10 epochs.  The convergence plot (smoothed minibatch loss
against epochs) is saved as a PNG::

    python examples/adam_paper_logistic.py [output.png]
"""
import sys

import numpy as np
from scipy.optimize import minimize as scipy_minimize

import numadam
from numadam.problems import make_multinomial, softmax_loss

out = sys.argv[1] if len(sys.argv) > 1 else "docs/images/adam_logistic_regression.png"
X, y, W_true = make_multinomial(n_samples=20000, n_features=100, n_classes=10, seed=0,
                                scale=3.0)
l2 = 1e-4
shape = W_true.shape

# the full-batch optimum, for reference
ref = scipy_minimize(lambda w: softmax_loss(w.reshape(shape), X, y, l2)[0],
                     np.zeros(W_true.size), method="L-BFGS-B",
                     jac=lambda w: softmax_loss(w.reshape(shape), X, y, l2)[1].ravel())

runs = {}
for label, method, alpha, extra in [
        ("Adam", "adam", 0.1, {}),
        ("Adagrad", "adagrad", 0.3, {}),
        ("SGD Nesterov", "sgd", 0.3, {"momentum": 0.9, "nesterov": True}),
        ("RMSprop", "rmsprop", 0.03, {})]:
    runs[label] = numadam.minimize(
        softmax_loss, True, np.zeros(shape), args=(l2,), data=(X, y), method=method,
        rng=0, options=dict(extra, lr=numadam.schedules.inverse_sqrt(alpha),
                            batch_size=128, epochs=20, history=5, gtol=0))
    r = runs[label]
    print(f"{label:>13}: alpha={alpha:<5} loss {r.fun:.5f} (L-BFGS optimum "
          f"{ref.fun:.5f}, gap {r.fun - ref.fun:.1e}) after {r.nit} steps")

ax = numadam.plot(runs, x="epoch", smooth=0.98, logy=True,
                  title="Multinomial logistic regression, minibatch 128, alpha/sqrt(t)")
ax.set_ylim(0.85 * ref.fun, 2.5)
ax.axhline(ref.fun, color="k", lw=0.8, ls="--", label="full-batch optimum (L-BFGS-B)")
ax.set_ylabel("training loss (minibatch, smoothed)")
ax.legend()
ax.figure.savefig(out, dpi=120)
print("saved", out)
assert runs["Adam"].fun - ref.fun < 5e-3
