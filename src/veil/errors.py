"""Veil's error hierarchy.

Every error a user can cause carries a message that says what was expected and how to fix it
(STYLE.md "Habits"), so the CLI can print it instead of a traceback.
"""

from __future__ import annotations

import re


class VeilError(Exception):
    """Base class for every error Veil raises on purpose."""


class PolicyError(VeilError):
    """A policy file or policy value is invalid (names the file, line and key where known)."""


class SecretError(VeilError):
    """The project secret is missing, unreadable or too weak."""


class SecretMismatch(SecretError):
    """Two secrets for one project ($VEIL_SECRET or --key-file against its key file): never "no secret"."""


class InputError(VeilError):
    """An input file cannot be read or safely de-identified; the file is reported, the batch goes on."""

    def __init__(self, reason: str, rule: str = "input") -> None:
        super().__init__(reason)
        self.reason = reason
        self.rule = rule


class OutputError(VeilError):
    """The output location itself failed (full, read-only, over quota, not writable, I/O error).

    Fatal for the run, not a fact about one input: quarantining every remaining file as unreadable
    would bury the cause in thousands of lines. The run stops; what it finished is journaled, so the
    same command resumes once the cause is fixed.
    """

    #: what the run had finished when the output failed (the runner's RunSummary), for its audit entry
    summary: object = None


class Interrupted(BaseException):
    """The command was asked to stop by a signal (Ctrl-C: SIGINT; a scheduler or ``timeout``: SIGTERM;
    a closed terminal: SIGHUP).

    A BaseException, like KeyboardInterrupt, so that no ``except Exception`` on the way (per-file
    quarantine, report writers) swallows it; not a KeyboardInterrupt, so that click does not turn it
    into a bare "Aborted!" with exit code 1. The CLI exits with 128 + the signal number, the shell's
    convention for a process stopped by that signal.
    """

    def __init__(self, signum: int) -> None:
        import signal

        self.signum = signum
        self.name = signal.Signals(signum).name
        #: what the interrupted work had done, when it can say (the runner's RunSummary so far)
        self.summary: object = None
        #: the command had already printed its result (``--json``: its one object) when the stop came
        self.reported = False
        #: the work was whole and recorded when the stop came (nothing to resume)
        self.finished = False
        super().__init__(f"interrupted by {self.name}")


#: A quoted literal in an exception's text, or one left open to the end: pydicom quotes what it could not read
#: ("received b'Quixandor^..'", "Unknown (0028,0004) 'Photometric Interpretation' value 'QUIXANDOR'"), Python
#: quotes the input it refused.
_QUOTED = re.compile(r"""b?(?P<q>['"])(?:(?!(?P=q))[^\\]|\\.)*(?P<end>(?P=q)|\Z)""")


def scrub(text: str, limit: int = 240) -> str:
    """Another library's error text as it may go into a reason (quarantine report, journal, review page):
    quoted values replaced by '…', the rest cut at a quote left open and at `limit` characters. A reason is
    read by operators and goes into release folders; the value that made a file unreadable is the file's
    content (red team: a UL of 39 bytes, a vendor FD whose wrong length swallowed the next element holding
    the patient's name, went into quarantine.jsonl through pydicom's BytesLengthException)."""
    out = _QUOTED.sub(lambda m: "'…'" if m.group("end") else "…", text)
    return out if len(out) <= limit else out[:limit - 1] + "…"


def listed(value: object, known: frozenset[str] | set[str], what: str = "value") -> str:
    """`value` as written when it is one of the `known` (a standard MIME type, a PDF filter name), else
    a phrase that does not repeat it: such values are read from the file and may hold anything."""
    text = str(value)
    return text if text in known else f"an unlisted {what}"
