"""DKIM verdicts for arriving mail: the one step ``sync``, ``watch`` and ``import`` share.

Called once per batch, before the batch is stored, so the verdict is written with the input
(the store keeps it because keys rotate; ``reparse`` leaves it alone unless ``--reverify``):

1. which inputs are mail and which keys their signatures need (CPU, in a worker thread);
2. the keys, fetched concurrently through the configured resolver and cached per key name with
   the record's TTL (net/dkim_keys.py; DNS waits on the event loop, never blocks it);
3. the verification itself (CPU, in a worker thread), and, for an account with
   ``trusted_authserv_id``, its own MTA's Authentication-Results where our check could not
   decide (the key is gone, DNS failed).

Inputs that are not mail get None (JSON and gzip files carry no signature).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from tlsrpt_tui.core import dkim as core_dkim
from tlsrpt_tui.core.model import DkimVerdict, ParsedInput, RawInput
from tlsrpt_tui.core.parse import sniff
from tlsrpt_tui.net.dkim_keys import KeyCache
from tlsrpt_tui.net.dns import Resolver

#: Seconds for one key lookup: a report mail must not wait on a dead resolver for long.
KEY_TIMEOUT = 5.0


def _key_names(datas: Sequence[bytes]) -> list[list[str] | None]:
    return [core_dkim.key_names(d) if sniff(d) == "mail" else None for d in datas]


def _verify_all(
    datas: Sequence[bytes],
    names: Sequence[list[str] | None],
    keys: dict[str, core_dkim.KeyRecord],
    trusted_authserv_id: str | None,
) -> list[DkimVerdict | None]:
    out: list[DkimVerdict | None] = []
    for data, wanted in zip(datas, names, strict=True):
        if wanted is None:
            out.append(None)
            continue
        try:
            verdict = core_dkim.verify(data, keys)
        except Exception:  # a verifier bug must not stop a sync: undecided, and says so
            verdict = DkimVerdict("permerror")
        if trusted_authserv_id and verdict.result in ("temperror", "permerror"):
            vouched = core_dkim.authentication_results(data, trusted_authserv_id)
            if vouched is not None and vouched.result in ("pass", "fail"):
                verdict = vouched
        out.append(verdict)
    return out


@dataclass
class DkimChecker:
    """Verifies DKIM with one key cache (one per process: keys are shared by every account)."""

    keys: KeyCache

    @classmethod
    def for_resolver(cls, resolver: str | None, *, timeout: float = KEY_TIMEOUT) -> DkimChecker:
        """Through ``[checks] resolver`` (HOST[:PORT]) or, when None, the system's resolver.

        ValueError (one line) when there is no usable resolver."""
        return cls(KeyCache(Resolver(resolver, timeout=timeout), timeout=timeout))

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


def annotate_stream(
    items: Iterable[RawInput | ParsedInput],
    checker: DkimChecker,
    *,
    chunk: int = 200,
) -> Iterator[RawInput | ParsedInput]:
    """Verdicts for a synchronous stream (``import``): chunks verified on a private event loop.

    A chunk's keys are fetched concurrently, so a directory of mail from a hundred senders costs
    about one lookup round per chunk, not a hundred sequential lookups.
    """
    loop = asyncio.new_event_loop()
    try:
        batch: list[RawInput | ParsedInput] = []

        def flush() -> list[RawInput | ParsedInput]:
            raws = [i for i in batch if isinstance(i, RawInput)]
            done = iter(loop.run_until_complete(checker.annotate(raws)))
            out = [next(done) if isinstance(i, RawInput) else i for i in batch]
            batch.clear()
            return out

        for item in items:
            batch.append(item)
            if len(batch) >= chunk:
                yield from flush()
        if batch:
            yield from flush()
    finally:
        loop.close()
