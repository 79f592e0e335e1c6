"""Sphinx helpers of numadam's documentation.

* ``numadam-defaults`` directive: the table of a method's options, defaults
  and meanings, generated from the method registry (``numadam.METHODS``), so
  the method pages cannot drift from the code.
* :func:`saved_figure_scraper`: a sphinx-gallery image scraper for the
  examples that save their figure to a file named on the command line
  (``conf.py``'s ``reset_argv`` points them into :data:`SAVED`).
"""
import os
import shutil
import time

from docutils import nodes
from docutils.parsers.rst import Directive
from docutils.statemachine import StringList

#: where the gallery's examples save their figures (see conf.py's reset_argv)
SAVED = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "_build",
                     "gallery-saved")


def saved_path(name):
    """The file an example named ``name`` should save its figure to."""
    os.makedirs(SAVED, exist_ok=True)
    return os.path.join(SAVED, os.path.splitext(name)[0] + ".png")


def reset_argv(gallery_conf, script_vars):
    """Command lines of the examples: small sizes, figures where the scraper looks."""
    name = os.path.basename(script_vars["src_file"])
    if name == "many_curves.py":
        return ["2000"]
    if name in ("adam_paper_logistic.py", "amsgrad_counterexample.py"):
        return [saved_path(name)]
    return []


_seen = {}


def saved_figure_scraper(block, block_vars, gallery_conf):
    """Embed the PNGs an example wrote into :data:`SAVED` since the last look."""
    from sphinx_gallery.scrapers import figure_rst
    if not os.path.isdir(SAVED):
        return ""
    paths = []
    for name in sorted(os.listdir(SAVED)):
        src = os.path.join(SAVED, name)
        stamp = os.path.getmtime(src)
        if _seen.get(src) == stamp or stamp < _START:
            continue
        _seen[src] = stamp
        dest = next(block_vars["image_path_iterator"])
        shutil.copyfile(src, dest)
        paths.append(dest)
    return figure_rst(paths, gallery_conf["src_dir"])


_START = time.time()


class MethodDefaults(Directive):
    """``.. numadam-defaults:: adam``: a table of the method's options."""

    required_arguments = 1
    has_content = False

    def run(self):
        import numadam
        from numadam._methods import _DESCRIPTIONS, get_method
        m = get_method(self.arguments[0])
        rows = [".. list-table::", "   :header-rows: 1", "   :widths: 20 18 62", "",
                "   * - option", "     - default", "     - meaning"]
        for name, value in m.defaults.items():
            if name in m.fixed:
                continue
            rows += [f"   * - ``{name}``", f"     - ``{value!r}``",
                     f"     - {_DESCRIPTIONS.get(name, '')}"]
        fixed = ", ".join(f"``{k}={v!r}``" for k, v in m.fixed.items())
        cls = {c.method: c.__name__ for c in vars(numadam).values()
               if isinstance(c, type) and getattr(c, "method", None)}.get(m.name)
        lines = [f"Source: {m.reference}.", ""]
        if fixed:
            lines += [f"Fixed by this method: {fixed}.", ""]
        lines += [f"Use it as ``numadam.minimize(..., method=\"{m.name}\")``"
                  + (f" or :class:`numadam.{cls}`." if cls else "."), ""]
        node = nodes.section()
        self.state.nested_parse(StringList(lines + rows), self.content_offset, node)
        return node.children


def setup(app):
    app.add_directive("numadam-defaults", MethodDefaults)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
