"""The routing decision (sender.sms.routing) over real phonenumbers data: which channel
serves a number, by country, E.164 prefix and carrier (三网分流), and what in a routing
can match nothing."""

from __future__ import annotations

import phonenumbers
import pytest
from phonenumbers import carrier

from sender.sms.routing import Route, Router, carrier_name, carrier_names, routing_problems

MOBILE, UNICOM, TELECOM = "+8613800138000", "+8618612345678", "+8618912345678"
US, HK = "+14155552671", "+85291234567"

THREE_NETWORKS = [
    Route.of("cmcc", carriers=["China Mobile"]),
    Route.of("unicom", carriers=["中国联通"]),  # the Chinese name reaches the same carrier
    Route.of("telecom", countries=["CN"], carriers=["china telecom"]),
]


def route(routes: list[Route], number: str) -> str | None:
    return Router(routes).route(phonenumbers.parse(number))


@pytest.mark.parametrize("routes, number, channel", [
    pytest.param(THREE_NETWORKS, MOBILE, "cmcc", id="china-mobile"),
    pytest.param(THREE_NETWORKS, UNICOM, "unicom", id="unicom-by-chinese-name"),
    pytest.param(THREE_NETWORKS, TELECOM, "telecom", id="telecom-country-and-carrier"),
    pytest.param(THREE_NETWORKS, US, None, id="no-channel-serves-it"),
    pytest.param([Route.of("any")], US, "any", id="empty-routing-takes-any"),
    pytest.param([Route.of("cn", countries=["CN"]), Route.of("world")], HK, "world",
                 id="hong-kong-is-not-cn"),
    pytest.param([Route.of("cn", countries=["CN"]), Route.of("world")], MOBILE, "cn",
                 id="first-that-serves-wins"),
    pytest.param([Route.of("138", prefixes=["+86138"]), Route.of("rest", countries=["CN"])],
                 MOBILE, "138", id="prefix"),
    pytest.param([Route.of("138", prefixes=["+86138"]), Route.of("rest", countries=["CN"])],
                 UNICOM, "rest", id="prefix-misses"),
    pytest.param([Route.of("both", countries=["US"], prefixes=["+86"])], MOBILE, None,
                 id="every-list-must-hold"),
    pytest.param([Route.of("a", prefixes=["+1", "+852"])], HK, "a", id="any-prefix-of-the-list"),
])
def test_route(routes: list[Route], number: str, channel: str | None) -> None:
    assert route(routes, number) == channel


def test_the_carrier_is_looked_up_only_when_a_route_asks() -> None:
    assert not Router([Route.of("cn", countries=["CN"], prefixes=["+86"])]).needs_carrier
    assert Router(THREE_NETWORKS).needs_carrier


def test_carrier_names_hold_every_language_to_the_english_name() -> None:
    names = carrier_names()
    assert names["中国移动"] == names["china mobile"] == "China Mobile"


@pytest.mark.parametrize("countries, carriers, problems", [
    pytest.param(["CN", "US"], ["China Mobile", "中国电信"], [], id="all-known"),
    pytest.param(["XX", "CN"], [], ["countries phonenumbers has no numbers for: XX"],
                 id="not-a-country"),
    pytest.param([], ["China Mobil"], [
        "carriers phonenumbers does not know (no number would match them): China Mobil"],
                 id="carrier-typo"),
])
def test_routing_problems(countries: list[str], carriers: list[str],
                          problems: list[str]) -> None:
    assert routing_problems(countries, carriers) == problems


CARRIER_SAMPLE = [
    f"+86{prefix}{i:08d}" for prefix in ("130", "133", "138", "150", "170", "177", "186",
                                         "189", "199") for i in range(0, 10**8, 7_654_321)
] + ["+14155552671", "+447700900123", "+447400123456", "+85291234567", "+919812345678",
     "+6591234567", "+819012345678", "+5511912345678", "+2348031234567", "+8613800138000",
     "+12025550123", "+8610 6552 9988".replace(" ", "")]  # a Beijing fixed line: no carrier


@pytest.mark.parametrize("number", CARRIER_SAMPLE)
def test_the_cached_carrier_is_phonenumbers_own(number: str) -> None:
    parsed = phonenumbers.parse(number)
    assert carrier_name(parsed, number) == carrier.name_for_number(parsed, "en")
