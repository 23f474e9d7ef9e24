"""Turning view data into HTML files: one jinja2 environment, autoescaped, strict.

Every page is a single file that works from ``file://``: the stylesheet and
script are inlined, and a Content-Security-Policy allows only that one
script (by its sha256), no network and images from the page's own folder.
Escaping is the defence against attacker-controlled metadata; the policy is
a second fence in case a template ever forgets.
"""

from __future__ import annotations

import base64
import hashlib
import math
from importlib import resources
from pathlib import Path

import jinja2
from markupsafe import Markup

from evalkit import __version__
from evalkit.paths import atomic_write_text


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("evalkit.report", "templates"),
        autoescape=True,  # every {{ }} is escaped, whatever the file's name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = num
    env.filters["signed"] = signed
    return env


def write_page(out: Path, template: str, script: str, **context) -> Path:
    """Render ``template`` with the package's ``script`` (a .js file in templates/) inlined."""
    css = _asset("report.css")
    js = _asset(script)
    digest = base64.b64encode(hashlib.sha256(js.encode("utf-8")).digest()).decode()
    csp = (
        "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
        f"script-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'"
    )
    html = ENV.get_template(template).render(
        css=Markup(css), script=Markup(js), csp=csp, evalkit_version=__version__, **context
    )
    return atomic_write_text(Path(out), html)


def num(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def signed(value, digits: int = 3) -> str:
    return "—" if value is None else f"{value:+.{digits}f}"


ENV = _env()


def _asset(name: str) -> str:
    return resources.files("evalkit.report").joinpath("templates", name).read_text(encoding="utf-8")
