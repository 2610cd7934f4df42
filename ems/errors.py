"""The one error every project exception derives from."""


class EmsError(Exception):
    """Base of every error this project raises on purpose.

    The message names the field or argument, the value, and what was expected, so that the
    command line and the HTTP edge can show it to a person unchanged.
    """
