"""Load on the HTTP service from a second process on loopback: throughput, latency and memory.

    python -m bench.service_load                      # throughput matrix, then the soak (about 10 minutes on 2 cores)
    python -m bench.service_load --only load --duration 10
    python -m bench.service_load --only soak --soak 100000

Throughput: `reasoner serve` is started on a free loopback port for each of 1 and 2 workers,
recording to a fresh SQLite ledger on and off, and wrk (Debian's `wrk`, a C load generator that
leaves the cores to the server) drives POST /api/decide and POST /api/settle with 100 open
connections for --duration seconds. Every request carries a different person: a Lua script
varies the 编号, the identity, the decision and recognition dates and the amounts per request
(ids are per wrk thread and counter, so no two requests repeat). wrk is closed-loop: each
connection sends its next request when the last is answered, so at 100 connections the
latency is about 100 / throughput (Little's law); p50/p99 are wrk's own latency percentiles.
Any non-2xx answer or socket error is counted and reported.

Soak: one server (1 worker; recording off unless --soak-record) gets --soak distinct persons (distinct ids, dates and
amounts; one in five settles a claim) from wrk with --soak-concurrency connections, each wrk
thread stopping after its share; the server process's resident memory (VmRSS from
/proc/PID/status) is sampled every --every seconds. The
report gives the samples, the growth over the second half (after warm-up) and whether it stays
flat. Results go to bench/results/service_load.json (git-ignored).

Only loopback is ever addressed; every loop is bounded in count and time.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-token"
IDENTITIES = [("特困供养人员", "民政"), ("孤儿", "民政"), ("最低生活保障对象", "民政"), ("最低生活保障边缘家庭成员", "民政"),
              ("重度残疾人", "残联"), ("农村易返贫致贫人员", "乡村振兴"), ("脱贫人员", "乡村振兴"),
              ("重点优抚对象", "退役军人事务"), ("计划生育特殊家庭成员", "卫生健康")]


# ------------------------------------------------------------------ the server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, folder: Path, workers: int = 1, record: bool = True):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(folder / f"server-{self.port}.log", "w")
        args = [sys.executable, "-m", "reasoner.cli", "serve", "--port", str(self.port), "--token", TOKEN, "--workers", str(workers),
                "--db", f"sqlite:///{folder / f'ledger-{self.port}.db'}", "--data", str(folder / "data")]
        if not record:
            args.append("--no-record")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            self._wait(workers)
        except BaseException:
            self.stop()
            raise

    def _wait(self, workers: int) -> None:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(Path(self.log.name).read_text())
            try:
                if httpx.get(self.url + "/api/health", timeout=1).json()["policies"] and self._ready(workers):
                    return
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            time.sleep(0.3)
        raise RuntimeError("server did not start")

    def _ready(self, workers: int) -> bool:
        """With several workers each compiles the policies itself: wait until every child answers."""
        if workers == 1:
            return True
        return sum(_rss_kib(p) > 50_000 for p in _children(self.proc.pid)) >= workers  # not counting a small helper process

    def rss_kib(self) -> int:
        """Resident memory of the process that serves (with workers: the sum of them)."""
        kids = _children(self.proc.pid)
        return sum(_rss_kib(p) for p in kids) if kids else _rss_kib(self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def _children(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _rss_kib(pid: int) -> int:
    try:
        m = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
        return int(m.group(1)) if m else 0
    except OSError:
        return 0


# ------------------------------------------------------------------ persons (the same shapes in Python and Lua)
def person(n: int, claims: bool = False) -> dict[str, Any]:
    """The n-th distinct person: a Longyan identity, a date in 2023–2025, amounts that vary with n."""
    name, dept = IDENTITIES[n % len(IDENTITIES)]
    day = dt.date(2023, 1, 1) + dt.timedelta(days=n % 1090)
    recognised = dt.date(2021, 1, 1) + dt.timedelta(days=(n * 7) % 700)
    rec: dict[str, Any] = {
        "编号": f"soak-{n}", "地区": "龙岩市", "日期": day.isoformat(),
        "身份": [{"名称": name, "认定部门": dept, "认定日期": recognised.isoformat()}],
        "事实": {"认定前当年已参保": "否", "未按规定缴费参保": "否"},
        "假设参数": {"上年度居民人均可支配收入": 38000 + n % 9000, "年度救助限额": 47000 + n % 6000},
    }
    if claims:
        cost = 5000 + (n * 37) % 150000
        rec["就医"] = [{"编号": f"c{n}", "日期": day.isoformat(), "类别": "住院", "政策范围内费用": cost,
                       "基本医保支付": cost // 2, "大病保险支付": 0, "事实": {"按规定转诊": "是"}}]
    return rec


LUA = r"""
-- distinct persons per request: thread id and counter in the 编号, identity, dates and amounts vary
local ids = {IDS}
local path = "PATH"
local claims = CLAIMS
local mixed = MIXED  -- one in five requests settles (the soak)
local limit = LIMIT  -- answers per thread, then stop (0: run for the duration)
local fixed = FIXED  -- one 假设参数 for everybody (else they vary per person too)
local counter = 0
local n_threads = 0
tid = 0  -- set per thread by setup()
setup = function(thread)
  n_threads = n_threads + 1
  thread:set("tid", n_threads)
