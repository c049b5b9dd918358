"""The OI's PTO reference pattern, and text read on a label matched against it.

Text read by OCR confuses O and 0, I and 1, S and 5, B and 8; the pattern settles them: a
letter read where the pattern wants a digit (or the reverse) is read as its twin. Where the
pattern accepts both (`[0-9A-Z]`), what was read stays. A reading that needs more than
`MAX_SWAPS` such swaps is not a reference.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

TWINS = {"O": "0", "0": "O", "I": "1", "1": "I", "S": "5", "5": "S", "B": "8", "8": "B"}
MAX_SWAPS = 3
# What OCR reads for a dash, or for the letters it spells in lower case.
_NORMAL = str.maketrans(
    {"\u2014": "-", "\u2013": "-", "\u2010": "-", "_": "-", "|": "I", "l": "I", "o": "O"}
)
_SEPARATORS = re.compile(r"[\s:;,/()\[\]{}\"'=]+")
_MAX_JOINED = 5


_ONE_OF_TWINS = str.maketrans("OISB", "0158")


def same_reference(read: str, expected: str) -> bool:
    """Whether two references are the same but for twins: OCR cannot tell an O from a 0 where
    the pattern accepts both, so a reading is never called different for that alone."""
    return twin_key(read) == twin_key(expected)


def twin_key(reference: str) -> str:
    """The reference with each twin written as its digit: what `photos_label_key` indexes."""
    return reference.upper().translate(_ONE_OF_TWINS)


@dataclass(frozen=True)
class Match:
    text: str
    swaps: int  # confusions settled by the pattern


class ReferencePattern:
    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self._regex = re.compile(pattern)

    def find(self, text: str) -> list[Match]:
        """The references in a line of text, as the pattern reads them; fewest swaps first.

        OCR splits a reference into pieces (`AB - 12CD - 34EF`) or glues words to it: every
        run of up to five consecutive pieces is tried, joined without the spaces.
        """
        pieces = [p for p in _SEPARATORS.split(text.translate(_NORMAL).upper()) if p]
        found: dict[str, int] = {}
        for start in range(len(pieces)):
            for end in range(start + 1, min(start + _MAX_JOINED, len(pieces)) + 1):
                match = self.settle("".join(pieces[start:end]))
                if match is not None and found.get(match.text, MAX_SWAPS + 1) > match.swaps:
                    found[match.text] = match.swaps
        return sorted((Match(t, s) for t, s in found.items()), key=lambda m: (m.swaps, m.text))

    def settle(self, word: str) -> Match | None:
        """The word as a reference, with the fewest swaps of twins that make it match."""
        if self._regex.fullmatch(word):
            return Match(word, 0)
        places = [i for i, char in enumerate(word) if char in TWINS]
        for swaps in range(1, min(MAX_SWAPS, len(places)) + 1):
            for chosen in itertools.combinations(places, swaps):
                chars = list(word)
                for i in chosen:
                    chars[i] = TWINS[chars[i]]
                candidate = "".join(chars)
                if self._regex.fullmatch(candidate):
                    return Match(candidate, swaps)
        return None
