"""Hostile files for the vault of a running `fleetmem serve`: each case of issue 21 (a
directory named like a note, a FIFO, unbounded YAML nesting, an alias bomb, a crafted and a
malformed state entry, symlinked trash and state) and K random files, dropped while the
fleet attacks; plus a snapshot of everything outside the vault, to prove nothing there was
created or changed.

Layout of the work folder W: the vault is W/l1/l2/l3/vault, so the crafted state key
`../../../../outside/escaped.md` points at W/outside, the sentinel folder (which also holds
the symlink targets)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.vault.test_hostile_files import BOMB, DEEP

TEAM_FOLDER = "team atlas"
ESCAPE = "../../../../outside/escaped.md"
SEEDED = ("Alice", "Acme", "Billing Service", "Trashme")
UNICODE = ("\u00dcn\u00efc\u00f8d\u00e9", "\u540d\u524d", "\u30ce\u30fc\u30c8",
           "\u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac", "emoji \u2713",
           "rtl \u200f\u05e9\u05dc\u05d5\u05dd", "zero\u200bwidth", "A\u030a",
           "\ufb01 ligature", "\u216b")


@dataclass
class VaultLayout:
    work: Path

    @property
    def vault(self) -> Path:
        return self.work / "l1" / "l2" / "l3" / "vault"

    @property
    def outside(self) -> Path:
        return self.work / "outside"

    @property
    def state_dir(self) -> Path:
        return self.vault / ".fleetmem"

    def prepare(self) -> None:
        self.vault.mkdir(parents=True)
        self.outside.mkdir()
        (self.outside / "sentinel.txt").write_text("nothing may change this folder\n")
        (self.outside / "trash-target").mkdir()

    def snapshot(self) -> dict[str, str]:
        """Every entry outside the vault that a vault sync could reach: the sentinel folder
        (with the symlink targets) and the folders around the vault."""
        out: dict[str, str] = {}
        for top in (self.outside, self.work / "l1"):
            for p in sorted(top.rglob("*")):
                if p == self.vault or self.vault in p.parents:
                    continue
                out[str(p.relative_to(self.work))] = entry(p)
        return out

    def changes(self, before: dict[str, str], written_by_test: dict[str, str]) -> list[str]:
        """What differs outside the vault from `before`, besides what the test wrote."""
        expected = {**before, **written_by_test}
        now = self.snapshot()
        return [f"{rel}: {expected.get(rel, 'absent')} -> {now.get(rel, 'absent')}"
                for rel in sorted(set(expected) | set(now)) if expected.get(rel) != now.get(rel)]


def entry(p: Path) -> str:
    """A path's kind and content, enough to tell any change."""
    if p.is_symlink():
        return f"link -> {os.readlink(p)}"
    if p.is_dir():
        return "dir"
    if not p.is_file():
        return "special file"
    data = p.read_bytes()
    return f"{len(data)} bytes {hashlib.sha256(data).hexdigest()[:16]}"


@dataclass
class VaultOutcome:
    """What the fuzz did and saw."""

    hostile: list[str] = field(default_factory=list)
    random_files: int = 0
    random_bytes: int = 0
    crafted_state_read: bool = False
    degraded_seen: bool = False
    symlink_trash_deleted: int = 0
    written_by_test: dict[str, str] = field(default_factory=dict)
    outside_changes: list[str] = field(default_factory=list)
    missing_entities: list[str] = field(default_factory=list)
    syncing_after: float | None = None
    legit_note_seconds: float | None = None
    rest_note_seconds: float | None = None
    rest_write: str = ""
    """The REST write's answer and how long it took (part of rest_note_seconds)."""


def _name(rng: random.Random, i: int) -> str:
    """A random note path: unicode, dots, spaces, long, deep folders, other extensions."""
    kind = rng.randrange(9)
    stem = {0: f"{rng.choice(UNICODE)} {i}", 1: f"..dots.{i}..", 2: f".hidden {i}",
            3: f"{'long ' * 30}{i}", 4: f"note {i}.md", 5: f"UPPER {i}",
            6: f"x{i}", 7: f"{rng.choice(UNICODE)}{i}", 8: f"[brackets] #{i} ^x"}[kind]
    ext = rng.choice([".md"] * 8 + [".MD", ".txt", ""])
    folder = rng.choice([TEAM_FOLDER] * 5 + ["global", "Memories", f"deep {i}/a/b/c/d/e/f",
                                             f"new folder {i}", ""])
    return f"{folder}/{stem}{ext}".lstrip("/")


