"""The cyclic garbage collector as Herald's hot processes (senders, importers) want it.

Their objects per message or row (PDUs, transitions, dicts of variables, parsed rows)
die by reference counting; cycles are rare. With Python's defaults the collector still
ran some 400 times a 40,000-message send, three of them over every object the imports
made (pydantic's models, the CRDs, phonenumbers' metadata): 0.19 s of 2.4 s of CPU
(bench/sender.py), and 0.1-0.9 µs of an imported row's 8-10 (bench/import.py).
"""

from __future__ import annotations

import gc

YOUNG_OBJECTS_PER_COLLECTION = 10_000
"""The generation-0 threshold (Python's default: 700)."""


def tune_collector() -> None:
    """Freeze what exists (the loaded modules) out of every later collection, and make
    young collections rare: one or two a run, same memory. Call it once the process's
    modules are loaded; it changes the whole process's collector."""
    gc.freeze()
    gc.set_threshold(YOUNG_OBJECTS_PER_COLLECTION, *gc.get_threshold()[1:])