end
init = function(args)
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer TOKEN"
end
local base = os.time({year = 2023, month = 1, day = 1, hour = 12})
local rbase = os.time({year = 2021, month = 1, day = 1, hour = 12})
request = function()
  counter = counter + 1
  local n = counter * 7 + tid
  local who = ids[(n % #ids) + 1]
  local day = os.date("%Y-%m-%d", base + (n % 1090) * 86400)
  local recog = os.date("%Y-%m-%d", rbase + ((n * 7) % 700) * 86400)
  local body = string.format('{"编号":"w%d-%d","地区":"龙岩市","日期":"%s","身份":[{"名称":"%s","认定部门":"%s","认定日期":"%s"}],'
    .. '"事实":{"认定前当年已参保":"否","未按规定缴费参保":"否"},"假设参数":{"上年度居民人均可支配收入":%d,"年度救助限额":%d}',
    tid, counter, day, who[1], who[2], recog, fixed and 40000 or 38000 + n % 9000, fixed and 45000 or 47000 + n % 6000)
  local settle = claims or (mixed and n % 5 == 4)
  if settle then
    local cost = 5000 + (n * 37) % 150000
    body = body .. string.format(',"就医":[{"编号":"c%d","日期":"%s","类别":"住院","政策范围内费用":%d,"基本医保支付":%d,'
      .. '"大病保险支付":0,"事实":{"按规定转诊":"是"}}]', n, day, cost, math.floor(cost / 2))
  end
  return wrk.format("POST", settle and "/api/settle" or path, nil, body .. "}")
end
local answered = 0
response = function(status, headers, body)
  answered = answered + 1
  if limit > 0 and answered == limit then  -- this thread's share is done: tell the driver, which stops wrk
    local f = io.open(string.format("DONE-%d", tid), "w")
    f:write(answered)
    f:close()
    wrk.thread:stop()
  end
end
"""


def lua_script(path: str, claims: bool, mixed: bool = False, limit: int = 0, done: Path | None = None, fixed: bool = False) -> str:
    ids = "{" + ", ".join(f'{{"{n}", "{d}"}}' for n, d in IDENTITIES) + "}"
    return (LUA.replace("{IDS}", ids).replace("PATH", path).replace("CLAIMS", "true" if claims else "false")
            .replace("MIXED", "true" if mixed else "false").replace("LIMIT", str(limit)).replace("DONE-", str(done or "") + "-").replace("FIXED", "true" if fixed else "false")
            .replace("TOKEN", TOKEN))


# ------------------------------------------------------------------ throughput with wrk
def wrk(url: str, path: str, claims: bool, connections: int, duration: int, folder: Path, threads: int = 2) -> dict[str, Any]:
    script = folder / f"load-{path.strip('/').replace('/', '-')}.lua"
    script.write_text(lua_script(path, claims))
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s", "--timeout", "10s", "--latency", "-s", str(script), url]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=duration + 60).stdout
    return parse_wrk(out) | {"command": " ".join(cmd)}


def parse_wrk(out: str) -> dict[str, Any]:
    def ms(text: str) -> float:
        v, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
        return float(v) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]
    pct = dict(re.findall(r"^\s+(\d+)%\s+([\d.]+\w+)\s*$", out, re.M))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"requests": requests, "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50_ms": ms(pct["50"]), "p90_ms": ms(pct["90"]), "p99_ms": ms(pct["99"]),
            "socket_errors": sum(int(x) for x in errors.groups()) if errors else 0,
            "non_2xx": int(non2xx.group(1)) if non2xx else 0}


def warm(url: str, n: int = 300) -> None:
    with httpx.Client(base_url=url, headers={"authorization": f"Bearer {TOKEN}"}, timeout=30) as c:
        for i in range(n):
            c.post("/api/decide", json=person(10_000_000 + i)).raise_for_status()
            if i % 10 == 0:
                c.post("/api/settle", json=person(20_000_000 + i, claims=True)).raise_for_status()


def single_latency(url: str, n: int = 200) -> dict[str, float]:
    """One request at a time (no queue): what one decision costs end to end."""
    out = {}
    with httpx.Client(base_url=url, headers={"authorization": f"Bearer {TOKEN}"}, timeout=30) as c:
        for path, claims in (("/api/decide", False), ("/api/settle", True)):
            times = []
            for i in range(n):
                t = time.perf_counter()
                c.post(path, json=person(30_000_000 + i, claims=claims)).raise_for_status()
                times.append((time.perf_counter() - t) * 1000)
            times.sort()
            out[path] = {"p50_ms": times[len(times) // 2], "p99_ms": times[int(len(times) * 0.99) - 1]}
    return out


def load_matrix(folder: Path, duration: int, connections: int, workers_list: tuple[int, ...] = (1, 2)) -> list[dict[str, Any]]:
    if not shutil.which("wrk"):
        raise SystemExit("wrk not found: apt-get install -y wrk")
    rows = []
    for workers in workers_list:
        for record in (True, False):
            server = Server(folder, workers, record)
            try:
                warm(server.url)
                one = single_latency(server.url) if workers == 1 else {}
                for path, claims in (("/api/decide", False), ("/api/settle", True)):
                    r = wrk(server.url, path, claims, connections, duration, folder)
                    r |= {"endpoint": path, "workers": workers, "record": record, "connections": connections, "duration_s": duration}
                    if one:
                        r["one_at_a_time"] = one[path]
                    rows.append(r)
                    print(f"{path:14} workers={workers} record={'on ' if record else 'off'} {r['rps']:8.1f} req/s  "
                          f"p50 {r['p50_ms']:7.1f} ms  p99 {r['p99_ms']:7.1f} ms  errors {r['non_2xx'] + r['socket_errors']}"
                          + (f"  (one at a time: p50 {one[path]['p50_ms']:.1f} ms, p99 {one[path]['p99_ms']:.1f} ms)" if one else ""),
                          flush=True)
            finally:
                server.stop()
    return rows


# ------------------------------------------------------------------ soak
def soak(server: Server, total: int, connections: int, every_s: float, folder: Path, threads: int = 2, fixed: bool = False) -> dict[str, Any]:
    """wrk sends `total` distinct persons (each thread total/threads, then it stops); RSS is read every `every_s` seconds."""
    script = folder / "soak.lua"
    done = folder / "soak-done"
    script.write_text(lua_script("/api/decide", False, mixed=True, limit=total // threads, done=done, fixed=fixed))
    cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", "3600s", "--timeout", "30s", "--latency", "-s", str(script), server.url]
    samples = [{"t_s": 0.0, "rss_mib": server.rss_kib() / 1024}]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    stopping = False
    while proc.poll() is None:
        deadline = time.monotonic() + every_s
        while time.monotonic() < deadline and proc.poll() is None:
            if not stopping and len(list(folder.glob("soak-done-*"))) >= threads:  # every thread sent its share: wrk reports on SIGINT
                proc.send_signal(signal.SIGINT)
                stopping = True
            time.sleep(0.1)
        samples.append({"t_s": round(time.perf_counter() - start, 1), "rss_mib": server.rss_kib() / 1024})
        print(f"  {samples[-1]['t_s']:7.1f} s  RSS {samples[-1]['rss_mib']:7.1f} MiB", flush=True)
    out = proc.stdout.read()
    seconds = time.perf_counter() - start
    stats = parse_wrk(out)
    rate = stats["requests"] / seconds
    for x in samples:
        x["persons_approx"] = int(min(stats["requests"], x["t_s"] * rate))
    second_half = [x["rss_mib"] for x in samples if x["t_s"] >= seconds / 2]
    growth = second_half[-1] - second_half[0] if len(second_half) > 1 else 0.0
    return {"persons": stats["requests"], "errors": stats["non_2xx"] + stats["socket_errors"], "seconds": seconds,
            "rps": rate, "p50_ms": stats["p50_ms"], "p99_ms": stats["p99_ms"], "command": " ".join(cmd), "samples": samples,
            "rss_start_mib": samples[0]["rss_mib"], "rss_max_mib": max(x["rss_mib"] for x in samples), "rss_last_mib": samples[-1]["rss_mib"],
            "rss_growth_second_half_mib": growth, "flat": abs(growth) < 20}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", choices=["load", "soak"])
    ap.add_argument("--duration", type=int, default=15, help="seconds per wrk run")
    ap.add_argument("--connections", type=int, default=100)
    ap.add_argument("--workers", default="1,2", help="worker counts to measure, comma-separated")
    ap.add_argument("--soak", type=int, default=100_000, help="distinct persons in the soak")
    ap.add_argument("--soak-concurrency", type=int, default=32, help="wrk connections in the soak")
    ap.add_argument("--every", type=float, default=15, help="RSS sample interval (seconds)")
    ap.add_argument("--soak-fixed-params", action="store_true",
                    help="one 假设参数 for everybody (ids, dates, identities and claim amounts still vary): see bench/README.md")
    ap.add_argument("--soak-record", action="store_true",
                    help="record the soak in the ledger (one SQLite transaction per person: ~15 ms each, so 10^5 take ~30 min)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "service_load.json"))
    args = ap.parse_args()
    result: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
                              "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                                       text=True).stdout.strip(),
                              "when": dt.datetime.now().isoformat(timespec="seconds")}
    with tempfile.TemporaryDirectory(prefix="service-load-") as tmp:
        folder = Path(tmp)
        if args.only in (None, "load"):
            print(f"throughput: wrk, {args.connections} connections, {args.duration} s per run, distinct persons per request", flush=True)
            result["load"] = load_matrix(folder, args.duration, args.connections, tuple(int(w) for w in args.workers.split(",")))
        if args.only in (None, "soak"):
            print(f"soak: {args.soak} distinct persons (1 in 5 settled), {args.soak_concurrency} in flight, 1 worker, "
                  f"recording {'on' if args.soak_record else 'off'}", flush=True)
            server = Server(folder, 1, args.soak_record)
            try:
                result["soak"] = soak(server, args.soak, args.soak_concurrency, args.every, folder, fixed=args.soak_fixed_params)
                result["soak"]["fixed_params"] = args.soak_fixed_params
                result["soak"]["ledger_bytes"] = sum(p.stat().st_size for p in folder.glob("ledger-*.db*"))
            finally:
                server.stop()
            s = result["soak"]
            print(f"soak: {s['persons']} persons in {s['seconds']:.0f} s, {s['errors']} errors; RSS {s['rss_start_mib']:.1f} → "
                  f"{s['rss_last_mib']:.1f} MiB, second half {s['rss_growth_second_half_mib']:+.1f} MiB → "
                  f"{'flat' if s['flat'] else 'GROWING'}", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, ensure_ascii=False, indent=2))
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
