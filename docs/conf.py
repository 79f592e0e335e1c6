"""Sphinx configuration of numadam's documentation.

Build: ``python -m sphinx -W -b html docs docs/_build/html`` (after
``pip install -e ".[docs]"``).  Pages are MyST Markdown; the API reference is
generated from the numpydoc docstrings; the gallery is built from examples/
by sphinx-gallery, running each example (small sizes: see ``reset_argv``).
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "_ext"))
sys.path.insert(0, os.path.abspath(os.path.join(HERE, os.pardir)))

import numadam  # noqa: E402

project = "numadam"
author = "The numadam developers"
copyright = "2026, The numadam developers"
release = version = numadam.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    # MathJax served from the build (_static/mathjax), not a CDN: the docs read offline
    "sphinx-mathjax-offline",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "numadam_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.json", "auto_examples/*.md5",
                    "**/sg_execution_times.rst"]
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

autosummary_generate = True
autodoc_default_options = {"members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks = {"GL08"}   # every public object has a docstring
# the schedules' ``lr`` methods implement Schedule.lr, documented there
numpydoc_validation_exclude = {r"\.schedules\.\w+\.lr$"}

intersphinx_mapping = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable", None),
    "scipy": ("https://docs.scipy.org/doc/scipy", None),
}
# The build must work offline (CI has no network): intersphinx inventories
# are optional, and a failed fetch must not turn into an error under -W.
if os.environ.get("NUMADAM_DOCS_OFFLINE", "1") == "1":
    intersphinx_mapping = {}


sphinx_gallery_conf = {
    "examples_dirs": os.path.join(os.pardir, "examples"),
    "gallery_dirs": "auto_examples",
    # run every example but the MPI and Dask ones (they need the mpi/dask extras
    # and, for MPI, mpiexec): those are shown, not run
    "filename_pattern": r"/(?!mpi_|dask_)[^/]*\.py$",
    "reset_argv": "numadam_docs.reset_argv",
    "image_scrapers": ("matplotlib", "numadam_docs.saved_figure_scraper"),
    "download_all_examples": False,
    "remove_config_comments": True,
    "plot_gallery": "True",
    "write_computation_times": False,
}

html_theme = "pydata_sphinx_theme"
html_title = f"numadam {version}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_static_path = []
