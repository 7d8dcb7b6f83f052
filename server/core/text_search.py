"""What a ``tasks.list`` ``search`` looks for: its words, each matched as a word or a word's
beginning (PURE: no IO; server/db/text_search.py turns the words into each database's query).

A word is a run of letters and digits (any script); everything else — spaces, punctuation,
``_``, the operators of FTS5 and of PostgreSQL's tsquery (``" * : & | ! ( ) ^ + -``) — only
separates words, so nothing a user types reaches the query language as syntax. A task matches
when every word of the search begins a word of its title or description ("inv" finds
"Invoice 42"; "invoice 42" needs both). Case and (on SQLite) accents are ignored.
"""

from __future__ import annotations

import re
from typing import Final

from server.core.errors import InvalidInput

_WORD: Final = re.compile(r"[^\W_]+")
MAX_WORDS: Final = 32


def search_words(text: str) -> list[str]:
    """The distinct words of ``text``, lower-cased, in order (at most :data:`MAX_WORDS`).

    Raises :class:`InvalidInput` naming ``search`` when there is no word to look for (only
    punctuation or operators): such a search cannot match by word, and is refused rather than
    answered with everything or nothing."""
    words = list(dict.fromkeys(w.lower() for w in _WORD.findall(text)))
    if not words:
        raise InvalidInput.at(["search"], "has no word to look for (letters or digits)")
    return words[:MAX_WORDS]
