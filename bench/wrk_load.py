"""``wrk`` as ``bench/overhead.py``'s load generator, where it is installed.

One run is one ``wrk`` process, one thread (so the generator takes at most one core, and its
share of it shows), ``concurrency`` connections, for whole seconds. A Lua script made for the
run sends the call's method, headers and body, with each ``{n}`` in a header value or the body
made unique to the request (``<thread>-<count>``: an ``Idempotency-Key`` is never repeated),
counts the answers by status (any 2xx is a success: a provider may accept a create with 202),
keeps the first body of each other status, and prints one JSON
line at the end: requests, duration, socket errors, and the latency at every tenth of a
percentile (wrk keeps a full histogram; a thousand quantiles stand for it when the rounds'
latencies are pooled). The result has the shape of the aiohttp generator's, its latencies
weighted: ``[[seconds, weight], ...]``.

A call with no ``{n}`` (a GET) is the same request every time, and then the script is
*static*: it sets ``wrk.method``, ``wrk.headers`` and ``wrk.body``, which wrk formats once, and
defines no ``request()`` or ``response()``, so that no Lua runs per request. The hooks cost
wrk about a fifth of its CPU a GET: 37–38 µs a request against 28–30 in ``bench/workers.py``'s
GET with two workers (most of the rest is the kernel's wake-ups), 8.4 against 6.7 µs when wrk
alone saturates nginx. That is CPU the gateway, sharing the machine's two cores, does not get.
wrk then counts for itself the answers of status 400 or more (``summary.errors.status``); they
are errors as before (``"status >= 400"``), without a sample of their bodies, and a 3xx would
pass for a success, which no scenario's call answers.
"""

from __future__ import annotations

import json
import math
import resource
import secrets
import shutil
import subprocess
import tempfile
from typing import Any
from urllib.parse import urlsplit

_MARK = "WRK-RESULT "


def wrk_path() -> str | None:
    return shutil.which("wrk")


def lua_string(text: str) -> str:
    """``text`` as a Lua string literal in ASCII: every byte of its UTF-8 that is not an ASCII
    letter, digit or space as a decimal escape, so that no quote, bracket or newline can end it
    early and the bytes sent are the text's own."""
    return '"' + "".join(_LUA_BYTES[b] for b in text.encode()) + '"'


_LUA_BYTES = [
    chr(b) if b < 0x80 and (chr(b).isalnum() or b == 0x20) else f"\\{b:03d}" for b in range(256)
]


def is_static(spec: dict[str, Any]) -> bool:
    """Whether every request of the run is the same (nothing in it to make unique)."""
    texts = [*spec["headers"].values(), spec["body"] or ""]
    return not any("{n}" in text for text in texts)


def script(spec: dict[str, Any]) -> str:
    headers = ", ".join(
        f"[{lua_string(name)}] = {lua_string(value)}" for name, value in spec["headers"].items()
    )
    body = lua_string(spec["body"]) if spec["body"] is not None else "nil"
    url = urlsplit(spec["url"])
    path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    hooks = _STATIC if is_static(spec) else _DYNAMIC
    return (_SCRIPT + hooks + _DONE).format(
        run=lua_string(secrets.token_hex(6)),
        method=lua_string(spec["method"]),
        path=lua_string(path),
        headers=headers,
        body=body,
    )


_SCRIPT = """
local run, method, path, body = {run}, {method}, {path}, {body}
local template = {{{headers}}}
local threads, serial = {{}}, 0

local function unique(text, n)
  if text == nil then return nil end
  return (string.gsub(text, "{{n}}", n))
end

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  statuses, samples = {{}}, {{}}
end
"""

# The same request every time: formatted once by wrk, no Lua per request or answer.
_STATIC = """
wrk.method, wrk.path, wrk.body = method, path, body
for name, value in pairs(template) do wrk.headers[name] = value end
"""

_DYNAMIC = """
function request()
  serial = serial + 1
  local n = string.format("%s-%d-%d", run, id, serial)
  local headers = {{}}
  for name, value in pairs(template) do headers[name] = unique(value, n) end
  return wrk.format(method, path, headers, unique(body, n))
end

function response(status, headers, answer)
  statuses[status] = (statuses[status] or 0) + 1
  if (status < 200 or status > 299) and samples[status] == nil then
    samples[status] = string.sub(answer or "", 1, 300)
  end
end
"""

