"""Just enough of an ELF64 reader to list an object file's symbols.

The emulator's loader needs two facts from the compiled kernel object: the undefined thread-local
symbols (the ``extern __shared__`` arrays, which it then places at one address) and which entry
points have unmangled (``extern "C"``) names. Reading the symbol table directly avoids depending on
binutils' output format.
"""
from __future__ import annotations

import struct
from typing import NamedTuple

__all__ = ["Symbol", "read_symbols", "STT_FUNC", "STT_TLS", "SHN_UNDEF"]

STT_FUNC = 2
STT_TLS = 6
SHN_UNDEF = 0
_SHT_SYMTAB = 2


class Symbol(NamedTuple):
    """One symbol-table entry."""

    name: str
    type: int      # STT_*
    bind: int      # STB_LOCAL 0, STB_GLOBAL 1, STB_WEAK 2
    shndx: int     # section index; SHN_UNDEF for undefined
    size: int


def read_symbols(path):
    """Return the :class:`Symbol` entries of the ELF64 little-endian file at ``path``.

    Raises
    ------
    ValueError
        If the file is not a 64-bit little-endian ELF file.
    """
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError(f"{path}: not a 64-bit little-endian ELF file")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    symbols = []
    for sh in sections:
        if sh[1] != _SHT_SYMTAB:
            continue
        sym_off, sym_size, link, entsize = sh[4], sh[5], sh[6], sh[9]
        str_off = sections[link][4]
        for k in range(sym_size // entsize):
            st_name, st_info, _other, st_shndx, _value, st_size = struct.unpack_from(
                "<IBBHQQ", data, sym_off + k * entsize)
            end = data.index(b"\0", str_off + st_name)
            name = data[str_off + st_name:end].decode("utf-8", "replace")
            symbols.append(Symbol(name, st_info & 0xF, st_info >> 4, st_shndx, st_size))
    return symbols
