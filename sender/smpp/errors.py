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


def after_failure(status: int, attempts: int, *, max_attempts: int, initial_backoff: float,
                  max_backoff: float, overrides: Mapping[int, ErrorClass] | None = None,
                  ) -> tuple[ErrorClass, float]:
    """What a refused submit means for its message, after `attempts` retries so far, and
    after how long it goes out again: THROTTLED at once (the limiter slows instead),
    TEMPORARY with exponential backoff while attempts remain, else PERMANENT (it fails,
    or fails over). The one rule for campaign messages and keyword answers alike."""
    kind = error_class(status, overrides)
    if kind == ErrorClass.THROTTLED:
        return kind, 0.0
    if kind == ErrorClass.TEMPORARY and attempts + 1 < max_attempts:
        return kind, min(initial_backoff * 2 ** attempts, max_backoff)
    return ErrorClass.PERMANENT, 0.0


def resend_lost(attempts: int, *, resend_unknown: bool, max_attempts: int) -> bool:
    """Whether a submit that got no answer (its bind dropped, or no response in time)
    goes out again: only with resendUnknown, and only while attempts remain, so an SMSC
    that drops every bind does not get the same message for ever."""
    return resend_unknown and attempts + 1 < max_attempts


def status_code(status: int) -> str:
    """How a status is shown in counters and status: 0x0000000B."""
    return f"0x{status:08X}"


def status_name(status: int) -> str:
    """ESME_RINVDSTADR, or the hex code for vendor-specific values."""
    try:
        return CommandStatus(status).name
    except ValueError:
        return status_code(status)
