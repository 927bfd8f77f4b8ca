"""DKIM verdicts for arriving mail: the one step ``sync``, ``watch`` and ``import`` share.

Called once per batch, before the batch is stored, so the verdict is written with the input
(the store keeps it because keys rotate; ``reparse`` leaves it alone unless ``--reverify``):

1. which inputs are mail and which keys their signatures need (a quick scan of the header
   block's DKIM-Signature fields, off the loop: ``core_dkim.read_header``);
2. the keys, fetched concurrently through the configured resolver and cached per key name with
   the record's TTL (net/dkim_keys.py; DNS waits on the event loop, never blocks it);
3. the verification itself (CPU), and, for an account with ``trusted_authserv_id``, its own
   MTA's Authentication-Results where our check could not decide (the key is gone, DNS
   failed). The ingest pipeline runs this step in its parser processes with the parsing
   (``DkimKeys`` travels with the batch: see service/ingest.py ``prepare``), so neither the
   event loop nor the SQLite writer of a sync or an import spend their CPU on it.

Inputs that are not mail get None (JSON and gzip files carry no signature).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tlsrpt_tui.core import dkim as core_dkim
from tlsrpt_tui.core.model import DkimVerdict, RawInput
from tlsrpt_tui.core.parse import sniff
from tlsrpt_tui.net.dkim_keys import KeyCache
from tlsrpt_tui.net.dns import Resolver

#: Seconds for one key lookup: a report mail must not wait on a dead resolver for long.
KEY_TIMEOUT = 5.0

#: The verdict of unsigned mail (immutable: one for all).
_UNSIGNED = DkimVerdict("none")


def _key_names(datas: Sequence[bytes]) -> list[list[str] | None]:
    return [core_dkim.key_names(d) if sniff(d) == "mail" else None for d in datas]


def verdict_of(data: bytes, keys: Mapping[str, core_dkim.KeyRecord],
               trusted_authserv_id: str | None = None,
               header: core_dkim.SignedHeader | None = None) -> DkimVerdict:
    """The verdict for one mail given the key records it needs (pure CPU: any process);
    ``header``: its header block as ``core_dkim.read_header`` read it, when the caller has it."""
    try:
        verdict = core_dkim.verify(data, keys, header)
    except Exception:  # a verifier bug must not stop a sync: undecided, and says so
        verdict = DkimVerdict("permerror")
    return _vouched(data, verdict, trusted_authserv_id) if trusted_authserv_id else verdict


def _vouched(data: bytes, verdict: DkimVerdict, trusted_authserv_id: str | None) -> DkimVerdict:
    """The verdict, or where it is undecided, what the account's own MTA wrote at arrival."""
    if trusted_authserv_id and verdict.result in ("temperror", "permerror"):
        vouched = core_dkim.authentication_results(data, trusted_authserv_id)
        if vouched is not None and vouched.result in ("pass", "fail"):
            verdict = vouched
    return verdict


@dataclass(frozen=True, slots=True)
class DkimKeys:
    """What verifying a batch of mail needs besides the mail: the key records its signatures
    name, fetched beforehand (small and picklable: it goes to the parser processes)."""

    records: Mapping[str, core_dkim.KeyRecord]
    trusted_authserv_id: str | None = None

    def verdict(self, data: bytes) -> DkimVerdict | None:
        """The verdict for these bytes; None when they are not mail (nothing to verify)."""
        if sniff(data) != "mail":
            return None
        header = core_dkim.read_header(data)
        if not header.signatures:
            return _UNSIGNED  # what verify says, without parsing the whole mail
        return verdict_of(data, self._records_for(header), self.trusted_authserv_id, header)

    def _records_for(self, header: core_dkim.SignedHeader) -> Mapping[str, core_dkim.KeyRecord]:
        """The key records to verify with: those fetched beforehand."""
        return self.records


@dataclass(frozen=True, slots=True)
class KeysLookedUpHere(DkimKeys):
    """``DkimKeys`` for a process that asks DNS itself for the keys its mail needs (a parser
    process of ``import`` or ``sync``), through the same resolver, each key cached in that
    process for its TTL as ``KeyCache`` does; ``records`` stays empty.

    Why: otherwise the import's main process, which also walks the directories, reads the
    files and runs the SQLite writer, scanned every mail's DKIM-Signature fields for the key
    names before handing the batch over (~25 µs a mail of the stage everything waits for).
    A parser process finds the names while verifying; a batch of a thousand mails from one
    signer costs each parser process one query. The header block is read once per mail
    (``core_dkim.read_header``) for the names and, when no key is published, the verdict."""

    host: str = ""
    port: int = 53
    timeout: float = KEY_TIMEOUT

    def _records_for(self, header: core_dkim.SignedHeader) -> Mapping[str, core_dkim.KeyRecord]:
        """The key records the signatures name, looked up (or cached) in this process."""
        names = header.key_names()
        return _local_records((self.host, self.port, self.timeout), names) if names else {}


