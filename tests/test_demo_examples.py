"""The README's demo and the example scripts run and reach their answers."""
import pathlib
import runpy

import numpy as np
import pytest

from numadam.__main__ import main

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_demo_prints_both_tables(capsys):
    assert main(["demo", "--maxiter", "3000"]) == 0
    out = capsys.readouterr().out
    assert "Rosenbrock" in out and "Logistic regression" in out
    for method in ("adam", "adamw", "amsgrad", "adamax", "nadam", "radam", "sgd",
                   "rmsprop", "adagrad", "L-BFGS-B"):
        assert f" {method} " in out or out.count(method) >= 2


def test_demo_results_are_right():
    from numadam.__main__ import demo
    out = demo(maxiter_rosen=20000, maxiter_logistic=1000)
    assert np.max(np.abs(out["rosenbrock"]["adam"].x - 1.0)) < 1e-3
    w = out["logistic"]["adam"].x
    assert np.max(np.abs(w - out["logistic"]["adagrad"].x)) < 1e-3


def test_methods_command(capsys):
    assert main(["methods"]) == 0
    assert "momentum_decay" in capsys.readouterr().out
    assert main([]) == 2


@pytest.mark.parametrize("script", ["rosenbrock.py", "logistic_regression.py",
                                    "adam_paper_logistic.py", "amsgrad_counterexample.py"])
def test_example_scripts_run(script, capsys, tmp_path, monkeypatch):
    # each script asserts its own result (optimum reached, weights recovered,
    # adam at +1 and amsgrad at -1); the plotting ones save their PNG where told
    png = tmp_path / "plot.png"
    monkeypatch.setattr("sys.argv", [script, str(png)])
    runpy.run_path(str(ROOT / "examples" / script), run_name="__main__")
    assert capsys.readouterr().out
    if "adam_paper" in script or "amsgrad" in script:
        assert png.read_bytes()[:4] == b"\x89PNG"


def test_many_curves_example_runs(capsys, monkeypatch):
    monkeypatch.setattr("sys.argv", ["many_curves.py", "3000"])
    runpy.run_path(str(ROOT / "examples" / "many_curves.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "3000 problems" in out and "faster than the least_squares loop" in out


def _readme_block(heading):
    text = (ROOT / "README.md").read_text()
    start = text.index(heading)
    return text[start:].split("```python\n", 1)[1].split("```", 1)[0]


def test_readme_quickstart_runs_as_written(capsys):
    namespace = {}
    exec(compile(_readme_block("## Quickstart"), "README.md quickstart", "exec"), namespace)
    assert np.max(np.abs(namespace["res"].x - 1.0)) < 1e-3
    assert namespace["checkpoint"]["t"] == 100
    assert namespace["x"].dtype == np.float32
    assert "Optimization terminated successfully" in capsys.readouterr().out


def test_readme_stochastic_example_runs_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(_readme_block("## Stochastic"), "README.md stochastic", "exec"), namespace)
    res = namespace["res"]
    assert res.status == 2 and np.max(np.abs(res.x - namespace["w_true"])) < 0.15
    assert (tmp_path / "loss.png").stat().st_size > 0
    assert "epochs has been completed" in capsys.readouterr().out
