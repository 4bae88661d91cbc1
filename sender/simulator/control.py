"""The simulator's control API: JSON over HTTP on a loopback port, for tests in other processes.

    GET  /stats                      counters, binds (peak_binds: most open at once), connections
    GET  /accepted?since=N&limit=M   accepted submits from index N: {total, next, items}
    GET  /reassembled                concatenated messages grouped by reference
    GET  /destinations?min=2         accepted submits per destination (at least `min`)
    GET  /config                     the running config
    POST /config   {...}             merge into the running config (not host or ports)
    POST /throttle {count, status?}  refuse the next `count` submits (ESME_RTHROTTLED default)
    POST /drop     {after_submits?}  drop every connection now, or after N accepted submits
    POST /mo       {from, to, text, system_id?, from_ton?}   queue an MO message to a
                   receiver bind (from_ton 2: the source in national format)
    POST /reset                      forget records, counters and queued deliveries
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web
from pydantic import ValidationError

from sender.simulator.config import to_status

if TYPE_CHECKING:
    from sender.simulator.server import Simulator

MAX_PAGE = 10_000


def _bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}),
                              content_type="application/json")


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        data = await request.json()
    except json.JSONDecodeError as error:
        raise _bad_request(f"body is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise _bad_request("body must be a JSON object")
    return data


def _int_query(request: web.Request, name: str, default: int) -> int:
    try:
        return max(0, int(request.query.get(name, default)))
    except ValueError:
        raise _bad_request(f"{name} must be an integer") from None


class ControlServer:
    """aiohttp app bound to one port; routes call the Simulator's Python API."""

    def __init__(self, smsc: Simulator) -> None:
        self.smsc = smsc
        self.port = 0
        app = web.Application()
        app.add_routes([
            web.get("/stats", self.stats), web.get("/accepted", self.accepted),
            web.get("/reassembled", self.reassembled), web.get("/destinations", self.destinations),
            web.get("/config", self.get_config), web.post("/config", self.post_config),
            web.post("/throttle", self.throttle), web.post("/drop", self.drop),
            web.post("/mo", self.mo), web.post("/reset", self.reset),
        ])  # fmt: skip
        self._runner = web.AppRunner(app, access_log=None)

    async def start(self, host: str, port: int) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        await self._runner.cleanup()

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.smsc.stats())

    async def accepted(self, request: web.Request) -> web.Response:
        since = _int_query(request, "since", 0)
        limit = min(_int_query(request, "limit", MAX_PAGE), MAX_PAGE)
        records = self.smsc.accepted
        page = records[since:since + limit]
        return web.json_response({"total": len(records), "next": since + len(page),
                                  "items": [record.to_json() for record in page]})

    async def reassembled(self, request: web.Request) -> web.Response:
        return web.json_response([m.to_json() for m in self.smsc.reassembled()])

    async def destinations(self, request: web.Request) -> web.Response:
        least = _int_query(request, "min", 1)
        counts = self.smsc.counters.per_destination
        return web.json_response({d: n for d, n in counts.items() if n >= least})

    async def get_config(self, request: web.Request) -> web.Response:
        return web.json_response(self.smsc.config.model_dump(mode="json"))

    async def post_config(self, request: web.Request) -> web.Response:
        try:
            config = self.smsc.configure(await _body(request))
        except ValidationError as error:
            raise _bad_request(str(error)) from None
        except ValueError as error:
            raise _bad_request(str(error)) from None
        return web.json_response(config.model_dump(mode="json"))

    async def throttle(self, request: web.Request) -> web.Response:
        body = await _body(request)
        try:
            count = int(body["count"])
            status = to_status(body.get("status", "ESME_RTHROTTLED"))
        except (KeyError, TypeError, ValueError) as error:
            raise _bad_request(f"expected {{count, status?}}: {error}") from None
        self.smsc.throttle_next(count, status)
        return web.json_response({"count": count, "status": status.name})

    async def drop(self, request: web.Request) -> web.Response:
        body = await _body(request)
        after = body.get("after_submits")
        if after is not None:
            if not isinstance(after, int) or after < 1:
                raise _bad_request("after_submits must be a positive integer")
            self.smsc.drop_after(after)
            return web.json_response({"after_submits": after})
        return web.json_response({"dropped": self.smsc.drop_connections()})

    async def mo(self, request: web.Request) -> web.Response:
        body = await _body(request)
        try:
            source, destination, text = str(body["from"]), str(body["to"]), str(body["text"])
        except KeyError as error:
            raise _bad_request(f"missing {error}") from None
        system_id, ton = body.get("system_id"), body.get("from_ton")
        if ton is not None and (not isinstance(ton, int) or not 0 <= ton <= 6):
            raise _bad_request("from_ton must be an SMPP TON, 0..6")
        target = self.smsc.inject_mo(source, destination, text,
                                     str(system_id) if system_id else None, source_ton=ton)
        return web.json_response({"queued": True, "system_id": target}, status=202)

    async def reset(self, request: web.Request) -> web.Response:
        self.smsc.reset()
        return web.json_response(self.smsc.stats())
