"""A widget whose content changes twice before its idle handler runs, with a layout between the
two changes, must still end up as tall as its last content (ui/widgets/fitted_static.py).

The interleaving is forced here with two of Textual's private steps (a sibling's idle refresh,
then the screen's layout): on a loaded machine the event loop produces it by itself, and CI's
snapshot of the dashboard at 120x40 once showed every domain card cut to three lines.
"""

from __future__ import annotations

import test_ui_app
from test_ui_app import make_app
from textual.app import App, ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Static
from tui_helpers import settle

from tlsrpt_tui.store.database import Store
from tlsrpt_tui.ui.live import CheckView
from tlsrpt_tui.ui.widgets.fitted_static import FittedStatic
from tlsrpt_tui.ui.widgets.status_panel import DomainCard

demo_template = test_ui_app.demo_template
demo_store = test_ui_app.demo_store


def layout_between(sibling: Widget) -> None:
    """The sibling's pending layout runs before the other widget's idle handler does."""
    sibling.refresh(layout=True)
    sibling._check_refresh()  # clears the ancestors' arrangements, as its idle handler does
    sibling.screen._refresh_layout(sibling.screen.size)


class Panel(App[None]):
    def compose(self) -> ComposeResult:
        with VerticalScroll(), Vertical():
            yield Static("sibling", id="sibling")
            yield FittedStatic("one line", id="fitted")
        yield Static("below")


async def test_a_fitted_static_grows_to_its_last_content() -> None:
    app = Panel()
    async with app.run_test(size=(40, 20)) as pilot:
        await pilot.pause()
        fitted = app.query_one("#fitted", FittedStatic)
        fitted.update("a\nb\nc")
        layout_between(app.query_one("#sibling"))
        assert fitted.size.height == 3  # measured with the first change, before its idle
        fitted.update("\n".join("0123456789"))
        await settle(pilot)
        assert fitted.size.height == 10


async def test_a_domain_card_grows_to_its_stored_results(demo_store: Store) -> None:
    app = make_app(demo_store)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        first, second = list(app.screen.query(DomainCard))[:2]
        stored = app.state.check(first.domain)
        assert stored.status is not None  # the demo's stored result
        first.items = []  # as before its stored result came: "not checked yet", 3 lines
        first.apply(CheckView(first.domain))
        layout_between(second)
        assert first.size.height == 3
        first.apply(stored)
        await settle(pilot)
        lines = first.render_text().wrap(app.console, first.content_region.width)
        assert first.content_region.height == len(lines) > 3
