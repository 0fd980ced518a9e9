"""The one kind of error the commands raise on purpose."""


class UserError(Exception):
    """A problem the user can fix: the CLI prints the message, without a traceback, and exits 1."""
