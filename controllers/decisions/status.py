"""Write status only when it changes, as the smallest merge patch that gets there."""

from __future__ import annotations

from typing import Any


def merge_patch_diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The RFC 7386 merge patch that turns `old` into `new` (empty when equal).

    Keys that disappear are set to None (merge patch deletes them); nested objects
    are diffed; lists and scalars are replaced whole, as merge patch does.
    """
    patch: dict[str, Any] = {key: None for key in old if key not in new}
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, dict) and isinstance(before, dict):
            nested = merge_patch_diff(before, value)
            if nested:
                patch[key] = nested
        elif value != before:
            patch[key] = value
    return patch