class _LocalKeys:
    """One process's key cache and the private event loop its lookups run on."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        server = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.cache = KeyCache(Resolver(server, timeout=timeout), timeout=timeout)

    def get(self, names: Sequence[str]) -> dict[str, core_dkim.KeyRecord]:
        hit = self.cache.cached(names)
        if hit is not None:
            return hit
        return self.loop.run_until_complete(self.cache.get_many(names))


#: This process's ``_LocalKeys`` per resolver (made anew in a forked child: an event loop
#: must not be shared across a fork), and the lock keeping one thread at a time on a lookup.
_LOCAL: dict[tuple[str, int, float], _LocalKeys] = {}
_LOCAL_LOCK = threading.Lock()


def _forget_parents_keys() -> None:
    """In a forked child: the parent's loops and lock are not this process's."""
    global _LOCAL_LOCK
    _LOCAL.clear()
    _LOCAL_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_forget_parents_keys)


def _local_records(key: tuple[str, int, float], names: Sequence[str]
                   ) -> dict[str, core_dkim.KeyRecord]:
    local = _LOCAL.get(key)
    if local is not None:
        # Keys cached (nearly every mail of a batch): no lock, as reading the cache changes
        # nothing (each dict read is atomic), and no os.getpid() (a system call) per mail:
        # a forked child starts with an empty _LOCAL instead.
        hit = local.cache.cached(names)
        if hit is not None:
            return hit
    with _LOCAL_LOCK:
        local = _LOCAL.get(key)
        if local is None or local.pid != os.getpid():
            local = _LOCAL[key] = _LocalKeys(*key)
        return local.get(names)


def _verify_all(
    datas: Sequence[bytes],
    names: Sequence[list[str] | None],
    keys: dict[str, core_dkim.KeyRecord],
    trusted_authserv_id: str | None,
) -> list[DkimVerdict | None]:
    return [None if wanted is None else verdict_of(data, keys, trusted_authserv_id)
            for data, wanted in zip(datas, names, strict=True)]


@dataclass
class DkimChecker:
    """Verifies DKIM with one key cache (one per process: keys are shared by every account)."""

    keys: KeyCache

    @classmethod
    def for_resolver(cls, resolver: str | None, *, timeout: float = KEY_TIMEOUT) -> DkimChecker:
        """Through ``[checks] resolver`` (HOST[:PORT]) or, when None, the system's resolver.

        ValueError (one line) when there is no usable resolver."""
        return cls(KeyCache(Resolver(resolver, timeout=timeout), timeout=timeout))

    def looked_up_where_verified(self, *, trusted_authserv_id: str | None = None
                                 ) -> KeysLookedUpHere:
        """Keys for the process that verifies to ask DNS for itself, through this checker's
        resolver (see ``KeysLookedUpHere``): no key scan where the mail arrives."""
        resolver = self.keys.resolver
        return KeysLookedUpHere({}, trusted_authserv_id, resolver.host, resolver.port,
                                self.keys.timeout)

    async def verdicts(
        self, datas: Sequence[bytes], *, trusted_authserv_id: str | None = None
    ) -> list[DkimVerdict | None]:
        """One verdict per input, in order (None where the input is not mail)."""
        if not datas:
            return []
        names = await asyncio.to_thread(_key_names, datas)
        wanted = {n for group in names if group for n in group}
        keys = await self.keys.get_many(wanted) if wanted else {}
        return await asyncio.to_thread(_verify_all, datas, names, keys, trusted_authserv_id)

    async def annotate(
        self, raws: Sequence[RawInput], *, trusted_authserv_id: str | None = None
    ) -> list[RawInput]:
        """The inputs with their verdicts attached (``RawInput.dkim``)."""
        verdicts = await self.verdicts([r.data for r in raws],
                                       trusted_authserv_id=trusted_authserv_id)
        return [dataclasses.replace(r, dkim=v) if v is not None else r
                for r, v in zip(raws, verdicts, strict=True)]


def checker_for(resolver: str | None) -> DkimChecker | None:
    """A checker through this resolver, or None (nothing verified) when none is usable: sync
    must still store mail when this machine has no resolver; the inputs then show ``?``."""
    try:
        return DkimChecker.for_resolver(resolver)
    except ValueError:
        return None
