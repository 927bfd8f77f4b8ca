"""The one keymap of the TUI: every key, where it works and what it does, as data.

Everything that names a key is derived from ``KEYMAP``: the screens' and widgets' Textual
``BINDINGS`` (``bindings(scope)``), the footer (``footer_entries``: the most useful keys of
the screen first, as many as the width holds), the command palette (``palette_entries``), the
``?`` help (``help_rows``) and the README's key table (``markdown()``; a test compares it, and
``python -m tlsrpt_tui.ui.keymap`` prints it). A key added here shows everywhere at once; a
key bound anywhere else would show nowhere, so a test forbids ``Binding(`` outside this file.

A row is one key in one or more *scopes* (a screen, or a widget such as every table). Rows
with the same key and the same explanation are one line of the help and of the README, with
their scopes joined, so one meaning can run a different action per screen (Escape).
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding

#: scope → how the help and the README name it
SCOPES: dict[str, str] = {
    "app": "everywhere",
    "dashboard": "dashboard",
    "card": "a domain card",
    "tables": "tables (o, p, F)",
    "summaries": "Overview, Policy Summary",
    "rows": "every table",
    "report": "a report",
    "policy": "failure details",
    "raw": "raw view",
    "finding": "findings",
    "alerts": "alerts",
    "readiness": "readiness",
    "records": "records",
    "help": "help",
    "export": "export dialog",
    "first-run": "first run",
}

#: footer rank of the one key every footer ends with (the way to every other key)
ALWAYS = 1000


@dataclass(frozen=True, slots=True)
class Key:
    """One key of one or more scopes.

    ``key``: Textual key names, comma-separated (``question_mark,f1``); ``action``: what the
    binding runs (None: the focused widget handles the key itself, e.g. Enter in a table,
    Tab; listed in the help and the footer, not bound here); ``label``: the footer's word;
    ``what``: the help's and the README's explanation; ``footer``: rank in the footer (1
    first; 0 never); ``title``: the command palette's name (empty: not in the palette).
    """

    display: str
    key: str
    action: str | None
    label: str
    what: str
    where: tuple[str, ...]
    footer: int = 0
    title: str = ""
    #: the help's and the README's "where", when naming the scopes one by one is too long
    said: str = ""

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(k.strip() for k in self.key.split(","))


_ESC = "back one level (in a filter box: leave it; the boxes read what is applied)"
_BELOW = "every screen but the dashboard"
_HOME_END = "the first / last row (at the inbox's end: its next page)"

KEYMAP: tuple[Key, ...] = (
    # -- moving around ---------------------------------------------------------------------
    Key("Enter", "enter", None, "Open",
        "open the row: inbox or table row → report → policy → failure details (a Failures "
        "row: that failure; an alert: its report or domain; an unreadable line: its mail)",
        ("dashboard", "tables", "report", "alerts"), footer=1),
    Key("Enter", "enter", "open", "Findings",
        "its findings in full: fix, the RFC 8460 result type senders report, what changed "
        "since the previous check", ("card",), footer=1),
    Key("Tab", "tab", None, "Pane",
        "next pane or domain card, marked while focused (Shift+Tab: back)", ("dashboard",),
        footer=3),
    Key("Esc", "escape", "app.pop_screen", "Back", _ESC,
        ("report", "policy", "raw", "finding", "readiness", "records"), footer=2,
        said=_BELOW),
    Key("Esc", "escape", "back", "Back", _ESC, ("tables", "alerts"), footer=2, said=_BELOW),
    Key("Esc", "escape", "clear_filter", "Clear filter",
        "close the inbox filter: every row again", ("dashboard",)),
    Key("Esc", "escape", "close", "Close", "close this help", ("help",)),
    Key("Esc", "escape", "cancel", "Cancel", "close the export without writing",
        ("export",)),
    Key("PgUp / PgDn", "pageup", None, "Page", "a page up / down", ("rows",)),
    Key("Home", "home,ctrl+home", "first_row", "First", _HOME_END, ("rows",)),
    Key("End", "end,ctrl+end", "last_row", "Last", _HOME_END, ("rows",)),
    Key("j", "j", "cursor_down", "Down", "down / up a row", ("rows",)),
    Key("k", "k", "cursor_up", "Up", "down / up a row", ("rows",)),
    Key("z", "z", "zoom", "Zoom", "zoom the focused pane to the whole screen (again: both)",
        ("dashboard",), footer=14),
    # -- screens ---------------------------------------------------------------------------
    Key("o", "o", "overview", "Overview",
        "Report Overview: one row per report, Total docked below (o / p / F switch, not "
        "stack)", ("app",), footer=10, title="Report Overview"),
    Key("p", "p", "policies", "Policies",
        "Policy Summary: one row per policy, the MX list in its detail line", ("app",),
        footer=11, title="Policy Summary"),
    Key("F", "F", "failures", "Failures",
        "Failures: every failure detail of the filtered reports, newest first", ("app",),
        footer=12, title="Failures across reports"),
    Key("a", "a", "alerts", "Alerts",
        "alerts newest first, with their delivery per channel", ("app",), footer=24,
        title="Alerts"),
    Key("R", "R", "app.readiness", "Readiness",
        "enforce readiness of the chosen domain (Tab to its card)", ("dashboard",),
        footer=13, title="Enforce readiness"),
    Key("D", "D", "app.records", "Records",
        "the records to publish for the chosen domain, beside what is published",
        ("dashboard",), footer=17, title="Records to publish"),
    Key("D", "D", "records", "Records",
        "the records to publish for the chosen domain, beside what is published",
        ("readiness",), footer=4),
    # -- filters and order -----------------------------------------------------------------
    Key("/", "slash", "filter", "Filter",
        "filter the inbox: a part of the organization, domain, report-id, result type…; "
        "dkim:fail",
        ("dashboard",), footer=4, title="Filter inbox"),
    Key("/", "slash", "focus_filter('flt-domain')", "Filter", "the domain filter (as d)",
        ("tables",)),
    Key("d", "d", "focus_filter('flt-domain')", "Domain",
        "filter by a part of the domain (kept across o / p / F, shown as FILTER)",
        ("tables",), footer=5),
    Key("f", "f", "focus_filter('flt-since')", "From", "filter from a date (YYYY-MM-DD)",
        ("tables",), footer=15),
    Key("t", "t", "focus_filter('flt-until')", "To", "filter to a date (YYYY-MM-DD)",
        ("tables",), footer=16),
    Key("x", "x", "only_failing", "Failing",
        "only the rows with failed sessions (again: every row)", ("summaries",), footer=6),
    Key("x", "x", "only_failing", "Failing",
        "only the reports with failed sessions: only:failing in the filter (again: every row)",
        ("dashboard",)),
    Key("S", "S", "sort", "Sort", "newest first / oldest first", ("tables",), footer=7),
    Key("S", "S", "sort", "Sort", "newest first / oldest first", ("dashboard",)),
    # -- one report ------------------------------------------------------------------------
    Key("v", "v", "raw", "JSON", "the report's JSON as received", ("report",), footer=3),
    Key("m", "m", "mail", "Mail", "the mail (or file) as received", ("report",), footer=4),
    Key("n", "n", "switch_view", "Other view",
        "raw view: as received ↔ normalised JSON", ("raw",), footer=3),
    # -- readiness and records -------------------------------------------------------------
    Key("w", "w", "window", "Window", "readiness: a 30, 90 or 7-day window", ("readiness",),
        footer=3),
    Key("m", "m", "mode", "Mode", "records: propose MTA-STS testing or enforce",
        ("records",), footer=3),
    Key("c", "c", "copy", "Copy", "records: copy the zone lines and the policy file",
        ("records",), footer=4),
    # -- actions ---------------------------------------------------------------------------
    Key("e", "e", "app.export", "Export",
        "export every row of the (filtered) table to CSV or JSON; asks before replacing",
        ("dashboard", "tables", "report", "policy"), footer=18, title="Export table"),
    Key("r", "r", "recheck", "Re-check", "re-check the DNS records now", ("app",),
        footer=22, title="Re-check DNS now"),
    Key("s", "s", "sync", "Sync", "sync the IMAP accounts now", ("app",), footer=23,
        title="Sync IMAP now"),
    Key("Ctrl+P", "ctrl+p", None, "Palette", "command palette: every action by name",
        ("app",)),
    Key("?", "question_mark,f1", "help", "Help", "this help: every key (F1 too)", ("app",),
        footer=ALWAYS, title="Help"),
    Key("?", "question_mark,f1,q", "close", "Close", "close this help (F1 and q too)",
        ("help",)),
    Key("q", "q", "quit", "Quit", "quit", ("app",), footer=30),
    Key("q", "q", "app.quit", "Quit", "quit", ("first-run",), footer=1),
)


def entries(*scopes: str) -> list[Key]:
    return [k for k in KEYMAP if any(s in k.where for s in scopes)]


def bindings(*scopes: str) -> list[Binding]:
    """The Textual bindings of scopes (a class's ``BINDINGS``)."""
    return [
        Binding(k.key, k.action, k.label, show=k.footer > 0, key_display=k.display,
                tooltip=k.what)
        for k in entries(*scopes) if k.action is not None
    ]


def footer_entries(scopes: tuple[str, ...]) -> list[Key]:
    """Footer candidates, most useful first, one per key: at equal rank the earlier scope
    wins (the focused widget's Enter over the screen's)."""
    def rank(k: Key) -> tuple[int, int]:
        return k.footer, min(scopes.index(s) for s in k.where if s in scopes)

    found = sorted((k for k in KEYMAP if k.footer and any(s in k.where for s in scopes)),
                   key=rank)
    taken: set[str] = set()
    out = []
    for k in found:
        if k.keys[0] not in taken:
            taken.add(k.keys[0])
            out.append(k)
    return out


def palette_entries(scopes: tuple[str, ...]) -> list[Key]:
    return [k for k in KEYMAP if k.title and k.action and any(s in k.where for s in scopes)]


def help_rows() -> list[tuple[str, str, str]]:
    """(keys, where, what), one per meaning: rows with the same explanation merge, their keys
    joined (``j / k``: down / up a row; Esc, whatever each screen runs for it)."""
    merged: dict[str, tuple[list[str], list[str]]] = {}
    for k in KEYMAP:
        displays, where = merged.setdefault(k.what, ([], []))
        displays += [k.display] if k.display not in displays else []
        named = [k.said] if k.said else [SCOPES[s] for s in k.where]
        where += [s for s in named if s not in where]
    return [(" / ".join(displays), ", ".join(where), what)
            for what, (displays, where) in merged.items()]


def markdown() -> str:
    """The README's key table."""
    lines = ["| key | where | what |", "|---|---|---|"]
    for display, where, what in help_rows():
        key = display.replace("|", "\\|")
        lines.append(f"| `{key}` | {where} | {what} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
