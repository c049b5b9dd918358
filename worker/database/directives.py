"""What a migration file says about how to run it: its header directives and its statements.

`-- migrate: no-transaction` as the FIRST line: the file runs outside a transaction, one statement
at a time (PostgreSQL runs a query of several statements as one implicit transaction, which
`CREATE INDEX CONCURRENTLY` refuses). Every statement of such a file must be safe to run again,
since a file cut by a crash runs again from its start: its indexes are built with `CREATE INDEX
CONCURRENTLY IF NOT EXISTS <name>`, and the runner drops an invalid index of that name (left by
a cut build) before building it again.

`-- migrate: replaces <sha256>` in the header (the `-- migrate:` lines at the top): a former text
of the file, which databases may have recorded when they applied it. The runner accepts it as if
it were the current one, and records the first one named (the text of the release before) when
it applies the file, so that the runner of that release still finds its file unchanged: a
rollback, or an old replica restarting during a rolling deploy, does not fail on a checksum.
The former and the current text must leave the same schema (tests/database checks it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlparse
from sqlparse import tokens

_DIRECTIVE = re.compile(r"^--\s*migrate:\s*(.*?)\s*$")
_REPLACES = re.compile(r"^replaces\s+([0-9a-f]{64})$")
NO_TRANSACTION = "no-transaction"


@dataclass(frozen=True)
class Header:
    transactional: bool
    replaces: tuple[str, ...]  # in the order of the file


@dataclass(frozen=True)
class Statement:
    sql: str
    summary: str  # its first words, for the logs
    # The index a `CREATE INDEX CONCURRENTLY IF NOT EXISTS` builds, as written in the file.
    builds_index: str | None = None


def read_header(sql: str) -> Header:
    """The directives of the leading `-- migrate:` lines; raises ValueError on a wrong one."""
    transactional, replaces = True, []
    header = True
    for number, line in enumerate(sql.splitlines(), start=1):
        match = _DIRECTIVE.match(line)
        header = header and match is not None
        if not match:
            continue
        directive = match.group(1)
        if directive == NO_TRANSACTION and number != 1:
            raise ValueError(f"`-- migrate: {NO_TRANSACTION}` must be the first line")
        if not header:
            raise ValueError(f"`-- migrate:` line {number} is not in the header (the first lines)")
        if directive == NO_TRANSACTION:
            transactional = False
        elif found := _REPLACES.match(directive):
            replaces.append(found.group(1))
        else:
            raise ValueError(f"unknown directive {line.strip()!r} on line {number}")
    return Header(transactional, tuple(replaces))


def split_statements(sql: str) -> list[Statement]:
    """The statements of a no-transaction file, in order; raises ValueError on a CREATE INDEX
    that would lock its table or could not run again."""
    statements = []
    for parsed in sqlparse.parse(sql):
        words = [
            word
            for token in parsed.flatten()  # type: ignore[no-untyped-call]
            if not token.is_whitespace and token.ttype not in tokens.Comment
            # sqlparse gives `IF NOT EXISTS` as one keyword
            for word in (token.value.split() if token.ttype in tokens.Keyword else [token.value])
        ]
        if words and words != [";"]:
            statements.append(
                Statement(str(parsed).strip(), " ".join(words[:10]), _index_built(words))
            )
    return statements


def _index_built(words: list[str]) -> str | None:
    upper = [word.upper() for word in words]
    if upper[:1] != ["CREATE"] or "INDEX" not in upper[1:3]:
        return None
    rest = upper[upper.index("INDEX") + 1 :]
    if rest[:4] != ["CONCURRENTLY", "IF", "NOT", "EXISTS"]:
        raise ValueError(
            "outside a transaction, an index is built with"
            f" `CREATE INDEX CONCURRENTLY IF NOT EXISTS <name>`, not {' '.join(words[:8])!r}..."
        )
    start = upper.index("INDEX") + 5
    name = words[start : upper.index("ON", start)] if "ON" in upper[start:] else []
    return "".join(name) or None
