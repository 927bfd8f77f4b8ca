"""IMAP sync against a real Dovecot: counts, no \\Seen, incremental, resync, drops, archive."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from peers.dovecot import Dovecot, DropProxy, dovecot, dovecot_server  # noqa: F401
from peers.tlsrpt_mail import google_report, microsoft_report, mixed, ordinary_mail

from tlsrpt_tui.net.imap import ImapConnectionLost, ImapError
from tlsrpt_tui.service.config import AccountSettings
from tlsrpt_tui.service.sync import SyncEvent, sync_account, watch
from tlsrpt_tui.store import imap_state
from tlsrpt_tui.store.database import Store

pytestmark = pytest.mark.peers

PASSWORD_ENV = "TLSRPT_TEST_IMAP_PASSWORD"


@pytest.fixture
def account_for(
    dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> Callable[..., AccountSettings]:
    monkeypatch.setenv(PASSWORD_ENV, dovecot.password)

    def make(**kw: object) -> AccountSettings:
        base: dict[str, object] = {
            "name": "test",
            "host": dovecot.host,
            "port": dovecot.imaps_port,
            "security": "tls",
            "username": dovecot.user,
            "password_env": PASSWORD_ENV,
            "ca_file": str(dovecot.ca_file),
            "batch_size": 50,
        }
        base.update(kw)
        return AccountSettings(**base)  # type: ignore[arg-type]

    return make


def open_store(path: Path) -> Store:
    return Store(path)


def dump(store: Store) -> dict[str, list[tuple[object, ...]]]:
    """Everything a sync writes, without timestamps: two equal dumps mean equal stores."""
    q = store.conn.execute
    return {
        "inputs": sorted(
            (r[0], bytes(r[1]).hex(), *r[2:])
            for r in q("SELECT origin_key, sha256, size, status, error FROM raw_inputs")
        ),
        "reports": sorted(
            tuple(r)
            for r in q(
                'SELECT r.report_id, r.organization, r.start, r."end", r.successful, r.failed,'
                " i.origin_key FROM reports r JOIN raw_inputs i ON i.id = r.input_id"
            )
        ),
        "state": sorted(
            tuple(r)
            for r in q(
                "SELECT account, folder, uidvalidity, last_uid, messages_seen, messages_new,"
                " messages_duplicate, messages_rejected, messages_not_report FROM imap_folders"
            )
        ),
    }


def count(store: Store, table: str) -> int:
    return int(store.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


async def test_500_mixed_messages_exact_counts_no_seen_and_incremental(
    dovecot: Dovecot,  # noqa: F811
    account_for: Callable[..., AccountSettings],
    tmp_path: Path,
    new_db,
) -> None:
    messages, expected = mixed(500)
    dovecot.append_maildir(messages)
    flags_before = dovecot.flags()
    assert len(flags_before) == 500
    events: list[SyncEvent] = []
    with open_store(new_db("s")) as store:
        summary = await sync_account(store, account_for(), on_progress=events.append)
        assert summary.total("seen") == 500
        assert summary.total("new") == expected["report"]
        assert summary.total("duplicate") == 0
        assert summary.total("rejected") == expected["rejected"]
        assert summary.total("not_report") == expected["not_report"]
        assert count(store, "reports") == expected["report"]
        # Reports and unreadable reports are stored (bytes first); other mail is recorded.
        assert count(store, "raw_inputs") == (
            expected["report"] + expected["rejected"] + expected["not_report"]
        )
        others = store.conn.execute(
            "SELECT count(*) FROM raw_inputs WHERE status = 'not-report'"
        ).fetchone()[0]
        assert others == expected["not_report"]
        rejected = store.conn.execute(
            "SELECT error FROM raw_inputs WHERE status = 'rejected'"
        ).fetchall()
        assert len(rejected) == expected["rejected"]
        assert all(r[0] and "broken!" in r[0] for r in rejected)
        assert any(e.kind == "batch" for e in events)
        state = imap_state.get(store, "test", "INBOX")
        assert state is not None and state.last_uid == 500 and state.messages_seen == 500

        # Nothing marked \Seen, nothing deleted: flags exactly as before.
        assert dovecot.flags() == flags_before

        # A second sync fetches nothing.
        again = await sync_account(store, account_for())
        assert again.total("seen") == 0
        assert count(store, "reports") == expected["report"]

        # One more message: only it is fetched.
        dovecot.append([google_report(10_001)])
        third = await sync_account(store, account_for())
        assert (third.total("seen"), third.total("new")) == (1, 1)
        assert count(store, "reports") == expected["report"] + 1


@pytest.mark.parametrize("security", ["starttls", "plain"])
async def test_starttls_and_plain(
    dovecot: Dovecot,  # noqa: F811
    account_for: Callable[..., AccountSettings],
    tmp_path: Path,
    security: str,
    caplog: pytest.LogCaptureFixture,
    new_db,
) -> None:
    dovecot.append([google_report(1), microsoft_report(2), ordinary_mail(3)])
    with open_store(new_db("s")) as store:
        acct = account_for(security=security, port=dovecot.imap_port)
        with caplog.at_level(logging.WARNING):
            summary = await sync_account(store, acct)
        assert (summary.total("seen"), summary.total("new"), summary.total("not_report")) == (
            3,
            2,
            1,
        )
    warned = any("unencrypted" in r.getMessage() for r in caplog.records)
    assert warned == (security == "plain")


async def test_uidvalidity_change_resyncs_without_duplicates(
    dovecot: Dovecot,  # noqa: F811
    account_for: Callable[..., AccountSettings],
    tmp_path: Path,
    new_db,
) -> None:
    messages, expected = mixed(40)
    dovecot.append(messages)
    with open_store(new_db("s")) as store:
        first = await sync_account(store, account_for())
        assert first.total("seen") == 40
        before = dump(store)
        old_validity = dovecot.uidvalidity()
        dovecot.change_uidvalidity("INBOX", old_validity + 1000)
        assert dovecot.uidvalidity() == old_validity + 1000
        second = await sync_account(store, account_for())
        fs = second.folders[0]
        assert fs.resync
        assert fs.seen == 40  # everything read again ...
        assert fs.new == 0  # ... and nothing stored twice
        assert fs.duplicate == expected["report"]
        assert fs.rejected == expected["rejected"]
        after = dump(store)
        assert after["inputs"] == before["inputs"]
        assert after["reports"] == before["reports"]
        state = imap_state.get(store, "test", "INBOX")
        assert state is not None
        assert state.uidvalidity == old_validity + 1000 and state.resyncs == 1
        assert state.last_uid == max(dovecot.uids())


async def test_connection_dropped_mid_batch_then_resumed_equals_clean_sync(
    dovecot: Dovecot,  # noqa: F811
    account_for: Callable[..., AccountSettings],
    tmp_path: Path,
    new_db,
) -> None:
    messages, _ = mixed(160)
    dovecot.append_maildir(messages)
    with open_store(new_db("clean")) as clean:
        await sync_account(clean, account_for(batch_size=20))
        want = dump(clean)

    proxy = DropProxy(dovecot.imaps_port, drop_after=90_000)
    try:
        with open_store(new_db("cut")) as store:
            acct = account_for(port=proxy.port, batch_size=20, ca_file=str(dovecot.ca_file))
            with pytest.raises(ImapConnectionLost, match="connection lost during UID FETCH"):
                await sync_account(store, acct)
            assert proxy.drops == 1
            state = imap_state.get(store, "test", "INBOX")
            assert state is not None and 0 < state.last_uid < 160  # part was committed
            partial = dump(store)
            assert len(partial["inputs"]) < len(want["inputs"])
            # Cut again, later in the mailbox, then let it finish.
            proxy.drop_after = 60_000
            with pytest.raises(ImapError):
                await sync_account(store, acct)
            proxy.drop_after = None
            await sync_account(store, acct)
            assert dump(store) == want
    finally:
        proxy.close()


async def test_new_message_during_watch_is_ingested_and_drops_reconnect(
    dovecot: Dovecot,  # noqa: F811
    account_for: Callable[..., AccountSettings],
    tmp_path: Path,
    new_db,
) -> None:
    dovecot.append([google_report(1)])
    proxy = DropProxy(dovecot.imaps_port)
    events: list[SyncEvent] = []
    try:
        with open_store(new_db("s")) as store:
            acct = account_for(port=proxy.port)
            task = asyncio.create_task(
                watch(store, [acct], on_progress=events.append, backoff_first=0.2)
            )
            try:
                await wait_until(lambda: count(store, "reports") == 1, task)
                await wait_until(lambda: any(e.kind == "idle" for e in events), task)
                t0 = time.monotonic()
                await asyncio.to_thread(dovecot.append, [microsoft_report(2)])
                await wait_until(lambda: count(store, "reports") == 2, task)
                # pushed by IDLE: within seconds, not at the end of the 25-minute IDLE (the
                # bound is loose because a loaded 2-core CI box once took over 5 s)
                assert time.monotonic() - t0 < 30
                # The line drops while idling: watch reconnects and carries on.
                idles = sum(e.kind == "idle" for e in events)
                proxy.cut()
                await wait_until(lambda: any(e.kind == "reconnect" for e in events), task)
                await wait_until(lambda: sum(e.kind == "idle" for e in events) > idles, task)
                await asyncio.to_thread(dovecot.append, [google_report(3), ordinary_mail(4)])
                await wait_until(lambda: count(store, "reports") == 3, task)
            finally:
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
            assert any(e.kind == "error" and "connection lost" in e.message for e in events)
    finally:
        proxy.close()


async def wait_until(cond: Callable[[], bool], task: asyncio.Task[None], limit: float = 15) -> None:
    deadline = time.monotonic() + limit
    while not cond():
        if task.done():
            task.result()
            raise AssertionError("watch ended")
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def test_archive_moves_only_committed_batches_and_retries_owed_moves(
    dovecot: Dovecot,  # noqa: F811
    account_for: Callable[..., AccountSettings],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    new_db,
) -> None:
    messages, expected = mixed(48)  # 6 batches of 8
    dovecot.append(messages)
    acct = account_for(archive_folder="Archive", batch_size=8)
    real_advance = imap_state.advance
    calls = {"n": 0}

    def failing_advance(*args: object, **kw: object) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk full (simulated) in the third batch's transaction")
        real_advance(*args, **kw)  # type: ignore[arg-type]

    with open_store(new_db("s")) as store:
        monkeypatch.setattr(imap_state, "advance", failing_advance)
        with pytest.raises(RuntimeError, match="disk full"):
            await sync_account(store, acct)
        # Batches 1-2 committed and their stored messages moved; batch 3 rolled back: not moved.
        state = imap_state.get(store, "test", "INBOX")
        assert state is not None and state.last_uid == 16
        archived = len(dovecot.uids("Archive"))
        stored_first_two = count(store, "raw_inputs WHERE status != 'not-report'")
        assert archived == stored_first_two > 0
        left = dovecot.uids()
        assert len(left) == 48 - archived
        monkeypatch.setattr(imap_state, "advance", real_advance)

        # A committed batch whose MOVE fails is owed, and moved by the next sync.
        from tlsrpt_tui.net import imap as imap_mod

        real_move = imap_mod.ImapClient.move
        moves = {"n": 0}

        async def failing_move(self: imap_mod.ImapClient, uids: list[int], folder: str) -> None:
            moves["n"] += 1
            if moves["n"] == 1:
                self.abort()
                raise ImapConnectionLost(f"{self.where}: connection lost during UID MOVE")
            await real_move(self, uids, folder)

        monkeypatch.setattr(imap_mod.ImapClient, "move", failing_move)
        with pytest.raises(ImapConnectionLost):
            await sync_account(store, acct)
        owed = imap_state.pending_moves(store, "test", "INBOX", dovecot.uidvalidity())
        assert owed  # committed but not moved yet
        await sync_account(store, acct)
        assert imap_state.pending_moves(store, "test", "INBOX", dovecot.uidvalidity()) == []
        total_stored = expected["report"] + expected["rejected"]
        assert count(store, "raw_inputs WHERE status != 'not-report'") == total_stored
        assert len(dovecot.uids("Archive")) == total_stored
        # Mail that is not TLS-RPT stays where it was.
        assert len(dovecot.uids()) == expected["not_report"]
        # Archived mail is not marked \Seen either.
        assert all("\\Seen" not in f for f in dovecot.flags("Archive").values())


async def test_a_message_that_crashes_the_parser_is_stored_rejected_and_passed(
    dovecot: Dovecot,  # noqa: F811
    account_for: Callable[..., AccountSettings],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    new_db,
) -> None:
    from tlsrpt_tui.core import parse

    real = parse.parse_bytes

    def fragile(data: bytes, source: str, *args: object, **kw: object):  # type: ignore[no-untyped-def]
        if b"<tlsrpt-2@" in data:
            raise RecursionError("parser bug (simulated)")
        return real(data, source, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(parse, "parse_bytes", fragile)
    dovecot.append([google_report(1), google_report(2), microsoft_report(3)])
    with open_store(new_db("s")) as store:
        summary = await sync_account(store, account_for())
        assert (summary.total("new"), summary.total("rejected")) == (2, 1)
        err = store.conn.execute(
            "SELECT error FROM raw_inputs WHERE status = 'rejected'"
        ).fetchone()[0]
        assert err == (
            "internal error while reading this input: RecursionError: parser bug (simulated)"
        )
        # The queue moved past it: the next sync has nothing to do.
        assert (await sync_account(store, account_for())).total("seen") == 0


async def test_non_ascii_folder_names_and_archive_folder_checks(
    dovecot: Dovecot,  # noqa: F811
    account_for: Callable[..., AccountSettings],
    tmp_path: Path,
    new_db,
) -> None:
    # "Rapports/Reçus" in IMAP's modified UTF-7, spelled out (RFC 3501 §5.1.3).
    dovecot.create("Rapports/Re&AOc-us")
    dovecot.append([google_report(1), ordinary_mail(2)], folder="Rapports/Re&AOc-us")
    acct = account_for(folders=("Rapports/Reçus",), archive_folder="Archivé")
    with open_store(new_db("s")) as store:
        summary = await sync_account(store, acct)
        assert (summary.total("new"), summary.total("not_report")) == (1, 1)
        assert len(dovecot.uids("Archiv&AOk-")) == 1  # created on first move (TRYCREATE)
        assert len(dovecot.uids("Rapports/Re&AOc-us")) == 1
        with pytest.raises(ImapError, match="archive_folder 'INBOX' is also in folders"):
            await sync_account(store, account_for(archive_folder="INBOX"))


async def test_idle_returns_on_timeout_and_on_push(dovecot: Dovecot) -> None:  # noqa: F811
    from tlsrpt_tui.net.imap import IDLE_MAX_SECONDS, ImapClient

    assert IDLE_MAX_SECONDS == 25 * 60
    client = await ImapClient.connect(
        dovecot.host, dovecot.imaps_port, ca_file=str(dovecot.ca_file)
    )
    async with client:
        await client.login(dovecot.user, dovecot.password)
        await client.select("INBOX")
        t0 = time.monotonic()
        assert await client.idle(0.5) is False  # nothing happened: DONE after the time is up
        assert 0.4 < time.monotonic() - t0 < 3
        # The connection is usable after DONE, and a push ends the IDLE early.
        assert await client.uids_from(1) == []
        waiter = asyncio.create_task(client.idle(30))
        await asyncio.sleep(0.3)
        await asyncio.to_thread(dovecot.append, [ordinary_mail(1)])
        assert await asyncio.wait_for(waiter, 10) is True
        assert await client.uids_from(1) == [1]


def test_plan_batches_by_count_bytes_and_oversize() -> None:
    from tlsrpt_tui.service.sync import plan_batches

    sizes = {1: 10, 2: 10, 3: 10, 4: 95, 5: 10, 6: 1000, 7: 10}
    plan = plan_batches(
        [1, 2, 3, 4, 5, 6, 7, 8], sizes, max_count=3, max_bytes=100, max_message=500
    )
    # 4 alone (95 + 10 > 100 bytes); 8 has no size (expunged since the search): it rides along.
    assert [b.uids for b in plan] == [[1, 2, 3], [4], [5, 6, 7], [8]]
    assert [b.fetch for b in plan] == [[1, 2, 3], [4], [5, 7], [8]]
    assert plan[2].oversized == {6: 1000}  # only its header will be fetched


async def test_oversized_message_is_stored_as_header_with_reason_and_passed(
    dovecot: Dovecot,  # noqa: F811
    account_for: Callable[..., AccountSettings],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    new_db,
) -> None:
    from tlsrpt_tui.service import sync

    monkeypatch.setattr(sync, "_max_message_bytes", lambda: 20_000)
    big = google_report(2).replace(b"\r\n\r\n", b"\r\nX-Pad: " + b"p" * 30_000 + b"\r\n\r\n", 1)
    dovecot.append([google_report(1), big, microsoft_report(3)])
    with open_store(new_db("s")) as store:
        summary = await sync_account(store, account_for())
        assert (summary.total("new"), summary.total("rejected")) == (2, 1)
        problem = summary.folders[0].problems[0]
        assert "UID=2: message is " in problem and "over the 20000 byte limit" in problem
        row = store.conn.execute(
            "SELECT size, status FROM raw_inputs WHERE origin_uid = 2"
        ).fetchone()
        assert row["status"] == "rejected" and 30_000 < row["size"] < len(big)  # header only
        assert (await sync_account(store, account_for())).total("seen") == 0


async def test_a_missing_folder_is_reported_and_the_others_still_sync(
    dovecot: Dovecot,  # noqa: F811
    account_for: Callable[..., AccountSettings],
    tmp_path: Path,
    new_db,
) -> None:
    dovecot.append([google_report(1)])
    acct = account_for(folders=("No/Such", "INBOX"))
    with open_store(new_db("s")) as store:
        summary = await sync_account(store, acct)
        assert summary.total("new") == 1
        assert len(summary.errors) == 1
        assert summary.errors[0].startswith(
            f"account test: 127.0.0.1:{dovecot.imaps_port}: cannot open folder 'No/Such': NO"
        )


@pytest.mark.parametrize("archive", [None, "Archive"])
async def test_sizes_are_asked_a_window_at_a_time_and_every_message_arrives(
    dovecot: Dovecot,  # noqa: F811
    account_for: Callable[..., AccountSettings],
    monkeypatch: pytest.MonkeyPatch,
    new_db,
    archive: str | None,
) -> None:
    """The first FETCH waits only for one batch's sizes; later windows are sized as the sync
    reaches them, an oversized message in a later window is still kept as its header, and
    (archiving or not) every message is stored once, with the position at the end."""
    from tlsrpt_tui.net.imap import ImapClient
    from tlsrpt_tui.service import sync

    monkeypatch.setattr(sync, "SIZE_WINDOW", 7)
    monkeypatch.setattr(sync, "_max_message_bytes", lambda: 20_000)
    asked: list[list[int]] = []
    real_sizes = ImapClient.sizes

    async def sizes(self: ImapClient, uids: list[int]) -> dict[int, int]:
        asked.append(list(uids))
        return await real_sizes(self, uids)

    monkeypatch.setattr(ImapClient, "sizes", sizes)
    big = google_report(20).replace(b"\r\n\r\n", b"\r\nX-Pad: " + b"p" * 30_000 + b"\r\n\r\n", 1)
    mails = [google_report(i) if i % 2 else microsoft_report(i) for i in range(1, 26)]
    mails[19] = big  # UID 20, in the third window
    dovecot.append(mails)
    with open_store(new_db("s")) as store:
        summary = await sync_account(store, account_for(batch_size=3, archive_folder=archive))
        assert asked == [[1, 2, 3], list(range(4, 11)), list(range(11, 18)),
                         list(range(18, 25)), [25]]
        assert (summary.total("seen"), summary.total("new"), summary.total("rejected")) == (
            25, 24, 1)
        assert "UID=20: message is " in summary.folders[0].problems[0]
        uids = [r[0] for r in store.conn.execute(
            "SELECT origin_uid FROM raw_inputs ORDER BY id")]
        assert sorted(uids) == list(range(1, 26))  # each once
        state = imap_state.get(store, "test", "INBOX")
        assert state is not None and state.last_uid == 25 and state.messages_seen == 25
        if archive:
            assert len(dovecot.uids("Archive")) == 25 and dovecot.uids() == []
        assert (await sync_account(store, account_for(batch_size=3))).total("seen") == 0
