"""The audit log: security events, in a database table and in the log (docs/audit.md)."""

from authserver.audit.buffer import AuditBuffer
from authserver.audit.events import note_event, record_event

__all__ = ["AuditBuffer", "note_event", "record_event"]
