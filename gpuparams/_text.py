"""Internal: text layout shared by the ``repr`` of parameters, dicts and blocks."""
from __future__ import annotations


def indent_continuation(text: str, spaces: int) -> str:
    """Indent every line of ``text`` but the first by ``spaces`` (for a nested multi-line repr).

    >>> print("(0): " + indent_continuation("Seq(\\n  x\\n)", 2))
    (0): Seq(
        x
      )
    """
    lines = text.split("\n")
    return "\n".join(lines[:1] + [" " * spaces + line for line in lines[1:]])
