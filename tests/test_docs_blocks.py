"""The documentation's install lines, code blocks and claims are true.

* Every ``pip install`` in README.md, docs/**/*.md, examples/*.py and
  numadam/**/*.py is a form that works from a checkout (numadam is not on the
  package index).
* Every ```python block of README.md and docs/**/*.md runs on its own, in a
  fresh namespace, in a temporary working directory; a block marked
  ``<!-- not-run: REASON -->`` on the line before its fence is skipped with
  that reason.  Printed values quoted in a comment after ``print(...)`` are
  what it prints.
* Claims the documentation makes about the code (what ``state_dict`` and
  ``save`` hold, what ``clip_norm`` costs, what a large ``batch_size`` does,
  which result fields exist when) are checked against the code, and the
  figures quoted from the benchmark tables against those tables.
"""
import contextlib
import io
import pathlib
import re

import numpy as np
import pytest

import numadam

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
MARKDOWN = [ROOT / "README.md"] + sorted(DOCS.glob("*.md")) + sorted(DOCS.glob("*/*.md"))


def rel(path):
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name


def read(name):
    return (ROOT / name).read_text()


def flat(text):
    """Text with every run of whitespace made one space (sentences wrap)."""
    return " ".join(text.split())


# ---------------------------------------------------------------------------
# A. install lines
# ---------------------------------------------------------------------------

