"""
Rosenbrock's function with the Adam family
==========================================

Minimise the 2-D Rosenbrock function from the classic start (-1.2, 1) with
``numadam.minimize`` -- SciPy's calling convention, torch.optim's methods --
and compare with SciPy's L-BFGS-B.  Run it as a script::

    python examples/rosenbrock.py
"""
import numpy as np
from scipy.optimize import minimize as scipy_minimize
from scipy.optimize import rosen, rosen_der

import numadam

x0 = [-1.2, 1.0]

# scipy.optimize's functions plug in directly: fun, jac, x0
res = numadam.minimize(rosen, rosen_der, x0, method="adam",
                       options={"lr": 1e-2, "maxiter": 20000})
print(res)
assert np.max(np.abs(res.x - 1.0)) < 1e-3

# the same with jac=True (one call returns f and g) and a few other methods
def rosen_with_grad(x):
    return rosen(x), rosen_der(x)

print(f"\n{'method':>8} {'steps':>6} {'f(x)':>10} {'|x - 1|':>9}")
for method, lr in [("adam", 1e-2), ("amsgrad", 1e-2), ("adamax", 2e-2),
                   ("nadam", 2e-3), ("radam", 1e-3), ("rmsprop", 1e-3)]:
    r = numadam.minimize(rosen_with_grad, True, x0, method=method,
                         options={"lr": lr, "maxiter": 20000, "gtol": 1e-8})
    print(f"{method:>8} {r.nit:>6} {r.fun:>10.2e} {np.max(np.abs(r.x - 1)):>9.1e}")

ref = scipy_minimize(rosen, x0, jac=rosen_der, method="L-BFGS-B")
print(f"{'L-BFGS-B':>8} {ref.nit:>6} {ref.fun:>10.2e} {np.max(np.abs(ref.x - 1)):>9.1e}")

# bounds: the box [-2, 0.5] x [-2, 2] excludes the optimum; projected Adam
# ends on the boundary x[0] = 0.5, at the constrained minimiser (0.5, 0.25)
rb = numadam.minimize(rosen, rosen_der, x0, options={"lr": 1e-2, "maxiter": 20000},
                      bounds=[(-2, 0.5), (-2, 2)])
print(f"\nwith bounds: x = {rb.x}, {rb.message} ({rb.nit} steps)")
assert abs(rb.x[0] - 0.5) < 1e-12 and abs(rb.x[1] - 0.25) < 1e-3
