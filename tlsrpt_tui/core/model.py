"""The report model every layer shares.

Parsed reports are immutable value objects: the store, the CLI tables and the TUI all read the
same objects, so a quirk is normalised once, in the parser, and never again downstream.
Fields hold untrusted text exactly as the sender wrote it (after JSON decoding); fronts are
responsible for showing it as text, never as markup.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class PolicyType(StrEnum):
    """RFC 8460 policy types; anything else a sender invents is kept as OTHER + raw text."""

    STS = "sts"
    TLSA = "tlsa"
    NO_POLICY_FOUND = "no-policy-found"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class FailureDetail:
    result_type: str
    failed_session_count: int
    sending_mta_ip: str | None = None
    receiving_mx_hostname: str | None = None
    receiving_mx_helo: str | None = None
    receiving_ip: str | None = None
    additional_information: str | None = None
    failure_reason_code: str | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    policy_type: PolicyType
    #: The sender's own spelling of the type (kept for unknown types and for the raw view).
    policy_type_raw: str
    policy_domain: str
    #: Flattened policy-string: Microsoft's JSON-array-in-a-string and ';'-joined TLSA lists
    #: are expanded to one element per record/line.
    policy_strings: tuple[str, ...]
    #: mx-host (or mx-host-pattern) as a tuple, whatever shape the sender used.
    mx_hosts: tuple[str, ...]
    successful_sessions: int
    failed_sessions: int
    failure_details: tuple[FailureDetail, ...] = ()

    @property
    def detail_failed_sum(self) -> int:
        return sum(d.failed_session_count for d in self.failure_details)

    @property
    def count_mismatch(self) -> bool:
        """True when failure details exist and do not add up to the summary (Mail.ru)."""
        return bool(self.failure_details) and self.detail_failed_sum != self.failed_sessions


@dataclass(frozen=True, slots=True)
class Report:
    organization: str
    contact: str | None
    #: The JSON report-id (the one that counts, RFC 8460 §5.6).
    report_id: str
    start: datetime  # timezone-aware UTC
    end: datetime  # timezone-aware UTC
    policies: tuple[Policy, ...]
    #: From the mail envelope, when the report came by mail.
    subject_report_id: str | None = None
    report_domain: str | None = None  # TLS-Report-Domain header
    submitter: str | None = None  # TLS-Report-Submitter header
    #: Decoded from Microsoft's FILETIME report-id, when it has one.
    generated_at: datetime | None = None
    #: Human-readable notes about quirks met while parsing (e.g. a count mismatch).
    notes: tuple[str, ...] = ()

    @property
    def successful_sessions(self) -> int:
        return sum(p.successful_sessions for p in self.policies)

    @property
    def failed_sessions(self) -> int:
        return sum(p.failed_sessions for p in self.policies)

    @property
    def dedup_key(self) -> tuple[str, str, str, str]:
        """(organization, report-id, start, end): the same report sent twice.

        The JSON's organization-name is used rather than the TLS-Report-Submitter header, because
        the same report imported once from its mail and once as a bare JSON file has only the
        JSON in common; the submitter stands in only when a sender leaves the organization empty.
        """
        return (self.dedup_who, self.report_id, self.start.isoformat(), self.end.isoformat())

    @property
    def dedup_who(self) -> str:
        """The first element of ``dedup_key``: the lower-cased organization, else submitter."""
        return (self.organization.strip() or self.submitter or "").strip().lower()


class InputStatus(StrEnum):
    REPORT = "report"  # one or more reports parsed
    NOT_REPORT = "not-report"  # mail that is not TLS-RPT (DMARC, ordinary mail)
    REJECTED = "rejected"  # claimed or looked like a report but could not be read


@dataclass(frozen=True, slots=True)
class ParsedInput:
    """What one input (a file, a mail message, an mbox entry) turned into.

    `source` names the input for error lines (``path``, ``path[3]`` for the 4th mbox message,
    ``path!member.json`` for a zip member). `error` is one line: which part, and why.
    """

    source: str
    status: InputStatus
    reports: tuple[Report, ...] = ()
    error: str | None = None
    #: Per-part errors that did not stop other parts from parsing (e.g. one bad zip member).
    part_errors: tuple[str, ...] = field(default_factory=tuple)

    def __reduce__(self) -> tuple[type[ParsedInput], tuple[object, ...]]:
        """Pickled as its fields (see ``Origin.__reduce__``): one comes back from a parser
        process for every input, to the process that also writes the store."""
        return ParsedInput, (self.source, self.status, self.reports, self.error,
                             self.part_errors)


@dataclass(frozen=True, slots=True)
class Origin:
    """Where raw input bytes came from; stored beside them so nothing is untraceable."""

    kind: str  # "file" | "imap"
    path: str | None = None  # file path (with [n] or !member suffix for parts), for kind="file"
    account: str | None = None
    folder: str | None = None
    uidvalidity: int | None = None
    uid: int | None = None

    def __reduce__(self) -> tuple[type[Origin], tuple[object, ...]]:
        """Pickled as its fields in order: every input crosses to a parser process, and a
        frozen slots dataclass's default pickling looks its fields up each time."""
        return Origin, (self.kind, self.path, self.account, self.folder, self.uidvalidity,
                        self.uid)


#: DKIM results (RFC 8601 wording), best first.
DKIM_RESULTS = ("pass", "fail", "none", "temperror", "permerror")


@dataclass(frozen=True, slots=True)
class DkimVerdict:
    """Whether report mail was really signed by its sender (RFC 8460 §3), decided at arrival.

    Stored with the input because keys rotate: a signature that verified when the mail came
    may have no key in DNS a year later. ``authserv_id`` names the trusted server whose
    Authentication-Results header gave the verdict, when it did not come from our own check.
    """

    result: str  # one of DKIM_RESULTS
    domain: str | None = None  # d= of the signature the verdict is about
    selector: str | None = None  # s=
    aligned: bool = False  # the signer is the reporting organization (or a parent domain)
    authserv_id: str | None = None

    def __reduce__(self) -> tuple[type[DkimVerdict], tuple[object, ...]]:
        """Pickled as its fields (see ``Origin.__reduce__``): one comes back from a parser
        process with nearly every mail."""
        return DkimVerdict, (self.result, self.domain, self.selector, self.aligned,
                             self.authserv_id)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "result": self.result,
            "domain": self.domain,
            "selector": self.selector,
            "aligned": self.aligned,
        }
        if self.authserv_id is not None:
            out["authserv_id"] = self.authserv_id
        return out

    @property
    def trusted(self) -> bool:
        """Signed by the reporting organization and verified: ✓ in the inbox."""
        return self.result == "pass" and self.aligned


@dataclass(frozen=True, slots=True)
class RawInput:
    """One input's bytes as received, before any parsing: what the store keeps first."""

    source: str  # the name used in error lines
    data: bytes
    origin: Origin
    #: The DKIM verdict decided at arrival (mail only; None: not mail, or not verified).
    dkim: DkimVerdict | None = None

    def __reduce__(self) -> tuple[type[RawInput], tuple[object, ...]]:
        """Pickled as its fields (see ``Origin.__reduce__``): ~3x cheaper to send to a parser
        process, in the process that also runs the loop and the SQLite writer."""
        return RawInput, (self.source, self.data, self.origin, self.dkim)
