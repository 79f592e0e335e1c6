"""How to install an optional extra, worded once for every error message.

numadam is installed from a checkout (or from a wheel built from one), not
from the package index, so the hints name that form.
"""


def install_hint(extra):
    """The install command of the optional ``extra`` (e.g. ``"cuda"``)."""
    return (f'python -m pip install -e ".[{extra}]" in a numadam checkout, or '
            f'python -m pip install "dist/numadam-VERSION-py3-none-any.whl[{extra}]" '
            f"with a wheel built from one (README.md, Install)")
