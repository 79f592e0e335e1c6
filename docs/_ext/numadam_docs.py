"""Sphinx helpers of numadam's documentation.

* ``numadam-defaults`` directive: the table of a method's options, defaults
  and meanings, generated from the method registry (``numadam.METHODS``), so
  the method pages cannot drift from the code.
* :func:`saved_figure_scraper`: a sphinx-gallery image scraper for the
  examples that save their figure to a file named on the command line
  (``conf.py``'s ``reset_argv`` points them into :data:`SAVED`).
"""
import os
import re
import shutil
import time

from docutils import nodes
from sphinx import addnodes
from docutils.parsers.rst import Directive

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
    if name in ("adam_paper_logistic.py", "amsgrad_counterexample.py", "mlp_digits.py"):
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


def _inline(text):
    """Paragraph children for ``text`` with ``double-backquoted`` spans as literals."""
    parts = re.split(r"``(.+?)``", text)
    return [nodes.literal(p, p) if k % 2 else nodes.Text(p)
            for k, p in enumerate(parts) if p]


def _paragraph(*children):
    para = nodes.paragraph()
    for child in children:
        para += child if isinstance(child, nodes.Node) else _inline(child)
    return para


def _class_reference(cls):
    """A cross-reference to ``numadam.cls`` (resolved like :class: in any source)."""
    target = f"numadam.{cls}"
    ref = addnodes.pending_xref("", refdomain="py", reftype="class", reftarget=target,
                                refexplicit=False, refwarn=True)
    ref += nodes.literal(target, target, classes=["xref", "py", "py-class"])
    return ref


def _table(header, rows, widths):
    """A docutils table node (built directly: the directive runs inside MyST
    Markdown pages too, where nested reStructuredText would not parse)."""
    table = nodes.table()
    group = nodes.tgroup(cols=len(header))
    table += group
    for width in widths:
        group += nodes.colspec(colwidth=width)

    def row(cells):
        r = nodes.row()
        for cell in cells:
            entry = nodes.entry()
            entry += _paragraph(cell)
            r += entry
        return r

    head = nodes.thead()
    head += row(header)
    body = nodes.tbody()
    for cells in rows:
        body += row(cells)
    group += head
    group += body
    return table


class MethodDefaults(Directive):
    """``numadam-defaults`` directive (``.. numadam-defaults:: adam`` in
    reStructuredText, a ```` ```{numadam-defaults} adam ```` fence in MyST): the
    method's source, fixed options and a table of its options with defaults."""

    required_arguments = 1
    has_content = False

    def run(self):
        import numadam
        from numadam._methods import get_method
        m = get_method(self.arguments[0])
        rows = [(f"``{name}``", f"``{value!r}``", m.description(name))
                for name, value in m.defaults.items() if name not in m.fixed]
        cls = {c.method: c.__name__ for c in vars(numadam).values()
               if isinstance(c, type) and getattr(c, "method", None)}.get(m.name)
        out = [_paragraph(f"Source: {m.reference}.")]
        if m.fixed:
            fixed = ", ".join(f"``{k}={v!r}``" for k, v in m.fixed.items())
            out.append(_paragraph(f"Fixed by this method: {fixed}."))
        use = [f'Use it as ``numadam.minimize(..., method="{m.name}")``']
        if cls:
            use += [" or ", _class_reference(cls), "."]
        else:
            use[0] += "."
        out.append(_paragraph(*use))
        out.append(_table(("option", "default", "meaning"), rows, (20, 18, 62)))
        return out


def setup(app):
    app.add_directive("numadam-defaults", MethodDefaults)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
