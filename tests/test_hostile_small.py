"""Hostile inputs, small: the demo's command line (28a) and numadam.plot (29).

(The schedules' step-count checks, 27, are in test_schedules.py; the Dask
front end's, 28b, in test_dask.py.)
"""
import os
import pathlib
import subprocess
import sys
import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy.optimize import OptimizeResult  # noqa: E402

import numadam  # noqa: E402
from numadam.__main__ import main  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]


# --- 28a: every numeric argument of ``python -m numadam`` is checked by argparse ----------

def run_cli(*argv):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "numadam", *argv], capture_output=True,
                          text=True, timeout=120, cwd=ROOT, env=env)


@pytest.mark.parametrize("value, shown", [("-5", "-5"), ("0", "0"), ("1.5", "'1.5'"),
                                          ("abc", "'abc'"), ("", "''")])
def test_demo_maxiter_bad_values_get_usage_and_one_line_error(value, shown):
    proc = run_cli("demo", "--maxiter", value)
    assert proc.returncode == 2
    assert proc.stdout == ""                       # the demo did not start
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith("usage: numadam demo")
    assert lines[-1] == ("numadam demo: error: argument --maxiter: expected an integer "
                         f">= 1 (a number of steps); got {shown}")


def test_demo_maxiter_equals_form_and_in_process(capsys):
    proc = run_cli("demo", "--maxiter=-5")
    assert proc.returncode == 2 and "got -5" in proc.stderr
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--maxiter", "-1"])
    assert exc.value.code == 2
    assert "argument --maxiter: expected an integer >= 1 (a number of steps); got -1" \
        in capsys.readouterr().err


def test_demo_maxiter_help_says_what_is_expected():
    proc = run_cli("demo", "--help")
    assert proc.returncode == 0 and "an integer >= 1" in proc.stdout


# --- 29: numadam.plot ------------------------------------------------------------------

def fake_result(loss, with_data=False, method="adam"):
    """An OptimizeResult shaped as minimize returns it (history every step)."""
    loss = np.asarray(loss, float)
    step = np.arange(len(loss), dtype=np.int64)
    epoch = step / 4.0 if with_data else step.astype(float)
    res = OptimizeResult(x=np.zeros(2), fun=loss[-1], nit=len(loss) - 1, method=method,
                         history=OptimizeResult(step=step, epoch=epoch, loss=loss,
                                                grad_norm=np.abs(loss) + 1.0,
                                                lr=np.full(len(loss), 0.01)))
    if with_data:
        res.epoch = float(epoch[-1])
    return res


def test_plot_epoch_axis_refused_for_a_run_without_data():
    res = fake_result([3.0, 2.0, 1.0])
    with pytest.raises(ValueError, match=r"x='epoch': result 'adam' has no epochs \(it was "
                                         r"run without data.*plot it with x='step'"):
        numadam.plot(res, x="epoch")
    ax = numadam.plot(res, x="step")                     # x="step" works
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), [0, 1, 2])


def test_plot_epoch_axis_refused_for_a_real_run_without_data():
    res = numadam.minimize(lambda x: (float(x @ x), 2 * x), True, np.ones(2),
                           options={"maxiter": 20, "history": 5, "gtol": 0})
    assert "epoch" not in res
    with pytest.raises(ValueError, match="has no epochs"):
        numadam.plot(res, x="epoch")


def test_plot_epoch_axis_with_data_uses_the_epochs():
    res = fake_result([3.0, 2.0, 1.0, 0.5, 0.25], with_data=True)
    ax = numadam.plot({"mb": res}, x="epoch")
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), [0, 0.25, 0.5, 0.75, 1.0])
    assert ax.get_xlabel() == "epoch"


def ema_by_hand(values, beta):
    s, out = 0.0, []
    for k, v in enumerate(values, 1):
        s = beta * s + (1 - beta) * v
        out.append(s / (1 - beta ** k))
    return out


