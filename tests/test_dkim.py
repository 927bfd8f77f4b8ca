"""DKIM verification of report mail against keys published in real DNS (Knot behind Unbound).

Keys live in the signed test zone ``dkim.test``: a ``tlsrpt``-service key (RFC 8460 §3) and a
plain one for the reporting organization ``sender.dkim.test``, and one of an unrelated signer
``other.dkim.test``. Mails are signed with dkimpy; every lookup goes through the validating
Unbound the product is pointed at. Then the same through ``import``, ``inbox``, ``show``,
``reparse`` (verdicts kept) and ``reparse --reverify``, and through ``sync`` from Dovecot.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import dkim
import pytest
from cli_helpers import run_cli
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from peers.dns import DnsPeers, Zone, dns_peers_factory, free_port  # noqa: F401
from peers.dovecot import Dovecot, dovecot, dovecot_server  # noqa: F401
from report_factory import report, sts_policy, to_json, to_mail

from tlsrpt_tui.core import dkim as core_dkim
from tlsrpt_tui.core.model import DkimVerdict, Origin, RawInput
from tlsrpt_tui.net.dkim_keys import KeyCache
from tlsrpt_tui.net.dns import Resolver
from tlsrpt_tui.service.config import AccountSettings
from tlsrpt_tui.service.dkim import DkimChecker
from tlsrpt_tui.service.sync import sync_account
from tlsrpt_tui.store import reports as db
from tlsrpt_tui.store.database import Store

pytestmark = pytest.mark.peers

SENDER = "sender.dkim.test"
OTHER = "other.dkim.test"
SIGNED = [b"from", b"to", b"subject", b"date", b"message-id", b"tls-report-domain",
          b"tls-report-submitter", b"mime-version", b"content-type"]


def _key() -> tuple[bytes, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem, base64.b64encode(der).decode()


def _txt(value: str) -> str:
    """A zone-file TXT value split in 200-byte character-strings (one string holds 255)."""
    return " ".join(f'"{value[i:i + 200]}"' for i in range(0, len(value), 200))


def _ed25519_key() -> tuple[bytes, str]:
    """An Ed25519 key (RFC 8463) as dkimpy signs with it: the base64 seed, the base64 public."""
    key = ed25519.Ed25519PrivateKey.generate()
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())
    pub = key.public_key().public_bytes(serialization.Encoding.Raw,
                                        serialization.PublicFormat.Raw)
    return base64.b64encode(seed), base64.b64encode(pub).decode()


KEYS = {name: _key() for name in ("tlsrpt", "plain", "other", "gone")}
KEYS["ed"] = _ed25519_key()


@pytest.fixture(scope="module")
def dns(dns_peers_factory: Callable[..., DnsPeers]) -> DnsPeers:  # noqa: F811
    body = "\n".join([
        f"tlsrpt._domainkey.sender TXT {_txt('v=DKIM1; k=rsa; s=tlsrpt; p=' + KEYS['tlsrpt'][1])}",
        f"plain._domainkey.sender TXT {_txt('v=DKIM1; k=rsa; p=' + KEYS['plain'][1])}",
        f"ed._domainkey.sender TXT {_txt('v=DKIM1; k=ed25519; s=tlsrpt; p=' + KEYS['ed'][1])}",
        f"mail._domainkey.other TXT {_txt('v=DKIM1; k=rsa; p=' + KEYS['other'][1])}",
        # The unrelated signer's key again under two selectors with their own TTLs (cache test).
        f"short._domainkey.sender 120 TXT {_txt('v=DKIM1; k=rsa; p=' + KEYS['other'][1])}",
        f"long._domainkey.sender 7200 TXT {_txt('v=DKIM1; k=rsa; p=' + KEYS['other'][1])}",
        # "gone" was rotated away: its private key still signs old mail, DNS has no record.
        "sender A 192.0.2.1",
    ])
    return dns_peers_factory([Zone("test.", ""), Zone("dkim.test.", body)])


def mail(i: int = 1, *, failed: int = 0) -> bytes:
    rep = report("Sender Org", f"dkim-{i}", "2026-05-11",
                 [sts_policy("example.org", 10, failed)])
    return to_mail(rep, submitter=SENDER, msgid=i)


def sign(data: bytes, selector: str, domain: str = SENDER) -> bytes:
    private = KEYS[selector][0] if selector in KEYS else KEYS["other"][0]
    algorithm = b"ed25519-sha256" if selector == "ed" else b"rsa-sha256"
    header = dkim.sign(data, selector.encode(), domain.encode(), private, include_headers=SIGNED,
                       signature_algorithm=algorithm, tlsrpt=True)
    return header + data


def checker(dns: DnsPeers) -> DkimChecker:
    return DkimChecker(KeyCache(Resolver(dns.resolver, timeout=5.0)))


def verdict(dns: DnsPeers, data: bytes, **kw: object) -> DkimVerdict | None:
    return asyncio.run(checker(dns).verdicts([data], **kw))[0]  # type: ignore[arg-type]


def result(dns: DnsPeers, data: bytes, **kw: object) -> str | None:
    found = verdict(dns, data, **kw)
    return found.result if found is not None else None


def test_tlsrpt_service_key_and_plain_key_pass_aligned(dns: DnsPeers) -> None:
    assert verdict(dns, sign(mail(), "tlsrpt")) == DkimVerdict("pass", SENDER, "tlsrpt", True)
    assert verdict(dns, sign(mail(), "plain")) == DkimVerdict("pass", SENDER, "plain", True)


def test_ed25519_key_passes_and_an_altered_body_fails(dns: DnsPeers) -> None:
    """RFC 8463 keys, published in the zone like the RSA ones and read through Unbound."""
    signed = sign(mail(), "ed")
    assert b"a=ed25519-sha256" in signed
    assert verdict(dns, signed) == DkimVerdict("pass", SENDER, "ed", True)
    altered = signed.replace(b"an aggregate TLS report.", b"an aggregate TLS rep0rt.")
    assert verdict(dns, altered) == DkimVerdict("fail", SENDER, "ed", True)


def test_body_altered_after_signing_fails(dns: DnsPeers) -> None:
    signed = sign(mail(), "tlsrpt")
    altered = signed.replace(b"an aggregate TLS report.", b"an aggregate TLS rep0rt.")
    assert altered != signed
    assert verdict(dns, altered) == DkimVerdict("fail", SENDER, "tlsrpt", True)
    forged_header = signed.replace(b"Report-ID: <dkim-1>", b"Report-ID: <dkim-9>")
    assert result(dns, forged_header) == "fail"


def test_removed_key_is_permerror_then_trusted_authentication_results(dns: DnsPeers) -> None:
    signed = sign(mail(), "gone")
    assert verdict(dns, signed) == DkimVerdict("permerror", SENDER, "gone", True)
    results = (b"Authentication-Results: mx.receiver.test (Postfix);\r\n"
               b" dkim=pass (2048-bit key) header.d=sender.dkim.test header.s=gone header.b=abc;"
               b" spf=pass smtp.mailfrom=sender.dkim.test\r\n")
    with_ar = results + signed
    # Our MTA recorded a pass on arrival: believed only for its own authserv-id.
    assert verdict(dns, with_ar, trusted_authserv_id="mx.receiver.test") == DkimVerdict(
        "pass", SENDER, "gone", True, authserv_id="mx.receiver.test")
    assert result(dns, with_ar, trusted_authserv_id="mx.elsewhere.test") == "permerror"
    assert result(dns, with_ar) == "permerror"
    # A forger's own Authentication-Results with another id changes nothing.
    forged_ar = results.replace(b"mx.receiver.test", b"mx.forger.test") + signed
    assert result(dns, forged_ar, trusted_authserv_id="mx.receiver.test") == "permerror"
    # The trusted MTA's own header is the topmost with its id (headers are prepended): a
    # "pass" with its id that came with the mail, below what it wrote at arrival, is not read;
    # nor is a header of another id above it, or one of its headers without a DKIM result.
    ours = results.replace(b"dkim=pass", b"dkim=fail")
    spf_only = b"Authentication-Results: mx.receiver.test; spf=pass smtp.mailfrom=x.test\r\n"
    other_above = b"Authentication-Results: mx.other.test; dkim=pass header.d=sender.dkim.test\r\n"
    planted = other_above + spf_only + ours + b"Received: from outside\r\n" + results + signed
    assert verdict(dns, planted, trusted_authserv_id="mx.receiver.test") == DkimVerdict(
        "fail", SENDER, "gone", True, authserv_id="mx.receiver.test")
    assert verdict(dns, spf_only + with_ar, trusted_authserv_id="MX.Receiver.Test") == (
        DkimVerdict("pass", SENDER, "gone", True, authserv_id="mx.receiver.test"))


def test_unsigned_is_none_and_non_mail_is_null(dns: DnsPeers) -> None:
    assert verdict(dns, mail()) == DkimVerdict("none")
    assert verdict(dns, b'{"organization-name": "x"}') is None


def test_unrelated_signer_passes_but_is_not_aligned(dns: DnsPeers) -> None:
    signed = sign(mail(), "mail", domain=OTHER)
    assert verdict(dns, signed) == DkimVerdict("pass", OTHER, "mail", False)
    # A parent of the submitter's domain is the same organization; a child or sibling is not.
    assert core_dkim.is_aligned("dkim.test", [SENDER])
    assert not core_dkim.is_aligned("sub.sender.dkim.test", [SENDER])
    assert not core_dkim.is_aligned("test", [SENDER])  # a bare TLD never aligns


def test_dns_failure_is_temperror_and_keys_are_cached(dns: DnsPeers) -> None:
    dead = DkimChecker(KeyCache(Resolver(f"127.0.0.1:{free_port()}", timeout=0.5), timeout=0.5))
    assert asyncio.run(dead.verdicts([sign(mail(), "tlsrpt")]))[0] == DkimVerdict(
        "temperror", SENDER, "tlsrpt", True)

    live = checker(dns)

    async def twice() -> list[DkimVerdict | None]:
        batch = [sign(mail(i), "tlsrpt") for i in range(20)]
        first = await live.verdicts(batch)
        return first + await live.verdicts(batch)

    results = asyncio.run(twice())
    assert {v.result for v in results if v} == {"pass"}
    assert live.keys.lookups == 1  # 40 mails, one key: one DNS query


def test_keys_are_cached_per_selector_for_their_ttl(dns: DnsPeers) -> None:
    """Each selector's key is kept as long as its record's TTL says (through Unbound, which
    passes the zone's TTL on), then asked for again."""
    now = [1000.0]
    cache = KeyCache(Resolver(dns.resolver, timeout=5.0), timeout=5.0, clock=lambda: now[0])
    live = DkimChecker(cache)
    batch = [sign(mail(40), "short"), sign(mail(41), "long"), sign(mail(42), "short")]

    def results() -> list[str | None]:
        return [v.result if v else None for v in asyncio.run(live.verdicts(batch))]

    assert results() == ["pass"] * 3 and cache.lookups == 2  # one query per selector
    now[0] += 100  # within both TTLs
    assert results() == ["pass"] * 3 and cache.lookups == 2
    now[0] += 60  # past "short"'s 120 s, within "long"'s 7200 s
    assert results() == ["pass"] * 3 and cache.lookups == 3
    now[0] += 7200  # past both
    assert results() == ["pass"] * 3 and cache.lookups == 5


def test_first_passing_signature_wins_over_a_forged_one(dns: DnsPeers) -> None:
    good = sign(mail(), "tlsrpt")
    fake = (b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=sender.dkim.test;"
            b" s=plain; h=from; bh=AAAA; b=AAAA\r\n")
    assert verdict(dns, fake + good) == DkimVerdict("pass", SENDER, "tlsrpt", True)
    assert result(dns, fake + mail()) == "fail"


def test_agrees_with_dkimpy_own_verify(dns: DnsPeers) -> None:
    """Our OpenSSL-backed last step gives dkimpy's answer on every pass/fail case."""
    records = {
        b"tlsrpt._domainkey.sender.dkim.test.":
            f"v=DKIM1; k=rsa; s=tlsrpt; p={KEYS['tlsrpt'][1]}".encode(),
        b"mail._domainkey.other.dkim.test.": f"v=DKIM1; k=rsa; p={KEYS['other'][1]}".encode(),
    }

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        return records.get(name)

    cases = [sign(mail(), "tlsrpt"), sign(mail(), "mail", domain=OTHER),
             sign(mail(), "tlsrpt").replace(b"aggregate", b"aggregatE")]
    for data in cases:
        ours = verdict(dns, data)
        assert ours is not None
        assert (ours.result == "pass") == dkim.verify(data, dnsfunc=dnsfunc, tlsrpt=True)


# --------------------------------------------------------------------------------------------
# The commands


def _config(tmp_path: Path, resolver: str) -> Path:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[checks]\nresolver = "{resolver}"\n')
    return cfg


def test_import_inbox_show_reparse_and_reverify(  # type: ignore[no-untyped-def]
    dns: DnsPeers, tmp_path: Path, db_location,
) -> None:
    """On both store backends: the verdicts are stored with the inputs where they arrive."""
    inbox = tmp_path / "mail"
    inbox.mkdir()
    (inbox / "1-pass.eml").write_bytes(sign(mail(1), "tlsrpt"))
    forged = sign(mail(2, failed=500), "tlsrpt").replace(b"TLS report.", b"TLS report!")
    (inbox / "2-forged.eml").write_bytes(forged)
    (inbox / "3-unsigned.eml").write_bytes(mail(3))
    (inbox / "4-other.eml").write_bytes(sign(mail(4), "mail", domain=OTHER))
    (inbox / "5-file.json").write_bytes(  # not mail: nothing to verify, null
        to_json(report("Sender Org", "dkim-5", "2026-05-11", [sts_policy("example.org", 3, 0)])))
    cfg = _config(tmp_path, dns.resolver)

    def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, db=db_location)

    imported = cli("import", "--config", cfg, inbox)
    assert imported.returncode == 0, imported.stderr

    rows = json.loads(cli("inbox", "--format", "json").stdout)["rows"]
    by_id = {r["Report ID"]: r for r in rows}
    assert by_id["dkim-1"]["dkim"] == {"result": "pass", "domain": SENDER,
                                       "selector": "tlsrpt", "aligned": True}
    assert by_id["dkim-1"]["Sig"] == "✓"
    assert by_id["dkim-2"]["dkim"]["result"] == "fail" and by_id["dkim-2"]["Sig"] == "✗"
    assert by_id["dkim-3"]["dkim"] == {"result": "none", "domain": None, "selector": None,
                                       "aligned": False}
    assert by_id["dkim-4"]["dkim"]["aligned"] is False and by_id["dkim-4"]["Sig"] == "?"
    assert by_id["dkim-5"]["dkim"] is None and by_id["dkim-5"]["Sig"] == "?"
    assert json.loads(cli("show", "dkim-5", "--format", "json").stdout)["dkim"] is None
    assert "not checked: the input was not mail" in cli("show", "dkim-5").stdout

    failing = json.loads(cli("inbox", "--format", "json", "--filter", "dkim:fail").stdout)["rows"]
    assert [r["Report ID"] for r in failing] == ["dkim-2"]
    table = cli("inbox", "--filter", "dkim:none").stdout
    assert "dkim-3" in table and "dkim-1" not in table

    shown = json.loads(cli("show", "dkim-2", "--format", "json").stdout)
    assert shown["dkim"]["result"] == "fail"
    text = cli("show", "dkim-2").stdout
    assert "Signature:" in text and "DKIM FAIL" in text

    # reparse keeps the verdicts decided on arrival (no DNS involved) ...
    assert cli("reparse").returncode == 0
    again = json.loads(cli("inbox", "--format", "json").stdout)["rows"]
    assert {r["Report ID"]: r["dkim"] for r in again} == {k: v["dkim"] for k, v in by_id.items()}
    # ... --reverify checks again against today's DNS (here: a dead resolver).
    (tmp_path / "dead").mkdir()
    dead = _config(tmp_path / "dead", f"127.0.0.1:{free_port()}")
    reverified = cli("reparse", "--reverify", "--config", dead)
    assert reverified.returncode == 0, reverified.stderr
    assert "DKIM re-verified for 4 mails, 3 changed" in reverified.stdout
    after = json.loads(cli("inbox", "--format", "json").stdout)["rows"]
    assert {r["Report ID"]: (r["dkim"] or {}).get("result") for r in after} == {
        "dkim-1": "temperror", "dkim-2": "temperror", "dkim-3": "none", "dkim-4": "temperror",
        "dkim-5": None}


