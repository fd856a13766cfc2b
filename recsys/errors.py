"""One exception type for bad user input, and one for a model that diverged.

The UI shows them with ``st.error``; the CLI prints ``str(err)`` on one line and exits 2.
Every part that can carry user content (the file name, the quoted value, the message) is capped
in length, so a 5 MB field gives a one-line message of a few hundred characters.
"""
from __future__ import annotations

#: Longest quoted value, file name and message (characters) before "…".
VALUE_CAP = 80
FILE_CAP = 160
MESSAGE_CAP = 400


def cap(text: str, limit: int = VALUE_CAP) -> str:
    """``text`` on one line, cut to ``limit`` characters with "…" and the full length."""
    one = str(text).replace("\r", "\\r").replace("\n", "\\n")
    if len(one) <= limit:
        return one
    return f"{one[:limit]}… ({len(one):,} characters)"


class InputError(ValueError):
    """Bad input from the user: a malformed file, a wrong column, an empty sample, an unknown id.

    ``file``, ``line`` (1-based) and ``value`` locate the problem when known.
    """

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 value: object = None):
        super().__init__(message)
        self.message = message
        self.file = None if file is None else str(file)
        self.line = line
        self.value = value

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = cap(self.file, FILE_CAP) + (
                f", line {self.line}" if self.line is not None else "") + ": "
        elif self.line is not None:
            where = f"line {self.line}: "
        tail = ""
        if self.value is not None:
            v = self.value if isinstance(self.value, str) else repr(self.value)
            tail = f" (value: {cap(repr(v) if isinstance(self.value, str) else v)})"
        return f"{where}{cap(self.message, MESSAGE_CAP)}{tail}"


class DivergenceError(InputError):
    """A fit produced non-finite parameters (SGD diverged). ``params`` names the algorithm's
    settings; the message says what to try."""
