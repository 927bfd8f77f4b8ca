"""Mail judged "not a report" is recorded (never moved, never lost), listed, and reconsidered."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Callable

import pytest
from peers.dovecot import Dovecot, dovecot, dovecot_server  # noqa: F401
from peers.postgres import cli_env
from peers.tlsrpt_mail import google_report, ordinary_mail
from test_imap_sync import account_for, count  # noqa: F401

from tlsrpt_tui.core.model import InputStatus, ParsedInput
from tlsrpt_tui.service import ingest
from tlsrpt_tui.service.config import AccountSettings
from tlsrpt_tui.service.reparse import reparse_all
from tlsrpt_tui.service.sync import NOT_REPORT_KEEP_BYTES, sync_account
from tlsrpt_tui.store.database import Store

pytestmark = pytest.mark.peers


def big_mail() -> bytes:
    head = (
        b"From: =?utf-8?q?B=C3=A9a?= <bea@example.org>\r\nTo: tlsrpt@example.com\r\n"
        b"Subject: holiday\r\n photos\x07\r\nDate: Mon, 30 Nov 2026 10:00:00 +0000\r\n"
        b"Content-Type: text/plain\r\n\r\n"
    )
    return head + b"x" * (NOT_REPORT_KEEP_BYTES + 1000)


async def test_not_report_mail_is_recorded_listed_never_moved_and_reparsed(
    dovecot: Dovecot,  # noqa: F811
    account_for: Callable[..., AccountSettings],  # noqa: F811
    new_db,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    big = big_mail()
    misjudged = google_report(7)
    dovecot.append([ordinary_mail(1), big, misjudged, google_report(8)])
    # An older parser that misjudges report 7 as "not a report" (what reparse must undo).
    real_prepare = ingest.prepare

    def old_parser(raw, limits, keys=None):  # type: ignore[no-untyped-def]
        if raw.data == misjudged:
            return ingest.Prepared(
                ParsedInput(raw.source, InputStatus.NOT_REPORT, error="no report part")
            )
        return real_prepare(raw, limits, keys)

    monkeypatch.setattr(ingest, "prepare", old_parser)
    db = new_db("s")
    acct = account_for(archive_folder="Archive")
    with Store(db) as store:
        summary = await sync_account(store, acct)
        assert summary.total("not_report") == 3 and summary.total("new") == 1
        rows = store.conn.execute(
            "SELECT origin_account, origin_folder, origin_uidvalidity, origin_uid, size, sha256,"
            " error, length(data_zlib) FROM raw_inputs WHERE status = 'not-report' ORDER BY id"
        ).fetchall()
        assert [r[3] for r in rows] == [1, 2, 3]
        assert all(r[0] == "test" and r[1] == "INBOX" and r[2] == dovecot.uidvalidity()
                   for r in rows)
        small, large, _ = rows
        assert small[4] == len(ordinary_mail(1))
        assert small[5] == hashlib.sha256(ordinary_mail(1)).digest()
        assert "From: Alice <alice@example.org>" in small[6]
        assert "Subject: lunch on the 1th?" in small[6]
        # Over the limit: the whole message's size and hash, its header only, and it says so.
        assert large[4] == len(big) and large[5] == hashlib.sha256(big).digest()
        assert large[7] < 2000
        assert "From: Béa <bea@example.org>" in large[6] and "header only" in large[6]
        assert "Date: Mon, 30 Nov 2026 10:00:00 +0000" in large[6]
        assert "\x07" not in large[6] and "\r" not in large[6]
        # Never moved: only the real report went to the archive; a second sync adds nothing.
        assert len(dovecot.uids("Archive")) == 1 and len(dovecot.uids()) == 3
        again = await sync_account(store, acct)
        assert again.total("seen") == 0
        assert count(store, "raw_inputs") == 4

        # The parser is fixed: reparse turns the misjudged mail into a report, keeps the others.
        monkeypatch.setattr(ingest, "prepare", real_prepare)
        result = reparse_all(store)
        assert result.recovered == 1 and result.added == 1 and result.not_report == 2
        assert count(store, "reports") == 2
        assert count(store, "raw_inputs WHERE status = 'not-report'") == 2
        assert reparse_all(store).not_report == 2  # unchanged the second time
        # The TUI inbox lists them when a filter asks (by sender, subject, "not a ...").
        from tlsrpt_tui.service.backend import StoreBackend
        from tlsrpt_tui.ui.widgets.inbox import unreadable_for

        with StoreBackend(store) as backend:
            assert await unreadable_for(backend, "") == []
            hits = await unreadable_for(backend, "alice@")
        assert len(hits) == 1 and "lunch" in (hits[0].unreadable or "")
    # The CLI lists what is recorded, newest first.
    out = subprocess.run(
        [sys.executable, "-m", "tlsrpt_tui.cli", "--db", str(db), "inbox", "--other",
         "--format", "json"],
        capture_output=True, text=True, check=True, env=cli_env(db),
    ).stdout
    listed = json.loads(out)["rows"]
    assert [("holiday photos" in r["error"], "lunch" in r["error"]) for r in listed] == [
        (True, False), (False, True)
    ]
