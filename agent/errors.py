"""The one exception type users see: a one-line message that says what to do."""


class ParlaError(Exception):
    """An expected failure (bad input, missing package, unwritable folder).

    The command line prints its message on one line and exits non-zero, without a traceback.
    The message should name the cause and the fix.
    """
