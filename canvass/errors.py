"""One exception hierarchy: every error a user can cause, with its context.

The CLI turns any ``CanvassError`` into a one-line message and exit code 2.
"""

from __future__ import annotations


class CanvassError(Exception):
    """Base class: a problem the user can fix (bad input, config or argument)."""

    exit_code = 2

    def __init__(self, message: str, *, file: str | None = None, column: str | None = None,
                 row: int | None = None, expected: str | None = None):
        self.message = message
        self.file = file
        self.column = column
        self.row = row
        self.expected = expected
        super().__init__(self.one_line())

    def _render_traceback_(self) -> list[str]:
        """What Jupyter shows instead of a traceback (IPython calls this method when it exists):
        the staff's one line and what to do, not thirty lines of the package's insides."""
        return [f"错误 error: {self.one_line()}",
                "请修改第一个代码单元格（参数）中的值，然后重新“运行全部单元格”。"]

    def one_line(self) -> str:
        """Return the message with its context, on one line."""
        parts = []
        if self.file:
            parts.append(f"文件 {self.file}")
        if self.row is not None:
            parts.append(f"第 {self.row} 行")
        if self.column:
            parts.append(f"列 “{self.column}”")
        where = "，".join(parts)
        text = f"{where}：{self.message}" if where else self.message
        if self.expected:
            text += f"（应为 expected: {self.expected}）"
        return " ".join(text.split())


class InputError(CanvassError):
    """An input file cannot be read or lacks what the data contract requires."""


class ConfigError(CanvassError):
    """subdistrict.yml has an unknown key or a bad value."""


class ParameterError(CanvassError):
    """A command-line option or notebook parameter is unknown or has a bad value."""


class LockError(CanvassError):
    """Another batch is writing to the same output folder."""


class OutputError(CanvassError):
    """An output file cannot be written (disk full, no permission, read-only folder)."""


class CanvassWarning(UserWarning):
    """Something the user should know that did not stop the run; the CLI prints it on one line."""


class CacheRebuiltWarning(CanvassWarning):
    """A damaged cache entry or metrics history was discarded and rebuilt from the inputs."""


class CacheError(CanvassError):
    """A cache entry or the metrics history is damaged (rebuilt from the inputs where they are at hand)."""