def test_parser_processes_verify_a_big_batch_like_the_writer_does(dns: DnsPeers,
                                                                   tmp_path: Path) -> None:
    """A batch big enough for the pipeline's worker processes is verified there (with the keys
    fetched once for the batch), giving the verdicts the writer's own path gives."""
    from tlsrpt_tui.service.import_paths import ingest_items
    from tlsrpt_tui.service.pipeline import MIN_BATCH_FOR_WORKERS

    n = MIN_BATCH_FOR_WORKERS + 5
    datas = [sign(mail(100 + i), ("tlsrpt", "plain", "gone")[i % 3]) for i in range(n)]
    datas[4] = datas[4].replace(b"TLS report.", b"TLS report!")  # altered after signing
    datas[5] = mail(200)  # unsigned
    want = [("permerror" if i % 3 == 2 else "pass") for i in range(n)]
    want[4], want[5] = "fail", "none"
    raws = [RawInput(f"m{i}.eml", d, Origin("file", f"m{i}.eml")) for i, d in enumerate(datas)]

    def verdicts(workers: int) -> list[str | None]:
        with Store(tmp_path / f"w{workers}.sqlite3") as store:
            summary = ingest_items(store, raws, workers=workers, dkim=checker(dns))
            assert summary.new == n
            return [i.dkim.result if i and i.dkim else None
                    for i in (db.get_input(store, pk) for pk in db.iter_input_pks(store))]

    assert verdicts(1) == want
    assert verdicts(0) == want


