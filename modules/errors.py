"""Errors a user can act on: the command line prints their one-line message and exits with status 2."""


class UserError(Exception):
    """A problem with what the user asked for or gave us (a file, a name, an option), not a bug."""


class DataError(UserError, ValueError):
    """An input data file that cannot be used; the message names the file and, where known, the line and column."""
