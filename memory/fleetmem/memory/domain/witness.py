"""Audit witness rules (pure): the chain's head (seq and hash) is also written outside the
database, one JSON line per anchor, so that cutting the tail of the log is detected.

A line is `{"seq": 125, "hash": "<64 hex>", "at": "<ISO time>", "kind": "anchor"}`, plus
`"mac"` (HMAC-SHA256 over the other fields, hex) when a key is configured. With a key, a
line without a valid `mac` fails verification. A last line without its newline is a write
torn by a crash: reported, never fatal (it never held a complete anchor).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field

KINDS = ("anchor", "start", "shutdown")
"""`start`: the first anchor of a new witness (fresh folder, or an upgrade from a store with
entries and no witness); `shutdown`: the head at a clean stop; `anchor`: any other."""

_MAX_LISTED = 10


@dataclass(frozen=True)
class Anchor:
    """One witnessed head of the audit chain."""

    seq: int
    hash: str
    at: str
    kind: str = "anchor"
    line: int = 0
    """1-based line number in the witness (0 when not read from one)."""


@dataclass
class WitnessLog:
    """What a witness holds: its anchors in file order, and what is wrong with it."""

    anchors: list[Anchor] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """Each fails verification (a line edited, forged, or written without the key)."""
    warnings: list[str] = field(default_factory=list)
    """Reported, not fatal (a torn last line)."""

    @property
    def last(self) -> Anchor | None:
        """The anchor with the highest seq (None when there is none)."""
        return max(self.anchors, key=lambda a: a.seq, default=None)


def _body(seq: int, digest: str, at: str, kind: str) -> dict[str, object]:
    return {"seq": seq, "hash": digest, "at": at, "kind": kind}


def _mac(key: bytes, body: dict[str, object]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()


def encode(anchor: Anchor, key: bytes | None) -> str:
    """The witness line of `anchor` (with its newline), signed when `key` is set."""
    body = _body(anchor.seq, anchor.hash, anchor.at, anchor.kind)
    if key:
        body["mac"] = _mac(key, body)
    return json.dumps(body, sort_keys=True, separators=(",", ":")) + "\n"


def _decode(raw: str, number: int, key: bytes | None) -> Anchor | str:
    """The anchor on line `number`, or why the line is not a valid one."""
    try:
        obj = json.loads(raw)
    except ValueError:
        return f"witness line {number} is not valid JSON (edited?)"
    if not isinstance(obj, dict):
        return f"witness line {number} is not a JSON object"
    seq, digest, at, kind = obj.get("seq"), obj.get("hash"), obj.get("at"), obj.get("kind")
    if (not isinstance(seq, int) or isinstance(seq, bool) or seq < 1
            or not isinstance(digest, str) or len(digest) != 64
            or not isinstance(at, str) or kind not in KINDS):
        return f"witness line {number} lacks a valid seq, hash, at or kind"
    if key:
        mac = obj.get("mac")
        if not isinstance(mac, str) or not hmac.compare_digest(
                mac, _mac(key, _body(seq, digest, at, kind))):
            what = "has no HMAC" if mac is None else "has an HMAC that does not verify"
            return (f"witness line {number} (seq {seq}) {what} with the configured key: "
                    "edited, forged, or written before the key was set")
    return Anchor(seq=seq, hash=digest, at=at, kind=kind, line=number)


def parse(text: str, key: bytes | None) -> WitnessLog:
    """Read a witness file's text: anchors, problems (fatal) and warnings (not)."""
    log = WitnessLog()
    lines = text.split("\n")
    torn = lines.pop()  # "" when the text ends with a newline, as every complete line does
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        found = _decode(raw, number, key)
        if isinstance(found, Anchor):
            log.anchors.append(found)
        else:
            log.problems.append(found)
    if torn:
        log.warnings.append(f"witness line {len(lines) + 1} is torn (no newline: a write cut "
                            f"short by a crash); ignored")
    return log


class AnchorCheck:
    """Compares the witness's anchors with the store's entries, fed in seq order."""

    def __init__(self, anchors: list[Anchor]) -> None:
        self._wanted: dict[int, list[Anchor]] = {}
        for a in anchors:
            self._wanted.setdefault(a.seq, []).append(a)
        self.checked = 0
        self.first_bad: int | None = None
        """The lowest seq that fails (after `finish`)."""
        self._mismatch: list[str] = []

    def see(self, seq: int, digest: str) -> None:
        """One stored entry (call for every entry, in seq order)."""
        for a in self._wanted.pop(seq, ()):
            self.checked += 1
            if a.hash != digest:
                self._flag(seq)
                self._mismatch.append(
                    f"the entry at seq {seq} has hash {digest[:16]}… but the witness "
                    f"anchored {a.hash[:16]}… (line {a.line}, {a.at}): the log was "
                    "rewritten from there on")

    def _flag(self, seq: int) -> None:
        self.first_bad = seq if self.first_bad is None else min(self.first_bad, seq)

    def finish(self, last_seq: int) -> list[str]:
        """Every problem found, once every stored entry was seen (`last_seq`: the last)."""
        problems = self._mismatch[:_MAX_LISTED]
        if len(self._mismatch) > _MAX_LISTED:
            problems.append(f"... and {len(self._mismatch) - _MAX_LISTED} more anchored "
                            "entries with another hash")
        left = sorted((a for anchors in self._wanted.values() for a in anchors),
                      key=lambda a: a.seq)
        beyond = [a for a in left if a.seq > last_seq]
        inside = [a for a in left if a.seq <= last_seq]
        if inside:
            self._flag(inside[0].seq)
            seqs = ", ".join(str(a.seq) for a in inside[:_MAX_LISTED])
            problems.append(f"entries anchored by the witness are missing from the log "
                            f"(seq {seqs}{' ...' if len(inside) > _MAX_LISTED else ''})")
        if beyond:
            self._flag(last_seq + 1)
            top = beyond[-1]
            ends = ("the audit log is empty" if last_seq == 0
                    else f"the audit log ends at seq {last_seq}")
            problems.append(f"{ends} but the witness anchored seq {top.seq} (hash "
                            f"{top.hash[:16]}…, {top.at}): entries {last_seq + 1}-{top.seq} "
                            "were removed")
        self.checked += len(left)
        return problems
