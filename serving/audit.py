"""The audit trail: every read or write of pupil-level data leaves a record (who, what, when).

A record is committed *before* the data is returned: if it cannot be written the request fails
rather than going unrecorded. Records are written by one writer thread per database with group
commit — a request hands its record over and waits until the transaction holding it has
committed; records arriving meanwhile share the next transaction. Under concurrent load that is
one commit for many requests instead of one each, with the same guarantee. The table may hold a
UPN (it says whose data was touched); the log never does.

A *change* of pupil-level data (an upload, a referral) writes its record with
:func:`record_in`, in the same transaction as the change: both are committed or neither is, so a
client told "nothing was changed" after a failed audit write is told the truth.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from serving.auth import Principal
from serving.db import Database
from serving.models import AuditEvent, utcnow

WAIT_SECONDS = 30.0
_AUDIT_INSERT = insert(AuditEvent.__table__)  # type: ignore[arg-type]  # a Table, built once
BATCH = 500


@dataclass
class _Pending:
    row: dict[str, Any]
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


class AuditWriter:
    """Writes audit records for one database, batching whatever is waiting."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._queue: queue.Queue[_Pending | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="ews-audit", daemon=True)
        self._thread.start()

    def write(self, row: dict[str, Any]) -> None:
        """Queue ``row`` and return once it is committed (raise if that failed)."""
        pending = _Pending(row)
        self._queue.put(pending)
        if not pending.done.wait(WAIT_SECONDS):
            raise TimeoutError("the audit record could not be written in time")
        if pending.error is not None:
            raise pending.error

    def stop(self) -> None:
        """Finish what is queued and stop the thread."""
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            error: BaseException | None = None
            try:
                with self.db.write() as session:
                    # Core insert on the session's connection: no ORM bookkeeping per record.
                    session.connection().execute(_AUDIT_INSERT, [p.row for p in batch])
            except BaseException as exc:  # every waiter learns its record was not written
                error = exc
            for pending in batch:
                pending.error = error
                pending.done.set()
            if stop:
                return


_writers: dict[int, AuditWriter] = {}
_writers_lock = threading.Lock()


def _writer(db: Database) -> AuditWriter:
    with _writers_lock:
        writer = _writers.get(id(db))
        if writer is None or writer.db is not db:
            writer = AuditWriter(db)
            _writers[id(db)] = writer
            db.on_dispose(lambda: _stop(db))
        return writer


def _stop(db: Database) -> None:
    with _writers_lock:
        writer = _writers.pop(id(db), None)
    if writer is not None:
        writer.stop()


def _row(
    principal: Principal | None,
    action: str,
    school_urn: int | None,
    upn: str | None,
    records: int,
    detail: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "at": utcnow(),
        "key_id": principal.key_id if principal else None,
        "role": principal.role.value if principal else None,
        "action": action,
        "school_urn": school_urn,
        "upn": upn,
        "records": records,
        "detail": detail,
    }


def record(
    db: Database,
    principal: Principal | None,
    action: str,
    *,
    school_urn: int | None = None,
    upn: str | None = None,
    records: int = 0,
    detail: dict[str, Any] | None = None,
) -> None:
    """Write one audit record in its own transaction; returns once it is committed."""
    _writer(db).write(_row(principal, action, school_urn, upn, records, detail))


def record_in(
    session: Session,
    principal: Principal | None,
    action: str,
    *,
    school_urn: int | None = None,
    upn: str | None = None,
    records: int = 0,
    detail: dict[str, Any] | None = None,
) -> None:
    """Add one audit record to ``session``'s transaction (committed with the change it
    describes, or rolled back with it)."""
    session.execute(insert(AuditEvent), [_row(principal, action, school_urn, upn, records, detail)])
