"""Defences against hostile vault files: what may be read, and YAML that cannot explode.

A vault is a folder anyone with a shell (or a synced cloud folder) can put anything into: a
FIFO that blocks whoever opens it, a directory named like a note, a note of gigabytes, a
symlink out of the vault, or frontmatter that expands to hundreds of megabytes (a YAML alias
bomb) or nests deep enough to exhaust the parser's recursion. Every file is checked here
before it is read, and frontmatter is parsed by a loader that refuses anchors, aliases and
deep nesting.
"""

from __future__ import annotations

import logging
import os
import stat
from collections import OrderedDict
from pathlib import Path
from typing import Any

import yaml
from yaml.events import AliasEvent, CollectionStartEvent, ScalarEvent

from fleetmem.memory.errors import InvalidInput

logger = logging.getLogger(__name__)

MAX_FRONTMATTER_BYTES = 64 * 1024
"""Frontmatter larger than this is refused before it is parsed."""
MAX_FRONTMATTER_DEPTH = 16
"""Frontmatter nesting deeper than this (lists in lists ...) is refused."""


def refused(rel: str, why: str) -> InvalidInput:
    """The error of a vault file that is not read (the sync skips it and goes on)."""
    return InvalidInput(f"{rel}: {why}; the file is skipped (sync goes on without it)",
                        field="path", rule="hostile_file")


def read_checked(root: Path, rel: str, max_bytes: int) -> bytes | None:
    """The bytes of a vault file, or None when it does not exist.

    The file must be a regular file (no FIFO, device, socket or directory; a symlink is
    refused as well), must resolve inside `root`, and must not be larger than `max_bytes`.
    It is opened without following a final symlink and without blocking, and checked again
    on the open handle, so swapping the file between the check and the read gains nothing.

    Raises:
        InvalidInput: the file fails a check (rule `hostile_file`).
    """
    full = root / rel
    try:
        st = os.lstat(full)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if stat.S_ISLNK(st.st_mode):
        raise refused(rel, "a symlink (links are not followed)")
    if not stat.S_ISREG(st.st_mode):
        raise refused(rel, "not a regular file (a directory, FIFO, socket or device)")
    if not full.resolve().is_relative_to(root.resolve()):
        raise refused(rel, "it resolves outside the vault")
    if st.st_size > max_bytes:
        raise refused(rel, f"{st.st_size} bytes, larger than vault.max_note_bytes "
                           f"({max_bytes})")
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(full, flags)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise refused(rel, f"it cannot be opened ({exc.strerror})") from exc
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise refused(rel, "not a regular file (a directory, FIFO, socket or device)")
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise refused(rel, f"larger than vault.max_note_bytes ({max_bytes})")
    return data


class _Reported:
    """Which refused file versions were already logged (each version is logged once)."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self.seen: OrderedDict[tuple[str, str], tuple[int, int, str]] = OrderedDict()

    def log(self, root: Path, rel: str, message: str) -> None:
        """Log `message` unless this version of the file was already reported."""
        try:
            st = os.lstat(root / rel)
            version = (st.st_mtime_ns, st.st_size, message)
        except OSError:
            version = (0, 0, message)
        key = (str(root), rel)
        if self.seen.get(key) == version:
            return
        self.seen[key] = version
        self.seen.move_to_end(key)
        while len(self.seen) > self.size:
            self.seen.popitem(last=False)
        logger.warning("vault: %s", message)


REPORTED = _Reported()


class BoundedLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses anchors and aliases and nesting beyond a budget."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:  # noqa: ANN401 - pyyaml's API
        """Compose one node, refusing aliases, anchors and deep nesting."""
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, AliasEvent):
            raise yaml.YAMLError("aliases (*name) are not allowed in note properties")
        if isinstance(event, ScalarEvent | CollectionStartEvent) and event.anchor:
            raise yaml.YAMLError("anchors (&name) are not allowed in note properties")
        self._depth += 1
        try:
            if self._depth > MAX_FRONTMATTER_DEPTH:
                raise yaml.YAMLError(f"properties nest deeper than {MAX_FRONTMATTER_DEPTH} "
                                     "levels")
            return super().compose_node(parent, index)  # type: ignore[no-untyped-call]
        finally:
            self._depth -= 1


def load_frontmatter(text: str) -> Any:  # noqa: ANN401 - whatever the YAML holds
    """Parse frontmatter YAML within the size, alias and depth budgets.

    Raises:
        InvalidInput: too large, an alias or anchor, too deep, or not valid YAML.
    """
    if len(text.encode("utf-8", errors="replace")) > MAX_FRONTMATTER_BYTES:
        raise InvalidInput(f"the properties (frontmatter) are larger than "
                           f"{MAX_FRONTMATTER_BYTES} bytes; shorten them",
                           field="frontmatter", rule="size")
    loader = BoundedLoader(text)
    try:
        return loader.get_single_data()  # type: ignore[no-untyped-call]
    except RecursionError as exc:
        raise InvalidInput("the properties (frontmatter) nest too deeply; flatten them",
                           field="frontmatter", rule="yaml") from exc
    except yaml.YAMLError as exc:
        raise InvalidInput(f"the properties (frontmatter) are not valid YAML: {exc}; fix or "
                           "remove the block between the two '---' lines",
                           field="frontmatter", rule="yaml") from exc
    finally:
        loader.dispose()  # type: ignore[no-untyped-call]