_DONE = """
local function quote(text)
  return '"' .. string.gsub(text, '[%c"\\\\]', function(c)
    return string.format("\\\\u%04x", string.byte(c))
  end) .. '"'
end

function done(summary, latency, requests)
  local parts = {{}}
  local counted, kept = {{}}, {{}}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      counted[status] = (counted[status] or 0) + count
    end
    for status, text in pairs(thread:get("samples")) do
      if kept[status] == nil then kept[status] = text end
    end
  end
  local statuses, samples = {{}}, {{}}
  for status, count in pairs(counted) do
    table.insert(statuses, string.format('"%d": %d', status, count))
  end
  for status, text in pairs(kept) do
    table.insert(samples, string.format('"%d": %s', status, quote(text)))
  end
  local quantiles = {{}}
  for i = 1, 999 do
    table.insert(quantiles, string.format("%d", latency:percentile(i / 10)))
  end
  -- wrk's percentile(100) ranks one past the last request and answers 0: the maximum instead.
  table.insert(quantiles, string.format("%d", latency.max))
  local e = summary.errors
  io.write("{mark}", string.format(
    '{{"requests": %d, "duration_us": %d, "statuses": {{%s}}, "samples": {{%s}}, ' ..
    '"socket_errors": {{"connect": %d, "read": %d, "write": %d, "timeout": %d}}, ' ..
    '"status_errors": %d, "counted_by_script": %s, "quantiles_us": [%s]}}\\n',
    summary.requests, summary.duration, table.concat(statuses, ", "),
    table.concat(samples, ", "), e.connect, e.read, e.write, e.timeout, e.status,
    tostring(response ~= nil), table.concat(quantiles, ", ")))
end
""".replace("{mark}", _MARK)


def run(spec: dict[str, Any], wrk: str) -> dict[str, Any]:
    """One run of ``spec`` (url, method, headers, body, concurrency, seconds) by ``wrk``, in the
    shape of ``overhead.load``'s result."""
    seconds = max(1, math.ceil(spec["seconds"]))
    with tempfile.NamedTemporaryFile("w", suffix=".lua", encoding="utf-8") as lua:
        lua.write(script(spec))
        lua.flush()
        command = [
            wrk,
            "--threads",
            "1",
            "--connections",
            str(spec["concurrency"]),
            "--duration",
            f"{seconds}s",
            "--timeout",
            "60s",
            "--script",
            lua.name,
            spec["url"],
        ]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run(command, capture_output=True, timeout=seconds + 120)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:  # e.g. "unable to connect to 127.0.0.1:8080 Connection refused"
        said = (done.stderr + done.stdout).decode(errors="replace").strip()
        raise RuntimeError(f"wrk failed (exit {done.returncode}) on {spec['url']}: {said}")
    cpu_s = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return parse(done.stdout.decode(errors="replace"), cpu_s)


def parse(output: str, cpu_s: float) -> dict[str, Any]:
    """The result line of the script's ``done()``; ``cpu_s``: wrk's own CPU over the run."""
    lines = [line for line in output.splitlines() if line.startswith(_MARK)]
    if not lines:
        raise RuntimeError(f"wrk printed no result: {output[-500:]}")
    found = json.loads(lines[-1][len(_MARK) :])
    wall = found["duration_us"] / 1e6
    requests = found["requests"]
    errors = {s: n for s, n in found["statuses"].items() if not 200 <= int(s) <= 299}
    if not found["counted_by_script"] and found["status_errors"]:  # a static run: wrk counted
        errors["status >= 400"] = found["status_errors"]
    errors.update({kind: n for kind, n in found["socket_errors"].items() if n})
    weight = requests / len(found["quantiles_us"])
    return {
        "requests": requests,
        "wall_s": wall,
        "errors": errors,
        "error_samples": found["samples"],
        # No request completed (nothing listening, say): no latency to report, not zeros.
        "latencies": [[us / 1e6, weight] for us in found["quantiles_us"]] if requests else [],
        "generator_cpu_share": round(cpu_s / wall, 2) if wall else None,
    }
