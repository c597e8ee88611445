"""Random codes, keys and tokens over an alphabet, from ``secrets``."""

from __future__ import annotations

import secrets


def random_string(alphabet: str, length: int) -> str:
    """``length`` characters drawn uniformly and independently from ``alphabet``.

    The same distribution as ``secrets.choice`` per character, from one ``token_bytes``
    call instead of one system call per character (a 40-character Hue key: 33 → 4 µs).
    Bytes at or above the largest multiple of the alphabet's size are discarded, so every
    character stays equally likely.
    """
    size = len(alphabet)
    if not 0 < size <= 256:
        raise ValueError("alphabet must have 1 to 256 characters")
    usable = 256 - 256 % size
    out: list[str] = []
    while len(out) < length:
        for byte in secrets.token_bytes(length - len(out) + 8):
            if byte < usable:
                out.append(alphabet[byte % size])
                if len(out) == length:
                    break
    return "".join(out)