def _content(rng: random.Random, i: int, max_bytes: int) -> bytes:
    """Random bytes, empty, partial or random frontmatter, huge (over the cap), or a
    plausible note."""
    kind = rng.randrange(10)
    if kind == 0:
        return rng.randbytes(rng.randrange(1, 4096))
    if kind == 1:
        return b""
    if kind == 2:
        return f"---\ntype: half {i}\naliases: [a, b\n".encode()
    if kind == 3:
        values = ["[", "{", "&a x", "*a", "!!python/object x", "|", "ok"]
        keys = [f"{rng.choice(UNICODE)}{j}: {rng.choice(values)}"
                for j in range(rng.randrange(1, 8))]
        return ("---\n" + "\n".join(keys) + "\n---\n# x\n").encode()
    if kind == 4 and rng.random() < 0.3:
        return b"- huge\n" * (max_bytes // 7 + 1024)
    if kind == 5:
        return b"\x00\xff\xfe" * rng.randrange(1, 1000)
    if kind == 6:
        return ("---\n" + "\n".join(f"k{j}: v" for j in range(rng.randrange(1, 200)))
                ).encode()  # never closed
    return (f"---\ntype: note\ntags: [fuzz]\n---\n# fuzz {i}\n\n## Observations\n"
            f"- fuzz observation {i} {rng.random()}\n").encode()


def drop_random_files(root: Path, rng: random.Random, start: int, count: int,
                      max_bytes: int) -> tuple[int, int]:
    """`count` random files under the vault (never in .fleetmem); (files, bytes)."""
    made = size = 0
    for i in range(start, start + count):
        path = root / _name(rng, i)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            data = _content(rng, i, max_bytes)
            path.write_bytes(data)
        except OSError:  # a name this file system refuses is not the service's problem
            continue
        made += 1
        size += len(data)
    return made, size


def drop_hostile_cases(root: Path, out: VaultOutcome) -> None:
    """The reproduced cases: a directory named like a note, a FIFO, deep nesting, a bomb."""
    folder = root / TEAM_FOLDER
    (folder / "evil.md").mkdir()
    os.mkfifo(folder / "pipe.md")
    (folder / "Deep.md").write_text(DEEP)
    (folder / "Bomb.md").write_text(BOMB)
    out.hostile += ["directory evil.md", "FIFO pipe.md", "3,000-deep brackets",
                    "YAML alias bomb"]


def _write_state(state_file: Path, data: object) -> None:
    tmp = state_file.with_name("state.json.hostile")
    tmp.write_text(json.dumps(data))
    tmp.replace(state_file)


async def craft_state(layout: VaultLayout, log: Path, out: VaultOutcome,
                      seconds: float = 120.0) -> None:
    """An entry keyed outside the vault (a copy of Alice's, so following it would 'delete'
    Alice) and one of the wrong shape. A sync running meanwhile saves its own state over
    ours: written again each time that happens, until the serve log shows it was read."""
    state_file = layout.state_dir / "state.json"
    needle = f"dropped the entry {ESCAPE!r}"
    out.hostile += ["state entry keyed outside the vault", "state entry of a bad shape"]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        data = json.loads(state_file.read_text())
        notes = data["notes"]
        notes[ESCAPE] = dict(notes[f"{TEAM_FOLDER}/Alice.md"])
        notes[f"{TEAM_FOLDER}/Ghost.md"] = ["not", "an", "entry"]
        _write_state(state_file, data)
        written = state_file.stat().st_mtime_ns
        (layout.vault / TEAM_FOLDER / "poke.md").write_text(f"- poke {random.random()}\n")
        while loop.time() < deadline:
            await asyncio.sleep(0.5)
            if needle in log.read_text(errors="replace"):
                out.crafted_state_read = True
                return
            if state_file.stat().st_mtime_ns != written:
                break  # saved over by a sync that had read the state before ours


async def _vault_status(http: httpx.AsyncClient) -> str:
    try:
        r = await http.get("/readyz")
        return str(r.json().get("vault", {}).get("status"))
    except (httpx.HTTPError, ValueError):
        return "unknown"


async def symlinks(layout: VaultLayout, bob: httpx.AsyncClient, readyz: httpx.AsyncClient,
                   out: VaultOutcome) -> None:
    """Trash and state symlinked outside; an entity deleted meanwhile (its note would be
    trashed). The watcher must refuse (degraded) and write nothing there; then the
    operator puts the folders back and it must recover."""
    trash = layout.state_dir / "trash"
    if trash.is_dir() and not trash.is_symlink():
        shutil.rmtree(trash)
    trash.symlink_to(layout.outside / "trash-target", target_is_directory=True)
    state_file = layout.state_dir / "state.json"
    target = layout.outside / "state-target.json"
    target.write_bytes(state_file.read_bytes())
    out.written_by_test[str(target.relative_to(layout.work))] = entry(target)
    state_file.unlink()
    state_file.symlink_to(target)
    out.hostile += ["symlinked .fleetmem/trash", "symlinked .fleetmem/state.json"]
    r = await bob.delete("/v1/entities/Trashme", params={"namespace": "team:atlas"})
    out.symlink_trash_deleted = r.status_code
    (layout.vault / TEAM_FOLDER / "poke.md").write_text(f"- poke {random.random()}\n")
    for _ in range(240):  # a sync may be running already: up to 2 minutes
        if await _vault_status(readyz) == "degraded":
            out.degraded_seen = True
            break
        await asyncio.sleep(0.5)
    await asyncio.sleep(1.0)
    trash.unlink()
    state_file.unlink()
    state_file.write_bytes(target.read_bytes())


async def fuzz(layout: VaultLayout, log: Path, bob: httpx.AsyncClient,
               readyz: httpx.AsyncClient, files: int, seconds: float, max_bytes: int,
               out: VaultOutcome) -> None:
    """The whole fuzz; the random files spread over about a third of `seconds`."""
    rng = random.Random(21)
    await asyncio.sleep(min(2.0, seconds / 10))
    drop_hostile_cases(layout.vault, out)
    # The cases first (their syncs create nothing, so they are quick even under the
    # flood), then the random files, some of which are notes that create entities.
    await craft_state(layout, log, out)
    await symlinks(layout, bob, readyz, out)
    waves = 10
    for w in range(waves):
        made, size = await asyncio.to_thread(drop_random_files, layout.vault, rng,
                                             w * files // waves, files // waves, max_bytes)
        out.random_files += made
        out.random_bytes += size
        await asyncio.sleep(seconds * 0.3 / waves)


async def until(check: Callable[[], Awaitable[bool]], seconds: float) -> float | None:
    """Seconds until the async `check()` is true, None if it never was within `seconds`."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while loop.time() - start < seconds:
        if await check():
            return loop.time() - start
        await asyncio.sleep(0.25)
    return None


async def after_fuzz(layout: VaultLayout, bob: httpx.AsyncClient, readyz: httpx.AsyncClient,
                     out: VaultOutcome, seconds: float) -> None:
    """The watcher is syncing again; a note written now reaches REST, a REST write reaches
    a note; the crafted state deleted nothing. `seconds` bounds the three waits together."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds

    def left() -> float:
        return max(0.0, deadline - loop.time())

    async def syncing() -> bool:
        return await _vault_status(readyz) == "syncing"

    out.syncing_after = await until(syncing, left())
    legit = layout.vault / TEAM_FOLDER / "Legit Note.md"
    legit.write_text("---\ntype: note\n---\n# Legit Note\n\n## Observations\n"
                     "- written by the human after the fuzz\n")

    async def legit_in_graph() -> bool:
        r = await bob.get("/v1/entities/Legit Note", params={"namespace": "team:atlas"})
        return r.status_code == 200

    out.legit_note_seconds = await until(legit_in_graph, left())
    started = loop.time()
    r = await bob.post("/v1/entities", json={"namespace": "team:atlas", "entities": [{
        "name": "After Fuzz", "entityType": "service",
        "observations": ["written over REST after the fuzz"]}]})
    out.rest_write = f"{r.status_code} in {loop.time() - started:.1f} s"
    note = layout.vault / TEAM_FOLDER / "After Fuzz.md"

    async def note_written() -> bool:
        return r.status_code == 201 and note.exists() and "after the fuzz" in note.read_text()

    out.rest_note_seconds = await until(note_written, left())
    for name in SEEDED:
        if name == "Trashme":
            continue
        got = await bob.get(f"/v1/entities/{name}", params={"namespace": "team:atlas"})
        if got.status_code != 200:
            out.missing_entities.append(f"{name}: {got.status_code}")
