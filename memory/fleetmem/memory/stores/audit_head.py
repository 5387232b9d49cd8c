"""What both graph stores do after a commit that appended audit entries."""

from __future__ import annotations

import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)

AuditHeadWatcher = Callable[[int, str], None]


def report_audit_head(watcher: AuditHeadWatcher | None, head: tuple[int, str] | None) -> None:
    """Hand the committed audit head (seq, hash) to `watcher`, if both are set. A failing
    watcher is logged, never raised: the transaction has committed, so the caller must
    still see success."""
    if head is None or watcher is None:
        return
    try:
        watcher(*head)
    except Exception:  # committed: the caller must still see success
        logger.exception("the audit head watcher failed")