def test_import_no_dkim_leaves_verdicts_unknown(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "m.eml").write_bytes(mail(7))
    db_path = tmp_path / "s.sqlite3"
    assert run_cli("import", "--no-dkim", tmp_path / "in", db=db_path).returncode == 0
    rows = json.loads(run_cli("inbox", "--format", "json", db=db_path).stdout)["rows"]
    assert rows[0]["dkim"] is None and rows[0]["Sig"] == "?"
    unknown = json.loads(run_cli("inbox", "--format", "json", "--filter", "dkim:unknown",
                                 db=db_path).stdout)["rows"]
    assert len(unknown) == 1


async def test_sync_stores_the_verdict_with_each_message(
    dns: DnsPeers, dovecot: Dovecot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
) -> None:
    monkeypatch.setenv("TLSRPT_TEST_IMAP_PASSWORD", dovecot.password)
    dovecot.append([sign(mail(11), "tlsrpt"),
                    sign(mail(12), "plain").replace(b"TLS report.", b"TLS report?"),
                    mail(13)])
    account = AccountSettings(
        name="test", host=dovecot.host, port=dovecot.imaps_port, security="tls",
        username=dovecot.user, password_env="TLSRPT_TEST_IMAP_PASSWORD",
        ca_file=str(dovecot.ca_file),
    )
    with Store(tmp_path / "s.sqlite3") as store:
        await sync_account(store, account, dkim=checker(dns))
        inputs = [db.get_input(store, pk) for pk in db.iter_input_pks(store)]
    assert [i.dkim.result if i and i.dkim else None for i in inputs] == ["pass", "fail", "none"]


