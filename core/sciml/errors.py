"""Exceptions. :class:`UserError` is bad input: the CLI prints its message and exits 2."""


class SciMLError(Exception):
    """Base class of sciml's own errors."""


class UserError(SciMLError, ValueError):
    """Bad input from the user (a value, a file, a name): one clear message, no traceback.

    The message names the bad value and what would be accepted.
    """