def test_smoothing_skips_a_nan_loss_one_gap_not_a_dead_curve():
    loss = [4.0, 3.0, np.nan, 2.0, 1.0, np.inf, 0.5]
    ax = numadam.plot(fake_result(loss), smooth=0.5, logy=False)
    raw, smoothed = ax.get_lines()
    np.testing.assert_array_equal(raw.get_ydata(), loss)
    ys = np.asarray(smoothed.get_ydata())
    assert np.isnan(ys[2]) and np.isnan(ys[5])           # one gap per bad loss
    finite = ~np.isnan(ys)
    assert finite.sum() == 5
    # the EMA over the finite losses only, its bias correction counting them
    np.testing.assert_allclose(ys[finite], ema_by_hand([4.0, 3.0, 2.0, 1.0, 0.5], 0.5),
                               rtol=1e-15)


def test_smoothing_of_finite_losses_is_unchanged():
    loss = np.linspace(5, 1, 9)
    ax = numadam.plot(fake_result(loss), smooth=0.9)
    np.testing.assert_array_equal(ax.get_lines()[1].get_ydata(), ema_by_hand(loss, 0.9))


def test_smoothing_with_leading_nan_starts_at_the_first_finite_loss():
    ax = numadam.plot(fake_result([np.nan, 2.0, 1.0]), smooth=0.5, logy=False)
    ys = ax.get_lines()[1].get_ydata()
    assert np.isnan(ys[0]) and ys[1] == 2.0 and ys[2] == pytest.approx((0.5 * 2 + 1) * 0.5 / 0.75)


def test_logy_refuses_all_negative_losses_of_a_maximize_run():
    res = fake_result([-1.0, -5.0, -20.0, -100.0], method="adam")
    with pytest.raises(ValueError, match=r"logy=True: the losses of result 'adam' are not "
                                         r"positive .*a maximize run\?.*logy=False, or plot "
                                         r"-loss"):
        numadam.plot(res, logy=True)
    ax = numadam.plot(res, logy=False)                   # as the message says
    assert ax.get_yscale() == "linear"
    ax = numadam.plot(res)                               # default: linear for these
    assert ax.get_yscale() == "linear"


def test_logy_with_some_non_positive_values_plots_the_positive_ones_and_warns():
    res = fake_result([10.0, 1.0, 0.0, 0.1, -0.5, 0.01], method="sgd")
    with pytest.warns(UserWarning, match=r"logy=True: losses <= 0 cannot be drawn on a log "
                                         r"axis and are left out \(2 of 6 in result 'sgd'\)"):
        ax = numadam.plot(res, logy=True, smooth=0.5)
    assert ax.get_yscale() == "log"
    raw, smoothed = ax.get_lines()
    np.testing.assert_array_equal(raw.get_ydata(), [10.0, 1.0, np.nan, 0.1, np.nan, 0.01])
    assert np.all(np.isnan(smoothed.get_ydata()) == [False, False, True, False, True, False])


def test_logy_with_positive_values_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ax = numadam.plot(fake_result([10.0, 1.0, 0.1]), logy=True)
    assert ax.get_yscale() == "log"


def test_logy_on_lr_names_learning_rates():
    res = fake_result([1.0, 2.0])
    res.history.lr = np.zeros(2)
    with pytest.raises(ValueError, match=r"the learning rates of result 'adam' are not "
                                         r"positive.*: plot it with logy=False$"):
        numadam.plot(res, y="lr", logy=True)


@pytest.mark.parametrize("results, match", [
    (None, "got NoneType"),
    ("adam", "got str"),
    (3.0, "got float"),
    ([fake_result([2.0, 1.0]), "adam"], r"results\[1\] is a str, not an OptimizeResult"),
    ({"a": fake_result([2.0, 1.0]), "b": None}, r"results\['b'\] is a NoneType, not an"),
])
def test_plot_refuses_what_is_not_results_naming_it(results, match):
    with pytest.raises(TypeError, match=match):
        numadam.plot(results)


def test_plot_labels_must_be_a_list():
    with pytest.raises(TypeError, match="labels must be a list of strings, one per result"):
        numadam.plot([fake_result([2.0, 1.0]), fake_result([3.0, 1.0])], labels="ab")


@pytest.mark.parametrize("smooth", ["0.5", True, np.nan, 1.0, -0.1])
def test_plot_refuses_a_bad_smooth(smooth):
    with pytest.raises((TypeError, ValueError), match=r"smooth must be a number in \[0, 1\)"):
        numadam.plot(fake_result([2.0, 1.0]), smooth=smooth)
