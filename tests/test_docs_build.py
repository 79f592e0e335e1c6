"""The built documentation: no unrendered markup, math that reads offline, no
build machine's paths.

Checks the HTML in ``$NUMADAM_BUILT_DOCS`` (the README's docs commands set it
after their ``sphinx-build``), else builds the docs itself into a temporary
directory when Sphinx and the docs extras are installed, else skips.
"""
import html.parser
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

#: reStructuredText / MyST that a page shows as text when it was not parsed
UNRENDERED = re.compile(
    r"(^|\s)\.\. [A-Za-z][\w-]*::"          # .. directive::
    r"|:(class|func|meth|mod|data|attr|obj|ref|doc|exc|term|math):`"   # :role:`
    r"|```\{[\w-]+\}"                        # ```{directive} of MyST
    r"|\{(class|func|meth|mod|data|attr|ref|doc)\}`"                   # MyST {role}`
    r"|:header-rows:|list-table::")


class _Text(html.parser.HTMLParser):
    """The page's text nodes, leaving out code, scripts and styles."""

    SKIP = {"script", "style", "pre", "code", "kbd", "samp", "tt"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.depth, self.parts = 0, []

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.depth += 1

    def handle_endtag(self, tag):
        if tag in self.SKIP and self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if not self.depth:
            self.parts.append(data)


@pytest.fixture(scope="module")
def html_dir(tmp_path_factory):
    given = os.environ.get("NUMADAM_BUILT_DOCS")
    if given:
        path = pathlib.Path(given)
        assert (path / "index.html").exists(), f"NUMADAM_BUILT_DOCS={given} holds no build"
        return path
    for module in ("sphinx", "pydata_sphinx_theme", "sphinx_gallery", "numpydoc",
                   "myst_parser"):
        pytest.importorskip(module, reason='the docs extras: python -m pip install -e ".[docs]"')
    out = tmp_path_factory.mktemp("html")
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q",
                           "-b", "html", str(ROOT / "docs"), str(out)],
                          capture_output=True, text=True, timeout=1200, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out


def _pages(html_dir):
    pages = sorted(p for p in html_dir.rglob("*.html") if "_static" not in p.parts)
    assert len(pages) > 20
    return pages


def test_no_page_shows_unrendered_directives_or_roles(html_dir):
    bad = {}
    for page in _pages(html_dir):
        parser = _Text()
        parser.feed(page.read_text(encoding="utf-8"))
        text = "".join(parser.parts)
        found = sorted({m.group(0).strip() for m in UNRENDERED.finditer(text)})
        if found:
            bad[str(page.relative_to(html_dir))] = found
    assert not bad, bad


def test_method_pages_render_their_options_table(html_dir):
    for name in ("adam", "adamw", "amsgrad", "adamax", "nadam", "radam", "sgd", "rmsprop",
                 "adagrad", "schedule_free_adamw", "adadelta", "rprop", "asgd", "lion", "adopt", "ademamix", "adabelief", "yogi", "adan"):
        page = (html_dir / "methods" / f"{name}.html").read_text(encoding="utf-8")
        assert "<table" in page and "<th" in page and ">default<" in page, name
        assert "<code class=\"docutils literal" in page, name


def test_math_reads_offline(html_dir):
    page = (html_dir / "methods" / "adam.html").read_text(encoding="utf-8")
    scripts = re.findall(r"<script[^>]*src=\"([^\"]*mathjax[^\"]*)\"", page, re.I)
    assert scripts, "no MathJax on a page with math"
    for src in scripts:
        assert not re.match(r"(https?:)?//", src), f"MathJax from the network: {src}"
        assert (page and (html_dir / "methods" / src.split("?")[0]).resolve().exists()), src


def test_no_build_machine_paths(html_dir):
    needles = {str(ROOT), str(html_dir), os.path.expanduser("~")} - {"/", "~"}
    for page in _pages(html_dir):
        text = page.read_text(encoding="utf-8")
        for needle in needles:
            assert needle not in text, (page.name, needle)
