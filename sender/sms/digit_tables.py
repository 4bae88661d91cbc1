"""A function of a digit string that only regexes decide, tabled by leading digits.

sender.sms.number_parsing.classify matches a number against its country's patterns
(the region's leading digits, then each number type's pattern: a dozen regex calls, 1.5
of a clean row's 4.7 µs). Its answer depends on nothing but which of those patterns
match. For numbers of one length, that is fixed by a few leading digits in most of a
numbering plan (every Chinese mobile of 11 digits starting 138 is a mobile of CN), and
a table keyed by leading digits answers in a few dict lookups.

The table is built from the patterns themselves, not from samples: each pattern (of
the few constructs phonenumbers' metadata uses: literals, digit classes, groups,
alternation, bounded repetition) becomes an automaton over the digits 0-9, and the
automata are run in step over every digit string of the length, merging strings that
leave every automaton in the same states. A prefix whose every completion gets the
same verdicts from every pattern is a leaf; its answer is the function's own, called
once on one string with that prefix. Anything else (an unknown construct, a plan too
large for the budget) gives no table, and the caller calls the function.
"""

from __future__ import annotations

import re._constants as sre  # type: ignore[import-not-found]  # re's own parse tree
import re._parser as sre_parse  # type: ignore[import-not-found]
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

DIGITS = "0123456789"
"""What a national significant number is made of (parse and parse_plain give ASCII
digits only), so each class is cut to these."""

Table = dict[str, Any]
"""Digit -> a deeper Table, or a leaf: the answer for every string with that prefix."""


class Pattern(NamedTuple):
    """A regex the function's answer depends on, and how it is applied."""

    regex: str
    prefix: bool = False
    """re.match (some prefix of the string matches) rather than re.fullmatch."""


class Unsupported(ValueError):
    """A construct the automata do not model: no table, the caller calls the function."""


def lookup(table: Table, digits: str) -> Any:
    """The leaf `digits` lead to in `table` (KeyError for a character not a digit)."""
    node: Any = table
    index = 0
    while type(node) is dict:
        node = node[digits[index]]
        index += 1
    return node


def build(patterns: Sequence[Pattern], length: int, answer: Callable[[str], Any],
          budget: int = 20_000) -> Table | None:
    """The table of `answer` over digit strings of `length`, or None when a pattern
    has a construct not modelled or the plan needs more than `budget` states.

    `answer` must depend on nothing but which of `patterns` match (and the length)."""
    try:
        automata = [_Automaton(p) for p in patterns]
    except Unsupported:
        return None
    # A state of the table: pattern's index, its automaton's state, for each pattern
    # still able to match, flat (a dead one stays dead and is left out). A layer's
    # states are numbered; a move is the next layer's numbers for the digits 0-9
    # (kept for every layer: the states themselves only for the layer being walked).
    states = [tuple(x for i, a in enumerate(automata) if a.start != _DEAD
                    for x in (i, a.start))]
    texts = [""]  # a string to each state
    moves: list[list[tuple[int, ...]]] = []
    count = 1
    for _ in range(length):
        numbers: dict[tuple[int, ...], int] = {}
        next_texts: list[str] = []
        layer_moves = []
        for state, text in zip(states, texts, strict=True):
            rows = [(i, automata[i].moves(s)) for i, s in zip(state[::2], state[1::2],
                                                                 strict=True)]
            children = []
            for digit in range(10):
                following = tuple(x for i, row in rows if (t := row[digit]) != _DEAD
                                  for x in (i, t))
                number = numbers.get(following)
                if number is None:
                    number = numbers[following] = len(next_texts)
                    next_texts.append(text + DIGITS[digit])
                children.append(number)
            layer_moves.append(tuple(children))
        count += len(numbers)
        if count > budget:
            return None
        moves.append(layer_moves)
        states, texts = list(numbers), next_texts
    # The answer where every completion has the same one, else _MIXED, bottom up. At
    # the end a state's answer is its patterns' verdicts': asked once for each.
    by_verdicts: dict[tuple[int, ...], Any] = {}
    answers = []
    for state, text in zip(states, texts, strict=True):
        verdicts = tuple(i for i, s in zip(state[::2], state[1::2], strict=True)
                         if automata[i].accepting[s])
        if verdicts not in by_verdicts:
            by_verdicts[verdicts] = answer(text)
        answers.append(by_verdicts[verdicts])
    decided = [answers]
    for layer_moves in reversed(moves):
        below = decided[0]
        here = []
        for nexts in layer_moves:
            first = below[nexts[0]]
            here.append(first if first is not _MIXED and all(
                below[n] == first for n in nexts[1:]) else _MIXED)
        decided.insert(0, here)
    built: dict[tuple[int, int], Any] = {}

    def node(depth: int, number: int) -> Any:
        found = decided[depth][number]
        if found is not _MIXED:
            return found
        key = (depth, number)
        if key not in built:
            built[key] = {digit: node(depth + 1, child)
                          for digit, child in zip(DIGITS, moves[depth][number], strict=True)}
        return built[key]

    root = node(0, 0)
    return root if type(root) is dict else {digit: root for digit in DIGITS}


