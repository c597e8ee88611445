"""app.codes: random strings keep the alphabet, the length and a uniform distribution."""

import collections
import string

import pytest

from app.codes import random_string


@pytest.mark.parametrize(
    "alphabet",
    [
        "23456789ABCDEFGHJKMNPQRSTUVWXYZ",  # Nest entry keys (31: 256 is not a multiple)
        string.ascii_letters + string.digits,  # Hue usernames (62)
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",  # Ruuvi codes (36)
        "01",
    ],
)
def test_characters_come_from_the_alphabet_uniformly(alphabet):
    draws = 200_000
    text = "".join(random_string(alphabet, 40) for _ in range(draws // 40))
    assert len(text) == draws and set(text) <= set(alphabet)
    counts = collections.Counter(text)
    expected = draws / len(alphabet)
    # Chi-squared against the uniform distribution; the bound is far in the tail (p < 1e-6
    # for up to 61 degrees of freedom), while modulo bias on 31 symbols (256 % 31 = 8 extra
    # bytes) would give a statistic in the hundreds.
    chi2 = sum((counts[c] - expected) ** 2 / expected for c in alphabet)
    assert chi2 < len(alphabet) + 10 * len(alphabet) ** 0.5 + 30


def test_lengths_and_bad_alphabets():
    assert [len(random_string("AB", n)) for n in (0, 1, 7, 300)] == [0, 1, 7, 300]
    with pytest.raises(ValueError):
        random_string("", 3)
    with pytest.raises(ValueError):
        random_string("x" * 257, 3)
