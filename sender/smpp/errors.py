"""Which SMPP command_status values slow down, retry, or fail a message.

Throttled (the SMSC is busy): slow the channel down and resend; never fails a message.
Temporary: retry with backoff, up to the channel's maxAttempts, then fail (or fail over).
Permanent: the message fails with the code.

A status not listed is Permanent: retrying an unknown vendor code forever is worse
than failing it visibly; a Channel's spec.retry.overrides reclassifies carrier codes.
"""

from __future__ import annotations

from collections.abc import Mapping

from crds.channel import ErrorClass
from sender.smpp.codes import CommandStatus

DEFAULT_CLASSES: Mapping[int, ErrorClass] = {
    CommandStatus.ESME_RTHROTTLED: ErrorClass.THROTTLED,
    CommandStatus.ESME_RMSGQFUL: ErrorClass.THROTTLED,
    CommandStatus.ESME_RSYSERR: ErrorClass.TEMPORARY,
    CommandStatus.ESME_RSUBMITFAIL: ErrorClass.TEMPORARY,
    CommandStatus.ESME_RX_T_APPN: ErrorClass.TEMPORARY,
    CommandStatus.ESME_RINVBNDSTS: ErrorClass.TEMPORARY,
}


def error_class(status: int, overrides: Mapping[int, ErrorClass] | None = None) -> ErrorClass:
    """The class of a non-zero command_status, the channel's overrides first."""
    if overrides and status in overrides:
        return overrides[status]
    return DEFAULT_CLASSES.get(status, ErrorClass.PERMANENT)


def status_code(status: int) -> str:
    """How a status is shown in counters and status: 0x0000000B."""
    return f"0x{status:08X}"


def status_name(status: int) -> str:
    """ESME_RINVDSTADR, or the hex code for vendor-specific values."""
    try:
        return CommandStatus(status).name
    except ValueError:
        return status_code(status)
