"""One exception type for bad user input.

The UI shows it with ``st.error``; the CLI prints ``str(err)`` on one line and exits 2.
"""
from __future__ import annotations


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
            where = self.file + (f", line {self.line}" if self.line is not None else "") + ": "
        elif self.line is not None:
            where = f"line {self.line}: "
        tail = f" (value: {self.value!r})" if self.value is not None else ""
        return f"{where}{self.message}{tail}"
