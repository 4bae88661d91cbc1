"""Generated recipients for `make demo` and the benchmarks: what a Chinese retailer's
export looks like, warts included. Deterministic for a (count, seed) pair.

Columns `phone,name,code`. About 96% are distinct valid mobile numbers (+86 13x, 15x,
18x) written as E.164, nationally (13812345678), with spaces (+86 138 1234 5678) or
with dashes (138-1234-5678); about 3% are invalid (too short, masked, text, empty,
landlines); about 1% repeat an earlier number, often written another way. Numbers
are drawn at random, so they may belong to real people: never send them to a carrier.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

INVALID_SHARE = 0.03
DUPLICATE_SHARE = 0.01
OPT_OUT_EVERY = 200  # demo_opt_outs: one valid number in 200

_PREFIXES = (*range(130, 140), 150, 151, 152, 153, 155, 156, 157, 158, 159, *range(180, 190))
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超霞平刚华建国红梅玉兰文斌晨宇欣怡浩然子轩雨萱"
_CODE_CHARS = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
_INVALID = (
    lambda r: f"1{r.randrange(30, 90)}{r.randrange(10**5):05d}",  # too short
    lambda r: f"1{r.randrange(30, 90)}****{r.randrange(10**4):04d}",  # masked in an export
    lambda r: r.choice(("N/A", "unknown", "无", "-")),  # text
    lambda r: "",  # empty cell
    lambda r: f"+8610{r.randrange(6, 9)}{r.randrange(10**7):07d}",  # Beijing landline
    lambda r: f"021-{r.randrange(5, 7)}{r.randrange(10**7):07d}",  # Shanghai landline
)


def demo_rows(count: int = 10000, seed: int = 7) -> Iterator[dict[str, str]]:
    """`count` audience rows (dicts with phone, name, code)."""
    for row, _ in _records(count, seed):
        yield row


def demo_opt_outs(count: int = 10000, seed: int = 7) -> list[str]:
    """Numbers (E.164) of demo_rows(count, seed) that opted out: one valid number in
    OPT_OUT_EVERY, to preload into the opt-out set."""
    numbers = [number for _, number in _records(count, seed) if number]
    unique = list(dict.fromkeys(numbers))
    picker = random.Random(f"opt-out:{seed}")
    return picker.sample(unique, len(unique) // OPT_OUT_EVERY)


def _records(count: int, seed: int) -> Iterator[tuple[dict[str, str], str | None]]:
    """Rows with the E.164 number each should normalise to (None for invalid ones)."""
    rng = random.Random(seed)
    taken: set[str] = set()
    valid: list[str] = []  # national significant numbers, for duplicates
    for _ in range(count):
        draw = rng.random()
        if draw < INVALID_SHARE:
            phone, number = rng.choice(_INVALID)(rng), None
        elif draw < INVALID_SHARE + DUPLICATE_SHARE and valid:
            national = rng.choice(valid)
            phone, number = _written(rng, national), "+86" + national
        else:
            national = f"{rng.choice(_PREFIXES)}{rng.randrange(10**8):08d}"
            while national in taken:
                national = f"{rng.choice(_PREFIXES)}{rng.randrange(10**8):08d}"
            taken.add(national)
            valid.append(national)
            phone, number = _written(rng, national), "+86" + national
        yield {"phone": phone, "name": _name(rng), "code": _code(rng)}, number


def _written(rng: random.Random, national: str) -> str:
    """A national number as people type it."""
    draw = rng.random()
    if draw < 0.5:
        return "+86" + national
    if draw < 0.8:
        return national
    if draw < 0.9:
        return f"+86 {national[:3]} {national[3:7]} {national[7:]}"
    return f"{national[:3]}-{national[3:7]}-{national[7:]}"


def _name(rng: random.Random) -> str:
    return rng.choice(_SURNAMES) + "".join(rng.choices(_GIVEN, k=rng.choice((1, 2, 2))))


def _code(rng: random.Random) -> str:
    return "D11-" + "".join(rng.choices(_CODE_CHARS, k=4))
