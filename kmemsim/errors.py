"""Errors a user can cause, and what the validators raise.

Every :class:`KmemsimError` carries one line that names the bad input and the fix; the command
line prints that line and exits non-zero, never a traceback.
"""

__all__ = ["KmemsimError", "ValidationError"]


class KmemsimError(Exception):
    """A user's mistake: bad input, an unknown name, an impossible request."""


class ValidationError(KmemsimError):
    """A validator found the allocator's state inconsistent (a bug in kmemsim, or in a change
    a developer is trying)."""