def _extras():
    """The optional-dependencies of pyproject.toml (tomllib from Python 3.11)."""
    text = read("pyproject.toml")
    try:
        import tomllib
    except ImportError:   # Python 3.10: the names at the start of the section's lines
        section = text.split("[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]
        return set(re.findall(r"^([A-Za-z0-9_-]+)\s*=", section, re.M))
    return set(tomllib.loads(text)["project"]["optional-dependencies"])


EXTRAS = _extras()

# Third-party packages the documentation may tell people to install, by name,
# each with the reason it is there.
THIRD_PARTY = {
    # numba's TBB threading layer (reliability guide, Threads): runs parallel
    # steps of several threads concurrently; a package of the index, not numadam
    "tbb",
    # timm, the cautious optimizers' reference: installed without its
    # dependencies (torchvision would replace torch's CPU build); the tests
    # import its optimizer modules, which need torch alone
    "timm",
}

_EXTRAS = r"\[(?P<extras>[A-Za-z0-9_,{}\- ]+)\]"
ALLOWED_TARGETS = [
    # an editable install of the checkout, with or without extras
    re.compile(rf"^\.(?:{_EXTRAS})?$"),
    # a wheel built from the checkout (python -m pip wheel --no-deps -w dist .)
    re.compile(rf"^(?:\./)?dist/numadam-(?:\*|VERSION|[0-9][0-9A-Za-z.+]*)"
               rf"(?:-py3-none-any)?\.whl(?:{_EXTRAS})?$"),
]
# the one option that goes with a target: -e (editable); a wheel takes none
OPTIONS = {"-e", "--editable", "-q", "--quiet", "--no-deps"}
_STRIP = "\"'`,;:)("


def _commands(text):
    """``(line number, tokens after 'pip install')`` of every pip install in
    ``text``; tokens are whitespace-separated, quotes and backticks stripped,
    up to a comment, a closing backtick or the end of the line."""
    for lineno, line in enumerate(text.splitlines(), 1):
        for m in re.finditer(r"pip\s+install\b", line):
            rest = line[m.end():]
            rest = re.split(r"``|`|\s#|\s&&|;", rest, maxsplit=1)[0]
            tokens = [t.strip(_STRIP) for t in rest.split()]
            yield lineno, [t for t in tokens if t]


def _check_target(target, hits):
    """Why ``target`` of a pip install cannot work, or None."""
    if target.split("[")[0].split("=")[0].split(">")[0].split("<")[0] in THIRD_PARTY:
        return None
    for pattern in ALLOWED_TARGETS:
        m = pattern.match(target)
        if m:
            extras = [e.strip() for e in (m.group("extras") or "").split(",") if e.strip()]
            bad = [e for e in extras
                   if e not in EXTRAS and not re.fullmatch(r"\{\w+\}", e)]
            if bad:
                return f"unknown extra {bad} (pyproject.toml has {sorted(EXTRAS)})"
            hits.append(target)
            return None
    return ("not a form that works from a checkout (python -m pip install -e "
            '".[EXTRAS]", or a wheel built into dist/), nor a whitelisted package')


def _install_problems(path):
    problems, hits = [], []
    for lineno, tokens in _commands(path.read_text()):
        where = f"{rel(path)}:{lineno}: pip install {' '.join(tokens)}"
        options = []
        while tokens and tokens[0].startswith("-"):
            options.append(tokens.pop(0))
        if not tokens:
            problems.append(f"{where}: no target")
            continue
        if any(o not in OPTIONS for o in options):
            problems.append(f"{where}: unexpected option {options}")
        target = tokens[0]
        # in Markdown code a line is one command: every further word is a target
        # too; in prose and Python strings the command ends with its target
        targets = tokens if path.suffix == ".md" and _in_code_line(path, lineno) else [target]
        for t in targets:
            why = _check_target(t, hits)
            if why:
                problems.append(f"{where}: {t!r} is {why}")
        if "-e" in options or "--editable" in options:
            if not targets[0].startswith("."):
                problems.append(f"{where}: -e goes with the checkout ('.'), not {target!r}")
    return problems, hits


def _in_code_line(path, lineno):
    """Whether line ``lineno`` of the Markdown file is inside a fenced block."""
    inside = False
    for k, line in enumerate(path.read_text().splitlines(), 1):
        if k == lineno:
            return inside
        if line.lstrip().startswith("```"):
            inside = not inside
    return False


DOC_FILES = MARKDOWN
EXAMPLE_FILES = sorted((ROOT / "examples").glob("*.py"))
PACKAGE_FILES = sorted((ROOT / "numadam").rglob("*.py"))


@pytest.mark.parametrize("group", ["docs", "examples", "numadam"])
def test_every_pip_install_line_works_from_a_checkout(group):
    # examples/ and numadam/ are maintained elsewhere; this checks them too
    files = {"docs": DOC_FILES, "examples": EXAMPLE_FILES, "numadam": PACKAGE_FILES}[group]
    problems = []
    for path in files:
        problems += _install_problems(path)[0]
    assert not problems, "\n".join(problems)


def test_the_install_checker_finds_the_lines_and_refuses_bad_ones(tmp_path):
    _, hits = _install_problems(ROOT / "README.md")
    assert '.[test,mpi,dask,refs,examples]' in hits and ".[docs]" in hits
    bad = tmp_path / "bad.md"
    bad.write_text('`pip install "numadam[cuda]"`\n\n```\npython -m pip install numadam\n'
                   'python -m pip install -e ".[gpu]"\npip install torch\n```\n'
                   "``python -m pip install -e .[bench] torch``\n")
    problems, _ = _install_problems(bad)
    assert len(problems) == 4, problems
    assert "unknown extra ['gpu']" in problems[2]
    good = tmp_path / "good.md"
    good.write_text('```\npython -m pip install -e .\npython -m pip install -e ".[mpi,dask]"\n'
                    "python -m pip wheel --no-deps -w dist .\n"
                    "python -m pip install dist/numadam-*.whl\n```\n"
                    '`python -m pip install "dist/numadam-0.1.0-py3-none-any.whl[cuda]"`,'
                    " and `python -m pip install tbb`.\n")
    assert _install_problems(good) == ([], [".", ".[mpi,dask]", "dist/numadam-*.whl",
                                            "dist/numadam-0.1.0-py3-none-any.whl[cuda]"])


def test_the_install_hint_of_the_error_messages_works_from_a_checkout():
    install = pytest.importorskip("numadam._install")
    for extra in sorted(EXTRAS):
        problems, hits = [], []
        for _, tokens in _commands(install.install_hint(extra)):
            while tokens and tokens[0].startswith("-"):
                tokens.pop(0)
            why = _check_target(tokens[0], hits)
            if why:
                problems.append(why)
        assert hits and not problems, (extra, problems)


def test_the_wheel_route_says_how_to_build_the_wheel():
    for path in MARKDOWN:
        text = path.read_text()
        if re.search(r"pip install \S*dist/numadam", text):
            assert "pip wheel --no-deps -w dist ." in text, rel(path)


# ---------------------------------------------------------------------------
# B. every ```python block runs
# ---------------------------------------------------------------------------

def python_blocks(path):
    """``[(index, first line number, source, not-run reason or None)]``."""
    lines = path.read_text().splitlines()
    blocks, k = [], 0
    while k < len(lines):
        if lines[k].strip() == "```python":
            start = k + 1
            end = start
            while lines[end].strip() != "```":
                end += 1
            prev = lines[k - 1].strip() if k else ""
            m = re.fullmatch(r"<!--\s*not-run:\s*(.+?)\s*-->", prev)
            blocks.append((len(blocks), start + 1, "\n".join(lines[start:end]) + "\n",
                           m.group(1) if m else None))
            k = end
        k += 1
    return blocks


BLOCKS = [(path, *block) for path in MARKDOWN for block in python_blocks(path)]


def test_the_blocks_are_found_and_few_are_skipped():
    assert len(BLOCKS) >= 20
    skipped = [(rel(p), i, why) for p, i, _, _, why in BLOCKS if why]
    assert len(skipped) <= 8, skipped
    # every not-run marker is followed by a python fence
    for path in MARKDOWN:
        lines = path.read_text().splitlines()
        for k, line in enumerate(lines):
            if "not-run:" in line:
                assert lines[k + 1].strip() == "```python", f"{rel(path)}:{k + 1}"


_VALUE_START = re.compile(r"^[\[\(\{'\"0-9\-]|^(True|False|None)\b")


def _quoted_outputs(source):
    """Comments after ``print(...)`` that quote what it prints (they start like
    a value: a bracket, a quote, a digit, True/False/None), minus a trailing
    ``...``."""
    out = []
    for line in source.splitlines():
        m = re.match(r"\s*print\(.*\)\s+#\s*(.+)$", line)
        if m and _VALUE_START.match(m.group(1)):
            out.append(m.group(1).rstrip().removesuffix("...").strip())
    return out


@pytest.mark.parametrize("path, index, lineno, source, reason", BLOCKS,
                         ids=[f"{rel(p)}-{i}" for p, i, *_ in BLOCKS])
def test_python_block_runs(path, index, lineno, source, reason, tmp_path, monkeypatch):
    if reason:
        pytest.skip(reason)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    monkeypatch.chdir(tmp_path)
    code = compile("\n" * (lineno - 1) + source, str(path), "exec")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(code, {"__name__": "__docs__"})
    plt.close("all")
    printed = flat(out.getvalue())
    for quoted in _quoted_outputs(source):
        assert flat(quoted) in printed, (quoted, out.getvalue())


# ---------------------------------------------------------------------------
# C. claims checked against the code and the results
# ---------------------------------------------------------------------------

def test_no_page_speaks_of_cuda_kernels_still_to_come():
    from numadam._kernels import _math
    for name, text in [(rel(p), p.read_text()) for p in MARKDOWN] + \
            [("numadam/_kernels/_math.py", _math.__doc__)]:
        t = flat(text).lower()
        assert "kernels to come" not in t and "of a later release" not in t, name
    assert (ROOT / "numadam" / "_kernels" / "cuda.py").exists()
    # the module docstring names no file that is not in the repository
    names = re.findall(r"``([\w/*.]+\.md)``", _math.__doc__)
    assert names
    for name in names:
        assert list(ROOT.glob(name)), name


def _modules():
    return sorted(rel(p).removeprefix("numadam/") for p in PACKAGE_FILES
                  if p.parent.name != "__pycache__")


def test_the_design_page_and_the_readme_layout_name_every_module():
    design = read("docs/design.md")
    layout = read("README.md").split("## Layout", 1)[1].split("\n## ", 1)[0]
    for module in _modules():
        name = module.rsplit("/", 1)[-1]
        if name == "__init__.py" and module != "__init__.py":
            continue          # _kernels/__init__.py: the package itself
        # named as in the package: _minimize.py, _kernels/cpu.py (not cuda.py
        # for _kernels/cuda.py)
        assert re.search(rf"(?<![\w/]){re.escape(module)}", design), \
            f"design.md lacks {module}"
        assert f"numadam/{module}" in layout, f"README's Layout lacks numadam/{module}"


def test_clip_norm_costs_a_pass_in_a_stateful_optimizer_and_none_in_minimize(monkeypatch):
    from numadam import _optimizers
    x = np.zeros(1000)
    opt = numadam.Adam(x, clip_norm=1.0)
    calls = []
    norm = opt._norm
    opt._norm = lambda g: calls.append(1) or norm(g)
    opt.step(np.ones(1000))
    assert calls == [1]                      # one extra read of the gradient
    opt2 = numadam.Adam(np.zeros(1000), clip_value=1.0)
    calls2 = []
    norm2 = opt2._norm
    opt2._norm = lambda g: calls2.append(1) or norm2(g)
    opt2.step(np.ones(1000))
    assert calls2 == []                      # clip_value: no pass of its own

    # minimize hands the step the norm it computed for gtol: no pass of the step's
    given = []
    step = _optimizers.Optimizer._step_flat

    def spy(self, g, norm=None):
        given.append(norm is not None)
        return step(self, g, norm)
    monkeypatch.setattr(_optimizers.Optimizer, "_step_flat", spy)
    numadam.minimize(lambda w: (float(w @ w), 2 * w), True, np.ones(5),
                     options={"clip_norm": 0.5, "maxiter": 5, "gtol": 0, "compiled": False})
    assert given == [True] * 5

    methods = flat(read("docs/methods/index.md"))
    assert "Both are fused into the step (no extra pass)" not in methods
    assert "extra" in methods.split("clip_norm", 1)[1][:600]


def test_skipped_steps_are_saved_by_save_but_not_held_by_state_dict(tmp_path):
    x = np.zeros(4)
    opt = numadam.Adam(x, nan_policy="skip")
    assert opt.step(np.full(4, np.nan)) is False and opt.skipped == 1
    opt.step(np.ones(4))
    sd = opt.state_dict()
    assert "skipped" not in sd and not any("param" in k for k in sd)
    fresh = numadam.Adam(np.zeros(4), nan_policy="skip")
    fresh.load_state_dict(sd)
    assert fresh.skipped == 0 and fresh.t == 1        # an in-memory round trip loses it
    path = tmp_path / "opt.npz"
    opt.save(path)
    again = numadam.Adam(np.zeros(4), nan_policy="skip")
    again.load(path)
    assert again.skipped == 1                         # the file keeps it
    # neither holds the parameters: load leaves x as it is
    assert np.all(again.params == 0) and not np.all(x == 0)
    page = flat(read("docs/guide/reliability.md"))
    assert "`load_state_dict()` are the in-memory form." not in page
    assert "`state_dict()` does not hold `skipped`" in page


def test_the_readme_says_checkpoints_leave_the_parameters_out():
    readme = flat(read("README.md"))
    assert "the parameters themselves are not in it" in readme.split("## Reliability", 1)[1]
    assert "not x itself" in readme.split("## Quickstart", 1)[1].split("##", 1)[0]


def test_a_batch_size_larger_than_the_data_gives_one_batch_of_all_samples():
    X = np.arange(10.0).reshape(10, 1)
    sizes = []

    def loss(w, Xb):
        sizes.append(len(Xb))
        return float(np.mean((Xb @ w) ** 2)), 2 * Xb.T @ (Xb @ w) / len(Xb)
    res = numadam.minimize(loss, True, np.ones(1), data=X, rng=0,
                           options={"batch_size": 1000, "epochs": 3})
    assert res.nit == 3 and res.epoch == 3 and set(sizes) == {10}
    with pytest.raises(ValueError, match="drop_last"):
        numadam.minimize(loss, True, np.ones(1), data=X, rng=0,
                         options={"batch_size": 11, "epochs": 1, "drop_last": True})
    doc = flat(numadam.minimize.__doc__)
    assert "at most the number of samples" not in doc
    assert "larger one gives one batch of all the samples" in doc


def test_nskip_and_history_exist_only_when_asked_for():
    fun = (lambda w: (float(w @ w), 2 * w))
    res = numadam.minimize(fun, True, np.ones(2), options={"maxiter": 3})
    assert "nskip" not in res and "history" not in res and "epoch" not in res
    res = numadam.minimize(fun, True, np.ones(2),
                           options={"maxiter": 3, "nan_policy": "skip", "history": 1})
    assert res.nskip == 0 and len(res.history["step"]) >= 1
    page = flat(read("docs/comparison.md"))
    assert "the same fields, plus res.history, res.nskip" not in page
    assert 'only with `options={"nan_policy": "skip"}`' in page
    assert 'only with `options={"history": k}`' in page


def _table(text, header_start):
    """The rows (lists of cells) of the Markdown table whose header starts so."""
    part = text.split(header_start, 1)[1]
    rows = []
    for line in part.splitlines()[2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


def _x(cell):
    return float(cell.rstrip("x"))


def test_the_benchmarks_sentence_on_the_cache_range_agrees_with_its_table():
    page = read("docs/benchmarks.md")
    rows = _table(page, "| dtype | parameters | numadam us/step")
    fused = {(r[0], float(r[1])): _x(r[6]) for r in rows}
    small = [v for (d, n), v in fused.items() if n in (1e4, 1e5)]
    at_1e6 = [v for (d, n), v in fused.items() if n == 1e6]
    text = flat(page)
    assert "1.25-1.5x" not in text
    claim = f"by {min(small):.1f}-{max(small):.0f}x at 1e4 and 1e5 parameters"
    assert claim in text, claim
    claim = f"by {min(at_1e6):.2f}-{max(at_1e6):.2f}x at 1e6"
    assert claim in text, claim


def test_the_memory_bandwidth_claims_start_where_the_tables_say():
    readme = read("README.md")
    rows = _table(readme, "| dtype | parameters | numadam us/step | of the in-process ceiling")
    at_limit = {float(r[1]) for r in rows if r[3] != "—" and float(r[3]) >= 0.95}
    below = {float(r[1]) for r in rows if r[3] != "—" and float(r[3]) < 0.95}
    assert min(at_limit) == 1e7 and max(below) < 1e7
    index = flat(read("docs/index.md"))
    assert "memory bandwidth from about 1e7 parameters" in index
    comparison = flat(read("docs/comparison.md"))
    assert "at memory bandwidth (" not in comparison
    assert "memory bandwidth from about 1e7 parameters" in comparison


def test_the_comparison_claims_no_fastest_step_and_lists_torch_optim():
    page = flat(read("docs/comparison.md"))
    assert "fastest plain step" not in page
    for name in ("Adadelta", "Adafactor", "Adagrad", "Adam", "AdamW", "Adamax", "ASGD",
                 "LBFGS", "Muon", "NAdam", "RAdam", "RMSprop", "Rprop", "SGD", "SparseAdam"):
        assert f"`{name}`" in page, name
    # the case the page now names: plain SGD on 1e3 parameters is slower than NumPy
    full = ROOT / "bench" / "results" / "cpu-vm-20261122-183345.md"   # the pages' source
    rows = [line for line in full.read_text().split("### float32, n = 1e+03", 1)[1]
            .splitlines() if line.startswith("| sgd |")]
    assert "(0.90x)" in rows[0] and "0.9x NumPy" in page


LOOPS_RESULTS = "bench/results/cpu-vm-20261206-issue15-tiny-loops.md"
CURVES_RESULTS = "bench/results/many_curves-vm-20261202.md"
CABI_RESULTS = "bench/results/cpu-vm-20261203-issue15-cabi.md"
#: the compile latency and the cached first calls after the loops' compile was shortened
LATENCY_RESULTS = "bench/results/cpu-vm-20261207-compile-latency.md"
FIRST_CALL_RESULTS = "bench/results/cpu-vm-20261207-first-call.md"


def _loop_figures():
    """The loop, many-problems and latency figures of the results file the
    README and the compiled-loops guide name, rounded as the pages quote them."""
    text = read(LOOPS_RESULTS)

    def number(pattern):
        return float(re.search(pattern, text).group(1).replace(",", ""))

    row = lambda label: number(r"\| " + re.escape(label) + r" \| ([\d.]+) \|")  # noqa: E731
    compiled = row("numadam compiled loop (njit fun)")
    fori = row("optax.adam, whole loop in jax.jit (fori_loop)")
    curves = read(CURVES_RESULTS)
    n = {key: number(pattern) for key, pattern in {
        "plain": r"minimize, plain: ([\d.]+) us",
        "hand": r"compiled / hand-written: ([\d.]+)x",
        "torch": r"torch / compiled: ([\d.]+)x",
        "jit": r"Python loop / compiled: ([\d.]+)x",
        "ordinary": r"ordinary / compiled: ([\d.]+)x",
        "many": r"minimize_many problems/s: ([\d,.]+)",
        "speedup": r"speed-up: ([\d.]+)",
        "import": r"`import numadam` \| ([\d.]+)",
        "cold": r"minimize \(NumPy fun\), first call \| ([\d.]+)",
        "warm": r"minimize \(NumPy fun\), first call \| [\d.]+ \| ([\d.]+)"}.items()}
    latency = read(LATENCY_RESULTS)
    n.update({key: float(re.search(pattern, latency).group(1)) for key, pattern in {
        "loop_warm": r"compiled loop \(njit fun\), first call \| [\d.]+ \| ([\d.]+)",
        "many_warm": r"minimize_many, first call \| [\d.]+ \| ([\d.]+)"}.items()})
    t_curves = float(re.search(r"curves in ([\d.]+) s", curves).group(1))
    x_ls = re.search(r"is (\d+)x faster than the least_squares", curves).group(1)
    return {
        "plain": f"{n['plain']:.1f} us per iteration",
        "compiled": f"{compiled:.2f} us per iteration",
        "hand": f"{n['hand']:.1f}x a hand-written",
        "torch": f"{n['torch']:.0f}x less than a torch.optim loop",
        "jit": f"{n['jit']:.0f}x less than optax",
        "ordinary": f"{n['ordinary']:.0f}x less than the ordinary loop",
        "fori": f"{compiled / fori:.1f}x more than optax with the whole loop",
        "many": f"solves {round(n['many'], -3):,.0f} small quadratics per second "
                f"({n['speedup']:.0f}x",
        "import": f"`import numadam` takes {n['import']:.2f} s",
        "cold": f"compiles for {n['cold']:.1f} s, {n['warm']:.1f} s from the disk cache",
        "loops": f"({n['loop_warm']:.1f} s and {n['many_warm']:.1f} s",
        "curves": f"fits 100,000 exponential decays in {t_curves:.1f} s",
        "curves_ls": f"{x_ls}x faster than a loop of `scipy.optimize.least_squares`",
    }


def test_the_readme_quotes_the_loop_figures_of_its_results_file():
    # item 9: the loop and latency figures are those of a named results file
    readme = flat(read("README.md"))
    assert LOOPS_RESULTS in readme and CURVES_RESULTS in readme
    figures = _loop_figures()
    for key, phrase in figures.items():
        assert phrase in readme, (key, phrase)
    # the compiled loop's figure, in both places the README gives it
    for where in ("on 2-D Rosenbrock about", "the compiled loop costs"):
        assert f"{where} {figures['compiled']}" in readme, where
    guide = flat(read("docs/guide/compiled.md"))
    assert LOOPS_RESULTS in guide and CURVES_RESULTS in guide
    # the compiled loop's objectives, rounded to 10 ns in the guide, as they are
    # in the README; the C pointer's figures before the objective was inlined
    # are those of the C ABI results file
    text = read(LOOPS_RESULTS)
    for label, phrase in (("njit out= objective", "an `out=` njit objective about"),
                          ("hand-written cfunc", "a hand-written `cfunc` about"),
                          ("optax.adam, whole loop in jax.jit (fori_loop)",
                           "`fori_loop` about")):
        part = text.split("the compiled loop's objectives", 1)[1]
        ns = float(re.search(re.escape(label) + r"[^|]*\| ([\d.]+) \|", part).group(1))
        assert f"{phrase} {round(ns, -1):.0f} ns" in guide, label
    cabi = read(CABI_RESULTS)
    assert CABI_RESULTS in guide
    for label, phrase in (("hand-written `numba.cfunc` objective", "a hand-written `cfunc` about"),
                          ("`njit` `out=` objective", "through the C pointer about"),
                          ("optax.adam, whole loop", "`jax.jit` about")):
        ns = float(re.search(re.escape(label) + r"[^|]*\| ([\d.]+) \|", cabi).group(1))
        assert f"{phrase} {round(ns, -1):.0f} ns" in guide, label
    assert LOOPS_RESULTS in flat(read("docs/benchmarks.md"))


def test_the_readme_quotes_issue_15s_figures_from_its_results_file():
    """The one-pass minimize, the many-problems table, the compiled loop's
    objectives and the cached first calls: digits of the named results file."""
    readme = flat(read("README.md"))
    text = read(LOOPS_RESULTS)

    def cell(label, after=""):
        part = text.split(after, 1)[1] if after else text
        return re.search(re.escape(label) + r"[^|\n]*\| ([\d.]+) \|", part).group(1)

    objectives = "the compiled loop's objectives"
    phrases = [
        "1e7 float32 parameters an iteration is " + re.search(
            r"\| minimize, gtol=0 \(one pass\) \| [\d.]+ \| ([\d.]+) \|", text).group(1)
        + "x torch's fused",
        f"({cell('numadam compiled loop (njit fun, out=)')} us with an `out=` objective)",
        f"{cell('njit out= objective', objectives)} ns per iteration with an `out=` njit",
        f"{cell('C function (cc -O2, ctypes)', objectives)} ns with a C function",
        f"{cell('optax.adam, whole loop in jax.jit (fori_loop)', objectives)} ns in optax",
        f"take {cell('minimize_many, out= fun', 'side by side')} s with an `out=` objective",
        f"against {cell('jax.jit(jax.vmap(fori_loop)), optax.adam')} s for `jax.jit",
        f"{cell('hand-written prange loop, same out= fun')} s for a hand-written `prange` loop",
        "new process " + " s and ".join(re.search(
            re.escape(label) + r"[^|]*\| [\d.]+ \| ([\d.]+) \|", read(FIRST_CALL_RESULTS)
        ).group(1) for label in ("minimize, compiled loop (Rosenbrock",
                                 "minimize_many (100 quadratics")) + " s",
        FIRST_CALL_RESULTS, LATENCY_RESULTS,
    ]
    for phrase in phrases:
        assert phrase in readme, phrase


def test_the_out_figures_are_those_of_their_results_file():
    """The README's and the guide's out= figures are in the results file they name."""
    name = LOOPS_RESULTS
    results = read(name)
    for page, start, end in (("README.md", "No allocation per step", name),
                             ("docs/guide/compiled.md", "Measured (`" + name,
                              "The figures before")):
        text = flat(read(page))
        assert name in text, page
        i = text.index(start)
        part = text[i:text.index(end, i + 1)]
        figures = re.findall(r"\d+\.\d{2,}", part)
        assert len(figures) >= 4, (page, figures)
        for fig in figures:
            assert fig in results, (page, fig)


SECOND_FAMILY_RESULTS = {
    "bench/results/cpu-vm-20261206-issue16-step.md": ("lion", "adabelief", "yogi", "adan"),
    "bench/results/cpu-vm-20261206-issue16-step-adopt-ademamix.md": ("adopt", "ademamix"),
    "bench/results/cpu-vm-20261206-issue16-step-torch-trio.md": ("adadelta", "rprop",
                                                                 "asgd"),
    "bench/results/cpu-vm-20261206-issue16-step-schedule-free.md": ("schedule_free_adamw",),
}


def _rows_at(text, size):
    """``{(method, dtype): {column: cell}}`` of a results file's step tables at ``size``."""
    rows = {}
    for sec in re.split(r"\n### ", text)[1:]:
        dt, n = re.match(r"(float\d+), n = (\S+)", sec.splitlines()[0]).groups()
        if n != size:
            continue
        lines = [ln for ln in sec.splitlines() if ln.startswith("|")]
        cols = [c.strip() for c in lines[0].strip("|").split("|")]
        for ln in lines[2:]:
            cells = [c.strip() for c in ln.strip("|").split("|")]
            rows[cells[0], dt] = dict(zip(cols, cells))
    return rows


def test_the_cautious_table_is_its_results_file():
    page = read("docs/benchmarks.md")
    path = "bench/results/cpu-vm-20261206-issue16-step-cautious.md"
    assert path.split("/")[-1] in page
    text = read(path)
    rows = {size: _rows_at(text, size) for size in ("1e+07", "3e+07")}
    for m, words in (("adamw", 7), ("adamw+cautious", 9), ("lion", 5),
                     ("lion+cautious", 7)):
        cells = [rows[size][m, dt]["of ceiling"] for dt in ("float32", "float64")
                 for size in ("1e+07", "3e+07")]
        assert f"| {m} ({words} words) | " + " | ".join(cells) + " |" in page, m


def test_the_second_family_table_is_its_results_files():
    """docs/benchmarks.md's 1e7 table of the new methods, cell for cell."""
    import sys
    sys.path.insert(0, str(ROOT))
    from bench.peers import WORDS
    page = read("docs/benchmarks.md")
    torch_ref = ("schedule_free_adamw", "adadelta", "rprop", "asgd", "lion", "adopt")
    for path, methods in SECOND_FAMILY_RESULTS.items():
        assert rel(ROOT / path).split("/")[-1] in page
        rows = _rows_at(read(path), "1e+07")
        for m in methods:
            cells = [m, str(WORDS[m])]
            for dt in ("float32", "float64"):
                r = rows[m, dt]
                ref = r["torch foreach us (x)" if m in torch_ref else "optax us (x)"]
                cells += [r["of ceiling"],
                          re.search(r"\(([\d.]+x)\)", r["numpy us (x)"]).group(1),
                          re.search(r"\(([\d.]+x)\)", ref).group(1)]
            assert "| " + " | ".join(cells) + " |" in page, m
            assert float(rows[m, "float64"]["of ceiling"]) >= 0.95, m


def test_the_many_arrays_table_is_its_results_file():
    page = read("docs/benchmarks.md")
    path = "bench/results/cpu-vm-20261206-issue17-arrays.md"
    assert path in page
    text = read(path)
    rows = [line for line in text.splitlines() if line.startswith("| 1e+0")]
    assert len(rows) == 8
    for row in rows:
        assert row in page, row
        assert float(row.split("|")[-2]) >= 1.0, row      # >= torch fused
    ratio = re.search(r"100 arrays of 1e3 elements / one array of 1e5: ([\d.]+)x", text)
    assert f"cost {ratio.group(1)}x one array of 1e5" in page
    assert float(ratio.group(1)) <= 2.0


def test_the_two_pass_table_is_its_results_file():
    """docs/benchmarks.md's LAMB and Prodigy rows, cell for cell."""
    page = read("docs/benchmarks.md")
    path = "bench/results/cpu-vm-20261206-issue17-step-two-pass.md"
    assert path in page
    rows = _rows_at(read(path), "1e+07")
    ref = {"lamb": "optax us (x)", "prodigy": "torch foreach us (x)"}
    for m, words in (("lamb", 11), ("prodigy", 14)):
        cells = [m, str(words)]
        for dt in ("float32", "float64"):
            r = rows[m, dt]
            cells += [r["of ceiling"],
                      re.search(r"\(([\d.]+x)\)", r["numpy us (x)"]).group(1),
                      re.search(r"\(([\d.]+x)\)", r[ref[m]]).group(1)]
        assert "| " + " | ".join(cells) + " |" in page, m



def test_the_matrix_methods_table_is_its_results_file():
    page = read("docs/benchmarks.md")
    path = "bench/results/cpu-vm-20261206-issue17-matrix.md"
    assert path in page
    rows = [line for line in read(path).splitlines()
            if line.startswith(("| muon ", "| adafactor "))]
    assert len(rows) == 6
    for row in rows:
        assert row in page, row


def test_the_state_precision_tables_are_their_results_file():
    """docs/benchmarks.md's state-precision tables, row for row, and the README's
    figures from the same file."""
    page = read("docs/benchmarks.md")
    path = "bench/results/cpu-vm-20261207-issue18-precision-7.md"
    assert path in page
    text = read(path)
    rows = [line for line in text.splitlines()
            if line.startswith(("| 1e+0", "| 3e+07", "| m (signed)", "| v (unsigned)",
                                "| Adam paper", "| Rosenbrock, 8", "| MLP on digits"))]
    assert len(rows) == 4 + 4 + 9
    for row in rows:
        assert row in page, row
    big = [line for line in rows if line.startswith("| 3e+07")][0].split("|")
    bf16, int8 = big[5].strip(), big[6].strip()
    assert f"bfloat16 state steps {bf16}x faster than float32 state and int8 {int8}x" in page
    readme = flat(read("README.md"))
    assert f"{bf16}x" in readme and f"{int8}x" in readme and path in readme
