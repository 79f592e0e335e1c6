"""The architecture rules of docs/design.md, checked on the source.

- no import circle between numadam's modules (imports inside functions too:
  a function-level import that closes a circle only hides it);
- no function body longer than 80 lines (docstrings aside) in numadam/;
- every module that declares methods is imported by numadam._methods, and
  every method is declared exactly once.
"""
import ast
import pathlib

import numadam

ROOT = pathlib.Path(numadam.__file__).resolve().parent
LIMIT = 80


def _modules():
    mods = {}
    for p in ROOT.rglob("*.py"):
        parts = p.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        mods[name] = p
    return mods


def _imports(mods, name):
    """The numadam modules ``name`` imports anywhere (the package root aside:
    ``import numadam`` for a public name is not a circle of modules)."""
    p = mods[name]
    pkg = name if p.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(p.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[:len(pkg.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            for a in node.names:
                full = f"{mod}.{a.name}"
                out.add(full if full in mods else mod)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m in mods and m not in (name, "numadam")}


def test_no_import_circle():
    mods = _modules()
    edges = {m: _imports(mods, m) for m in mods}
    assert "numadam._inputs" in edges["numadam._minimize"]      # the graph is real
    circles = []
    for a in edges:
        for b in edges[a]:
            stack, seen = [b], set()
            while stack:
                m = stack.pop()
                if m == a:
                    circles.append(f"{a} -> {b} -> ... -> {a}")
                    break
                if m not in seen:
                    seen.add(m)
                    stack.extend(edges[m])
    assert not circles, circles


def _long_functions(limit):
    for p in sorted(ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(p.read_text())):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            body = node.body
            if (isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                body = body[1:]
            if body and body[-1].end_lineno - body[0].lineno + 1 > limit:
                yield f"{p.relative_to(ROOT.parent)}:{node.lineno} {node.name}"


def test_no_function_body_over_80_lines():
    assert list(_long_functions(20))            # the measure finds long ones
    assert list(_long_functions(LIMIT)) == []


def test_every_method_is_declared_once_in_its_own_module():
    from numadam import _methods
    declared = {}
    for p in (ROOT / "_methods").glob("*.py"):
        if p.name.startswith("_"):
            continue
        text = p.read_text()
        assert "register(" in text, p.name
        assert "from . import" in (ROOT / "_methods" / "__init__.py").read_text()
        assert p.stem in (ROOT / "_methods" / "__init__.py").read_text(), p.name
        tree = ast.parse(text)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Method":
                name = node.args[0].value
                assert name not in declared, (name, declared.get(name), p.name)
                declared[name] = p.name
    assert set(declared) == set(_methods.METHODS)