def test_forged_report_raises_report_forged_and_never_report_failures(
    dns: DnsPeers, tmp_path: Path,
) -> None:
    """The alert engine (service/alerts.py) reads the stored verdict: a DKIM-failing report's
    failures are not announced; one report.forged is raised for its input instead."""
    from peers.tlsrpt_mail import fresh_report

    from tlsrpt_tui.service.alerts import Alerter
    from tlsrpt_tui.service.config import AlertSettings
    from tlsrpt_tui.service.ingest import ingest_stream
    from tlsrpt_tui.store import alerts as alert_store

    genuine = sign(fresh_report(1), "tlsrpt")
    forged = sign(fresh_report(2), "tlsrpt").replace(b"aggregate TLS", b"aggregate TL5")
    raws = [RawInput(f"imap:acct/INBOX/{uid}", data,
                     Origin(kind="imap", account="acct", folder="INBOX", uidvalidity=1, uid=uid))
            for uid, data in ((1, genuine), (2, forged))]
    annotated = asyncio.run(checker(dns).annotate(raws))
    assert [r.dkim.result for r in annotated if r.dkim] == ["pass", "fail"]
    with Store(tmp_path / "s.sqlite3") as store:
        with store.transaction():
            alert_store.set_state(store, "first-sync-done:acct/INBOX", True)
        assert ingest_stream(store, annotated).new == 2
        raised = Alerter(store, AlertSettings()).scan_reports()
        by_code = {a.code: a for a in raised}
        assert sorted(by_code) == ["report.failures", "report.forged"]
        assert by_code["report.failures"].details["report_id"] != by_code["report.forged"].details[
            "report_id"]
        assert by_code["report.forged"].details["dkim"] == "fail"
        assert "failed DKIM" in by_code["report.forged"].summary
        # Asking to announce the forged report's failures by hand still does not.
        forged_pk = by_code["report.forged"].report_pk
        assert forged_pk is not None
        Alerter(store, AlertSettings()).report_failures(forged_pk)
        rows = store.conn.execute("SELECT code, report_pk FROM alerts ORDER BY id").fetchall()
        assert ("report.failures", forged_pk) not in [tuple(r) for r in rows]
        assert [r[0] for r in rows].count("report.forged") == 1