class _Mixed:
    def __repr__(self) -> str:
        return "_MIXED"


_MIXED = _Mixed()

_DEAD, _MATCHED = 0, 1
"""An automaton's states: dead (no NFA state left: it will not match), and for a
prefix pattern, matched (some prefix did: it matches whatever follows)."""


class _Automaton:
    """One pattern as an NFA over DIGITS, walked as a DFA: its states are numbered
    epsilon-closed sets of NFA states (equal sets, one number), built as reached."""

    def __init__(self, pattern: Pattern) -> None:
        self._moves: list[dict[str, list[int]]] = []
        self._empty: list[list[int]] = []
        first = self._new()
        parsed = sre_parse.parse(pattern.regex)
        if parsed.state.flags & ~sre.SRE_FLAG_UNICODE:  # (?i) and the like
            raise Unsupported("flags")
        self._final = self._sequence(parsed, first)
        self._prefix = pattern.prefix
        self._sets: list[frozenset[int]] = [frozenset(), frozenset()]
        self._numbers: dict[frozenset[int], int] = {frozenset(): _DEAD}
        self._rows: list[list[int] | None] = [[_DEAD] * 10, [_MATCHED] * 10]
        self.accepting: list[bool] = [False, True]
        self.start = self._number(self._closure([first]))

    def moves(self, state: int) -> list[int]:
        """The state after each digit 0-9 from `state`."""
        row = self._rows[state]
        if row is None:
            nfa = self._sets[state]
            row = self._rows[state] = [
                self._number(self._closure([t for s in nfa for t in self._moves[s].get(d, ())]))
                for d in DIGITS]
        return row

    def _number(self, states: set[int]) -> int:
        if self._prefix and self._final in states:
            return _MATCHED
        key = frozenset(states)
        found = self._numbers.get(key)
        if found is None:
            found = self._numbers[key] = len(self._sets)
            self._sets.append(key)
            self._rows.append(None)
            self.accepting.append(self._final in key)
        return found

    def _closure(self, states: list[int]) -> set[int]:
        seen = set(states)
        work = list(states)
        while work:
            for t in self._empty[work.pop()]:
                if t not in seen:
                    seen.add(t)
                    work.append(t)
        return seen

    def _new(self) -> int:
        self._moves.append({})
        self._empty.append([])
        return len(self._moves) - 1

    def _sequence(self, items: Any, state: int) -> int:
        for op, value in items:
            state = self._item(op, value, state)
        return state

    def _item(self, op: Any, value: Any, state: int) -> int:
        if op is sre.LITERAL or op is sre.IN:
            chars = {chr(value)} if op is sre.LITERAL else _chars(value)
            end = self._new()
            for char in chars & set(DIGITS):
                self._moves[state].setdefault(char, []).append(end)
            return end
        if op is sre.SUBPATTERN:
            _, add_flags, del_flags, items = value
            if add_flags or del_flags:
                raise Unsupported("inline flags")
            return self._sequence(items, state)
        if op is sre.BRANCH:
            end = self._new()
            for items in value[1]:
                self._empty[self._sequence(items, state)].append(end)
            return end
        if op is sre.MAX_REPEAT or op is sre.MIN_REPEAT:  # the same strings, for match
            low, high, items = value
            for _ in range(low):
                state = self._sequence(items, state)
            if high == sre.MAXREPEAT:
                loop = self._new()
                self._empty[state].append(loop)
                self._empty[self._sequence(items, loop)].append(loop)
                return loop
            end = self._new()
            for _ in range(high - low):
                self._empty[state].append(end)
                state = self._sequence(items, state)
            self._empty[state].append(end)
            return end
        raise Unsupported(str(op))


def _chars(items: Any) -> set[str]:
    chars: set[str] = set()
    for op, value in items:
        if op is sre.LITERAL:
            chars.add(chr(value))
        elif op is sre.RANGE:
            chars.update(chr(c) for c in range(value[0], value[1] + 1))
        elif op is sre.CATEGORY and value is sre.CATEGORY_DIGIT:
            chars.update(DIGITS)  # \d: more than these, but only these are read
        else:
            raise Unsupported(str(op))
    return chars
