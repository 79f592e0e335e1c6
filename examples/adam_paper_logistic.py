"""
The Adam paper's logistic regression experiment, on synthetic data
==================================================================

Kingma & Ba (2014), Section 6.1: L2-regularised multinomial logistic
regression trained on minibatches of 128 with the step size decaying as
alpha/sqrt(t), comparing Adam with Adagrad, SGD with Nesterov momentum and
RMSprop.  The paper used MNIST; this script draws a 10-class, 100-feature
data set from a softmax model with known weights (no download), so it runs
anywhere.  Each method's alpha was picked from a grid (1e-3 ... 1) for the
lowest full training loss after 10 epochs (the grid's best:
Adam 0.1, Adagrad 0.3, SGD 0.3, RMSprop 0.03).  The plot shows the training loss on the whole
data set minus its optimum (found by L-BFGS-B) at the end of every epoch, on
a log axis (within an epoch the iterate leans towards the minibatches it saw
last; at the end of one it has seen every sample once).  As in the paper,
Adam is well ahead of Adagrad; here, on well-conditioned synthetic data, SGD
with Nesterov momentum ends a little ahead of Adam and RMSprop.  It is saved as a PNG, by default
``adam_logistic_regression.png`` in the current directory::

    python examples/adam_paper_logistic.py [output.png]
"""
import os
import sys

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import LogLocator
from scipy.optimize import minimize as scipy_minimize

import numadam
from numadam.problems import make_multinomial, softmax_loss

out = sys.argv[1] if len(sys.argv) > 1 else "adam_logistic_regression.png"
X, y, W_true = make_multinomial(n_samples=20000, n_features=100, n_classes=10, seed=0,
                                scale=3.0)
l2 = 1e-4
shape = W_true.shape
epochs, batch_size = 20, 128
steps_per_epoch = -(-len(y) // batch_size)


def full_loss(w):
    return softmax_loss(w.reshape(shape), X, y, l2)[0]


# the full-batch optimum, for reference
ref = scipy_minimize(full_loss, np.zeros(W_true.size), method="L-BFGS-B",
                     jac=lambda w: softmax_loss(w.reshape(shape), X, y, l2)[1].ravel(),
                     options={"maxiter": 2000, "gtol": 1e-10})

curves = {}
for label, method, alpha, extra in [
        ("Adam", "adam", 0.1, {}),
        ("Adagrad", "adagrad", 0.3, {}),
        ("SGD Nesterov", "sgd", 0.3, {"momentum": 0.9, "nesterov": True}),
        ("RMSprop", "rmsprop", 0.03, {})]:
    epoch_at, gap = [0.0], [full_loss(np.zeros(shape)) - ref.fun]

    def record(intermediate_result):
        if intermediate_result.nit % steps_per_epoch == 0:   # an epoch's end
            epoch_at.append(intermediate_result.nit / steps_per_epoch)
            gap.append(full_loss(intermediate_result.x) - ref.fun)

    r = numadam.minimize(
        softmax_loss, True, np.zeros(shape), args=(l2,), data=(X, y), method=method,
        rng=0, callback=record,
        options=dict(extra, lr=numadam.schedules.inverse_sqrt(alpha),
                     batch_size=batch_size, epochs=epochs, gtol=0))
    curves[label] = (np.array(epoch_at), np.array(gap))
    print(f"{label:>13}: alpha={alpha:<5} loss {r.fun:.5f} (L-BFGS optimum "
          f"{ref.fun:.5f}, gap {r.fun - ref.fun:.1e}) after {r.nit} steps")

fig = Figure(figsize=(6.4, 4.2), layout="constrained")
FigureCanvasAgg(fig)
ax = fig.add_subplot()
styles = {"Adam": ("C3", "-", 2.2), "Adagrad": ("C0", "--", 1.6),
          "SGD Nesterov": ("C2", "-.", 1.6), "RMSprop": ("C1", ":", 2.0)}
for label, (epoch_at, gap) in curves.items():
    color, ls, lw = styles[label]
    ax.plot(epoch_at, gap, color=color, ls=ls, lw=lw, marker="o", ms=3, label=label)
ax.set_yscale("log")
ax.yaxis.set_major_locator(LogLocator(base=10, numticks=12))
ax.yaxis.set_minor_locator(LogLocator(base=10, subs=np.arange(2, 10), numticks=12))
ax.grid(True, which="major", alpha=0.4)
ax.set_ylim(bottom=1e-4)
ax.set_xlim(0, epochs)
ax.set_xticks(range(0, epochs + 1, 2))
ax.set_xlabel("epoch (passes over the 20,000 samples)")
ax.set_ylabel("training loss - optimum (whole data set)")
ax.set_title("Multinomial logistic regression, minibatch 128, alpha/sqrt(t)")
ax.legend()
fig.savefig(out, dpi=120)
print("saved", os.path.relpath(out))
gaps = {label: gap[-1] for label, (_, gap) in curves.items()}
assert gaps["Adam"] < 1e-3 and gaps["Adam"] < gaps["Adagrad"] / 3, gaps