def test_key_names_read_only_the_header_block_like_dkimpy() -> None:
    """The quick scan of DKIM-Signature fields finds what dkimpy's full parse finds: folded
    fields, any case, after many other headers; never a field quoted in the body."""
    signed = sign(mail(300), "tlsrpt")
    folded = (b"Received: from a\r\n" * 150 + b"dkim-signature: v=1; a=rsa-sha256;\r\n"
              b"\td=Other.Dkim.Test.;\r\n s=Mail; b=AAAA\r\n" + signed)
    body_only = mail(301).replace(b"TLS report.", b"TLS report.\r\nDKIM-Signature: d=x.test; s=a")
    lf_only = signed.replace(b"\r\n", b"\n")
    for data in (signed, folded, body_only, lf_only, mail(302), b"\r\nDKIM-Signature: d=a; s=b"):
        headers = [tuple(h) for h in dkim.rfc822_parse(data)[0]]
        want = sorted({s.key_name for s in core_dkim._signatures(headers) if s.key_name})
        assert core_dkim.key_names(data) == want
        signed_here = any(n.lower() == b"dkim-signature" for n, _ in headers)
        assert bool(core_dkim.read_header(data).signatures) == signed_here
    assert core_dkim.key_names(folded) == ["mail._domainkey.other.dkim.test",
                                           "tlsrpt._domainkey.sender.dkim.test"]
    assert core_dkim.key_names(body_only) == [] and not core_dkim.read_header(body_only).signatures


