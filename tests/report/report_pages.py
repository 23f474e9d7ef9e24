"""Helpers the report tests import by name (a module of its own: ``from conftest import ...`` resolves to
whichever conftest pytest imported last, tests/sync's when both folders are collected)."""

from __future__ import annotations

from pathlib import Path

from report_records import ROOT

GOLDEN = ROOT / "golden"


def open_page(page, path: Path):
    page.goto(path.resolve().as_uri())
    return page


def load_lazy_images(page, selector: str) -> None:
    """Scroll each image into view so `loading=lazy` fetches it, then wait until all have decoded."""
    page.evaluate(
        """async sel => { for (const e of document.querySelectorAll(sel)) {
            e.scrollIntoView();
            await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
        } }""", selector)
    page.wait_for_function(
        "sel => Array.from(document.querySelectorAll(sel)).every(i => i.complete && i.naturalWidth > 0)", arg=selector
    )
