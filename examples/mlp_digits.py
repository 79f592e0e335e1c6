"""
A two-layer neural network in NumPy, trained with AdamW over its arrays
=======================================================================

A multilayer perceptron (64 inputs, 64 ReLU units, 10 softmax outputs) written
in plain NumPy learns scikit-learn's bundled handwritten digits
(``load_digits``: 1,797 8x8 images, no download).  ``numadam.AdamW`` updates
its four arrays -- two weight matrices and two bias vectors -- in place, with
two parameter groups: weight decay on the weights, none on the biases (torch's
``no_decay`` idiom).  Beside it, ``sklearn.neural_network.MLPClassifier`` with
``solver="adam"`` trains the same architecture with the same batch size,
learning rate and number of epochs (its ``alpha`` is an L2 penalty on the
weights only, the coupled cousin of AdamW's decay; both at their defaults).  The script prints
the test accuracy and the training time of both and plots their training loss
per epoch, saved as ``mlp_digits.png`` by default::

    python examples/mlp_digits.py [output.png] [--epochs N]
"""
import argparse
import os
import time
import warnings

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

import numadam

X, y = load_digits(return_X_y=True)
X = X / 16.0
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0,
                                                    stratify=y)
n_in, n_hidden, n_out = X.shape[1], 64, 10
batch_size, lr = 64, 1e-3


def glorot(rng, fan_in, fan_out):
    """scikit-learn's initialisation for ReLU layers."""
    bound = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-bound, bound, (fan_in, fan_out))


def forward(p, X):
    h = np.maximum(X @ p["W1"] + p["b1"], 0.0)
    z = h @ p["W2"] + p["b2"]
    z -= z.max(axis=1, keepdims=True)
    prob = np.exp(z)
    prob /= prob.sum(axis=1, keepdims=True)
    return h, prob


def loss_and_grads(p, X, y):
    """Mean cross-entropy of a batch and its gradient for every array."""
    h, prob = forward(p, X)
    n = len(y)
    loss = -np.mean(np.log(prob[np.arange(n), y] + 1e-300))
    dz = prob
    dz[np.arange(n), y] -= 1.0
    dz /= n
    dh = (dz @ p["W2"].T) * (h > 0)
    return loss, {"W1": X.T @ dh, "b1": dh.sum(axis=0), "W2": h.T @ dz, "b2": dz.sum(axis=0)}


def train(epochs, state_dtype=None, seed=0):
    """Train the MLP with numadam.AdamW: ``(params, mean training loss per epoch,
    seconds)``; ``state_dtype`` stores the moments in bfloat16 or int8
    (``W1``, 4,096 elements, is large enough for int8)."""
    rng = np.random.default_rng(seed)
    params = {"W1": glorot(rng, n_in, n_hidden), "b1": rng.uniform(-0.1, 0.1, n_hidden),
              "W2": glorot(rng, n_hidden, n_out), "b2": rng.uniform(-0.1, 0.1, n_out)}
    opt = numadam.AdamW([{"params": {"W1": params["W1"], "W2": params["W2"]}},
                         {"params": {"b1": params["b1"], "b2": params["b2"]},
                          "weight_decay": 0.0}],
                        lr=lr, weight_decay=0.01, state_dtype=state_dtype)
    curve = []
    start = time.perf_counter()
    for epoch in range(epochs):
        order = rng.permutation(len(y_train))
        total = 0.0
        for lo in range(0, len(order), batch_size):
            idx = order[lo:lo + batch_size]
            loss, grads = loss_and_grads(params, X_train[idx], y_train[idx])
            opt.step(grads)
            total += loss * len(idx)
        curve.append(total / len(y_train))
    return params, curve, time.perf_counter() - start


def main():
    """The comparison with scikit-learn, the printout and the figure."""
    ap = argparse.ArgumentParser()
    ap.add_argument("out", nargs="?", default="mlp_digits.png")
    ap.add_argument("--epochs", type=int, default=60)
    args = ap.parse_args()

    params, numadam_curve, numadam_time = train(args.epochs)
    numadam_acc = np.mean(forward(params, X_test)[1].argmax(axis=1) == y_test)

    clf = MLPClassifier(hidden_layer_sizes=(n_hidden,), solver="adam", batch_size=batch_size,
                        learning_rate_init=lr, alpha=1e-4, max_iter=args.epochs, tol=0.0,
                        n_iter_no_change=args.epochs + 1, random_state=0)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)   # it runs every epoch, as asked
        clf.fit(X_train, y_train)
    sklearn_time = time.perf_counter() - start
    sklearn_acc = clf.score(X_test, y_test)

    print(f"{args.epochs} epochs of {len(y_train)} digits, batches of {batch_size}:")
    print(f"  numadam.AdamW, NumPy MLP  test accuracy {numadam_acc:.3f}  "
          f"training {numadam_time:.2f} s")
    print(f"  sklearn MLPClassifier     test accuracy {sklearn_acc:.3f}  "
          f"training {sklearn_time:.2f} s")
    print(f"  final training loss: numadam {numadam_curve[-1]:.4f}, "
          f"scikit-learn {clf.loss_curve_[-1]:.4f}")
    if args.epochs >= 30:
        assert numadam_acc > 0.95 and abs(numadam_acc - sklearn_acc) < 0.03

    fig = Figure(figsize=(6, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    epochs = np.arange(1, args.epochs + 1)
    ax.semilogy(epochs, numadam_curve, label=f"numadam.AdamW (test accuracy {numadam_acc:.3f})")
    ax.semilogy(epochs, clf.loss_curve_,
                label=f"sklearn MLPClassifier, adam (test accuracy {sklearn_acc:.3f})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss (mean cross-entropy)")
    ax.set_title("A 64-64-10 MLP on load_digits")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    print("saved", os.path.relpath(args.out))


if __name__ == "__main__":
    main()
