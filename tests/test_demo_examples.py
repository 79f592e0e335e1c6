"""The README's demo and the example scripts run and reach their answers."""
import pathlib
import re
import runpy
import subprocess

import numpy as np
import pytest

from numadam.__main__ import main

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_demo_prints_both_tables(capsys):
    assert main(["demo", "--maxiter", "3000"]) == 0
    out = capsys.readouterr().out
    assert "Rosenbrock" in out and "Logistic regression" in out
    for method in ("adam", "adamw", "amsgrad", "adamax", "nadam", "radam", "sgd",
                   "rmsprop", "adagrad", "schedule_free_adamw", "adadelta", "rprop", "asgd", "lion", "adopt", "ademamix", "adabelief", "yogi", "adan",
                   "L-BFGS-B"):
        assert f" {method} " in out or out.count(method) >= 2


def test_demo_results_are_right():
    from numadam.__main__ import demo
    out = demo(maxiter_rosen=20000, maxiter_logistic=1000)
    assert np.max(np.abs(out["rosenbrock"]["adam"].x - 1.0)) < 1e-3
    w = out["logistic"]["adam"].x
    assert np.max(np.abs(w - out["logistic"]["adagrad"].x)) < 1e-3


def test_methods_command(capsys):
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    assert "momentum_decay" in out
    # the loop options too, each with its default
    from numadam._methods import LOOP_OPTIONS
    for name, (default, _) in LOOP_OPTIONS.items():
        assert f"    {name} = {default!r}: " in out, name
    for name in ("checkpoint", "checkpoint_every", "resume", "compiled"):
        assert f"    {name} = " in out
    assert main([]) == 2


def test_minimize_takes_its_loop_defaults_from_the_table_show_options_prints():
    from numadam._methods import LOOP_OPTIONS
    from numadam._inputs import _loop_options
    loop = _loop_options({}, has_data=True)
    assert set(loop) == set(LOOP_OPTIONS)
    for name, (default, _) in LOOP_OPTIONS.items():
        if name != "maxiter":       # unlimited with data unless given
            assert loop[name] == default, name
    assert _loop_options({}, has_data=False)["maxiter"] == LOOP_OPTIONS["maxiter"][0]


def test_help_is_plain_text(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "``" not in out and ":func:" not in out and "demo" in out and "methods" in out


def _source_tree_state():
    """``git status --porcelain`` of the checkout (None outside a git checkout)."""
    try:
        proc = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)
    except OSError:
        return None
    return proc.stdout if proc.returncode == 0 else None


FIGURES = {"adam_paper_logistic.py": "adam_logistic_regression.png",
           "amsgrad_counterexample.py": "amsgrad_counterexample.png"}


@pytest.mark.parametrize("script", ["rosenbrock.py", "logistic_regression.py",
                                    "adam_paper_logistic.py", "amsgrad_counterexample.py"])
def test_example_scripts_run_from_anywhere_and_write_only_there(script, capsys, tmp_path,
                                                                monkeypatch):
    # each script asserts its own result (optimum reached, weights recovered,
    # adam at +1 and amsgrad at -1); run from a temporary directory with no
    # arguments, the plotting ones save their PNG there, and nothing in the
    # source tree changes
    before = _source_tree_state()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", [script])
    runpy.run_path(str(ROOT / "examples" / script), run_name="__main__")
    out = capsys.readouterr().out
    assert out
    assert _source_tree_state() == before
    if script in FIGURES:
        assert sorted(p.name for p in tmp_path.iterdir()) == [FIGURES[script]]
        assert (tmp_path / FIGURES[script]).read_bytes()[:4] == b"\x89PNG"
        # the path printed is relative (no machine's absolute paths in the gallery)
        assert f"saved {FIGURES[script]}" in out and str(tmp_path) not in out
    else:
        assert list(tmp_path.iterdir()) == []


def test_the_mlp_example_trains_both_networks_and_plots_them(capsys, tmp_path, monkeypatch):
    """examples/mlp_digits.py with a few epochs: both networks learn, the
    figure is saved where asked."""
    pytest.importorskip("sklearn")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", ["mlp_digits.py", "loss.png", "--epochs", "8"])
    runpy.run_path(str(ROOT / "examples" / "mlp_digits.py"), run_name="__main__")
    out = capsys.readouterr().out
    acc = [float(a) for a in re.findall(r"test accuracy ([\d.]+)", out)]
    assert len(acc) == 2 and min(acc) > 0.85, out
    assert (tmp_path / "loss.png").read_bytes()[:4] == b"\x89PNG"
    assert "saved loss.png" in out


def test_plotting_examples_save_where_the_command_line_says(capsys, tmp_path, monkeypatch):
    png = tmp_path / "sub" / "plot.png"
    png.parent.mkdir()
    monkeypatch.setattr("sys.argv", ["amsgrad_counterexample.py", str(png)])
    runpy.run_path(str(ROOT / "examples" / "amsgrad_counterexample.py"), run_name="__main__")
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