# --------------------------------------------------------------------------------------------
# Verified at arrival by the long-lived syncs: the TUI's sync process and ``watch``

MTA = "mx.receiver.test"


def arriving(base: int) -> tuple[list[bytes], list[tuple[str, str | None]]]:
    """Mails as the account's MTA delivered them, and the (result, authserv-id) each must get:
    signed, altered after signing, unsigned, and signed with a key rotated away since (its
    DKIM pass recorded at arrival by the MTA, whose Authentication-Results the account trusts).
    """
    recorded = (f"Authentication-Results: {MTA};\r\n dkim=pass header.d={SENDER}"
                " header.s=gone\r\n").encode()
    mails = [sign(mail(base), "tlsrpt"),
             sign(mail(base + 1), "plain").replace(b"TLS report.", b"TLS report?"),
             mail(base + 2),
             recorded + sign(mail(base + 3), "gone")]
    return mails, [("pass", None), ("fail", None), ("none", None), ("pass", MTA)]


def account_config(tmp_path: Path, dns: DnsPeers, dovecot: Dovecot,  # noqa: F811
                   password_env: str) -> Path:
    """A config with the test Unbound as ``[checks] resolver`` and the Dovecot account, whose
    MTA (``MTA``) is trusted for its Authentication-Results."""
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[checks]\nresolver = "{dns.resolver}"\n\n[[accounts]]\nname = "reports"\n'
        f'host = "{dovecot.host}"\nport = {dovecot.imaps_port}\nsecurity = "tls"\n'
        f'username = "{dovecot.user}"\npassword_env = "{password_env}"\n'
        f'ca_file = "{dovecot.ca_file}"\ntrusted_authserv_id = "{MTA}"\n')
    return cfg


