"""Every public name has a numpydoc docstring with an example that runs.

The examples themselves run under ``--doctest-modules`` (pytest's addopts);
this file checks that each public object has one, that the doctest collector
reaches it (its ``__module__`` is a numadam module), and that the method pages
and the API reference of the Sphinx site name every method and public object.
"""
import doctest
import inspect
import pathlib

import pytest

import numadam
import numadam.cuda
import numadam.dask
import numadam.mpi
import numadam.problems
import numadam.schedules

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def public_objects():
    out = {}
    for name in numadam.__all__:
        obj = getattr(numadam, name)
        if callable(obj) and not isinstance(obj, type(numadam)):
            out[f"numadam.{name}"] = obj
    for mod in (numadam.schedules, numadam.problems, numadam.cuda, numadam.mpi, numadam.dask):
        for name in getattr(mod, "__all__", None) or [n for n in vars(mod)
                                                      if not n.startswith("_")]:
            obj = getattr(mod, name)
            if (inspect.isfunction(obj) or inspect.isclass(obj)) and \
                    obj.__module__.startswith("numadam"):
                out[f"{mod.__name__}.{name}"] = obj
    return out


PUBLIC = public_objects()


def test_the_list_of_public_objects_is_complete():
    assert len(PUBLIC) >= 30
    for must in ("numadam.minimize", "numadam.minimize_many", "numadam.Adam",
                 "numadam.schedules.cosine", "numadam.problems.logistic_loss",
                 "numadam.cuda.is_available"):
        assert must in PUBLIC


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_public_object_has_numpydoc_docstring_with_a_runnable_example(name):
    obj = PUBLIC[name]
    doc = inspect.getdoc(obj)
    assert doc, f"{name} has no docstring"
    assert "Examples\n--------" in doc, f"{name}'s docstring has no Examples section"
    if not inspect.isclass(obj) or obj.__init__ is object.__init__:
        pass
    if "Parameters\n----------" not in doc:
        sig = inspect.signature(obj)
        assert not [p for p in sig.parameters if p not in ("self", "args", "kwargs")], \
            f"{name} takes parameters but documents none"
    examples = doctest.DocTestParser().get_examples(doc)
    assert examples, f"{name}'s Examples section has no >>> lines"
    # the doctest collector of --doctest-modules finds it in its own module
    assert obj.__module__.startswith("numadam"), obj.__module__


@pytest.mark.parametrize("name", sorted(numadam.METHODS))
def test_every_method_has_a_page_with_its_update_rule(name):
    page = (DOCS / "methods" / f"{name}.md").read_text()
    assert f"{{numadam-defaults}} {name}" in page      # defaults from the registry
    assert "$$" in page                                # the update rule in LaTeX
    assert "arxiv" in page.lower() or "Paper" in page or "Sources" in page
    assert f"\n{name}\n" in (DOCS / "methods" / "index.md").read_text()


def test_api_reference_lists_every_public_object():
    api = (DOCS / "api.rst").read_text()
    missing = [name for name in PUBLIC if f"   {name}\n" not in api]
    assert not missing, f"docs/api.rst lacks {missing}"


def test_the_reliability_guide_code_blocks_run():
    """Every ```python block of docs/guide/reliability.md runs (they assert what the
    page claims)."""
    text = (DOCS / "guide" / "reliability.md").read_text()
    blocks = [part.split("```", 1)[0] for part in text.split("```python\n")[1:]]
    assert len(blocks) >= 2
    for k, block in enumerate(blocks):
        exec(compile(block, f"reliability.md block {k}", "exec"), {})