async def test_the_tuis_sync_process_verifies_through_the_configured_resolver(
    dns: DnsPeers, dovecot: Dovecot, db_location,  # noqa: F811  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The TUI's ``s``/watch sync runs in a child process (service/sync_process.py) with the
    config's ``[checks] resolver`` and each account's ``trusted_authserv_id``; on both
    backends."""
    from tlsrpt_tui.service.sync_process import SyncProcess

    monkeypatch.setenv("TLSRPT_TEST_IMAP_PASSWORD", dovecot.password)
    mails, want = arriving(500)
    dovecot.append(mails)
    account = AccountSettings(
        name="test", host=dovecot.host, port=dovecot.imaps_port, security="tls",
        username=dovecot.user, password_env="TLSRPT_TEST_IMAP_PASSWORD",
        ca_file=str(dovecot.ca_file), trusted_authserv_id=MTA,
    )
    with Store(db_location) as store:
        summary = await SyncProcess(store.location).sync_all([account], lambda e: None,
                                                             resolver=dns.resolver)
        assert summary.ok and summary.total("new") == 4, summary
        inputs = [db.get_input(store, pk) for pk in db.iter_input_pks(store)]
    assert [(i.dkim.result, i.dkim.authserv_id) for i in inputs if i and i.dkim] == want


def test_watch_verifies_mail_at_arrival(dns: DnsPeers, dovecot: Dovecot,  # noqa: F811
                                        tmp_path: Path) -> None:
    """``watch`` (the service) verifies what its first sync finds and what arrives later by
    IDLE, through ``[checks] resolver``, trusting the account's MTA for rotated keys."""
    import os
    import signal
    import sqlite3
    import sys
    import time

    cfg = account_config(tmp_path, dns, dovecot, "TLSRPT_TEST_WATCH_DKIM")
    store = tmp_path / "s.sqlite3"
    log = tmp_path / "watch.log"
    first, want_first = arriving(600)
    later, want_later = arriving(610)
    dovecot.append(first)

    def verdicts() -> list[tuple[str, str | None]]:
        if not store.exists():
            return []
        conn = sqlite3.connect(store, timeout=10)
        try:
            return [tuple(r) for r in conn.execute(
                "SELECT dkim_result, dkim_authserv FROM raw_inputs ORDER BY id")]
        except sqlite3.OperationalError:
            return []  # not migrated yet
        finally:
            conn.close()

    env = {k: v for k, v in os.environ.items() if not k.startswith("TLSRPT_TUI_")}
    env.update(TLSRPT_TEST_WATCH_DKIM=dovecot.password, XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    with log.open("wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "tlsrpt_tui", "watch", "--config",
                                 str(cfg), "--db", str(store)],
                                env=env, stderr=err, stdout=subprocess.DEVNULL)

    def wait(n: int) -> None:
        deadline = time.monotonic() + 60
        while len(verdicts()) < n:
            assert proc.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
            time.sleep(0.1)

    try:
        wait(4)
        dovecot.append(later)  # arrives while watch idles on the folder
        wait(8)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    assert verdicts() == want_first + want_later


def test_the_sync_command_verifies_through_the_configured_resolver(  # type: ignore[no-untyped-def]
    dns: DnsPeers, dovecot: Dovecot, tmp_path: Path, db_location,  # noqa: F811
) -> None:
    """``tlsrpt-tui sync`` as a user runs it, on both backends: ``[checks] resolver`` for the
    keys, the account's ``trusted_authserv_id`` for a rotated one."""
    mails, want = arriving(700)
    dovecot.append(mails)
    cfg = account_config(tmp_path, dns, dovecot, "TLSRPT_TEST_SYNC_DKIM")
    synced = run_cli("sync", "--config", cfg, db=db_location,
                     env={"TLSRPT_TEST_SYNC_DKIM": dovecot.password})
    assert synced.returncode == 0, synced.stderr
    with Store(db_location) as store:
        inputs = [db.get_input(store, pk) for pk in db.iter_input_pks(store)]
    assert [(i.dkim.result, i.dkim.authserv_id) for i in inputs if i and i.dkim] == want
    rows = json.loads(run_cli("inbox", "--format", "json", db=db_location).stdout)["rows"]
    assert sorted(r["Sig"] for r in rows) == ["?", "✓", "✓", "✗"]
    recorded = next(r["dkim"] for r in rows if r["dkim"].get("authserv_id"))
    assert recorded == {"result": "pass", "domain": SENDER, "selector": "gone", "aligned": True,
                        "authserv_id": MTA}
