"""Many Streamlit sessions without many browsers: each session is one websocket speaking Streamlit's own
protocol (the BackMsg/ForwardMsg protobufs the web frontend sends and receives), so the server does exactly
the work it does for a browser tab — a script run per session, fragment re-runs on the `run_every` timer the
server asks for — while the client costs almost nothing. Meanwhile the health endpoint is timed every
quarter second.

    python bench/sessions.py http://127.0.0.1:8501 --sessions 20 --page Live --duration 40 --settle 10

Prints one JSON object: health latency (all / after the settle period), and per session whether its page
rendered (a full run finished with a progress bar on it), how many fragment re-runs finished, and the render
times. `--json-only` prints only that object (for tests).

What it does not do: paint. Browser layout and JavaScript are the client's CPU, not the server's; the
real-browser test opens Chromium pages beside these sessions to check the page itself.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import urllib.request

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

FINISHED = ForwardMsg.ScriptFinishedStatus


class Session:
    """One simulated browser tab on one page."""

    def __init__(self, url: str, page: str, index: int):
        self.ws_url = url.replace("http://", "ws://").replace("https://", "wss://").rstrip("/") + "/_stcore/stream"
        self.page, self.index = page, index
        self.page_hash = ""
        self.timers: dict[str, asyncio.Task] = {}
        self.requested_at: float | None = None
        self.full_runs = self.fragment_runs = 0
        self.render_s: list[float] = []
        self.first_render_s: float | None = None
        self.progress_text = ""
        self.errors: list[str] = []
        self.finished_at: list[float] = []

    def _client_state_msg(self, fragment_id: str = "") -> bytes:
        msg = BackMsg()
        cs = msg.rerun_script
        cs.query_string = ""
        cs.page_name = "" if self.page_hash else self.page
        cs.page_script_hash = self.page_hash
        if fragment_id:
            cs.fragment_id = fragment_id
            cs.is_auto_rerun = True
        cs.context_info.timezone = "UTC"
        cs.context_info.locale = "en-US"
        return msg.SerializeToString()

    async def _auto_rerun(self, ws, fragment_id: str, interval: float) -> None:
        while True:  # like the frontend: a timer per fragment, cleared when a full run starts
            await asyncio.sleep(interval)
            self.requested_at = time.monotonic()
            await ws.send(self._client_state_msg(fragment_id))

    def _clear_timers(self) -> None:
        for t in self.timers.values():
            t.cancel()
        self.timers.clear()

    async def run(self, until: float) -> None:
        import websockets

        try:
            async with websockets.connect(self.ws_url, subprotocols=["streamlit"], max_size=None,
                                          open_timeout=60, ping_interval=None) as ws:
                self.requested_at = t_open = time.monotonic()
                await ws.send(self._client_state_msg())
                while time.monotonic() < until:
                    try:
                        raw = await asyncio.wait_for(ws.recv(), timeout=max(0.1, until - time.monotonic()))
                    except asyncio.TimeoutError:
                        break
                    self._handle(ws, raw, t_open)
        except Exception as e:  # a dropped or refused connection is a finding, not a crash of the load test
            self.errors.append(f"{type(e).__name__}: {e}")
        finally:
            self._clear_timers()

    def _handle(self, ws, raw: bytes, t_open: float) -> None:
        msg = ForwardMsg()
        msg.ParseFromString(raw)
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            if not msg.metadata.run.fragment_ids:  # a full run (not a fragment's) re-registers the timers
                self._clear_timers()
        elif kind == "navigation":  # the page actually running (new_session carries the main script's hash)
            self.page_hash = msg.navigation.page_script_hash or self.page_hash
        elif kind == "delta":
            d = msg.delta
            if d.WhichOneof("type") == "new_element":
                el = d.new_element
                if el.WhichOneof("type") == "progress":
                    self.progress_text = el.progress.text
                elif el.WhichOneof("type") == "exception":
                    self.errors.append(el.exception.message)
        elif kind == "auto_rerun":
            fid = msg.auto_rerun.fragment_id
            if fid in self.timers:
                self.timers[fid].cancel()
            self.timers[fid] = asyncio.get_running_loop().create_task(
                self._auto_rerun(ws, fid, msg.auto_rerun.interval))
        elif kind == "stop_auto_rerun":
            for fid in msg.stop_auto_rerun.fragment_ids:
                t = self.timers.pop(fid, None)
                if t:
                    t.cancel()
        elif kind == "page_not_found":
            self.errors.append(f"page not found: {self.page}")
        elif kind == "script_finished":
            now = time.monotonic()
            status = msg.script_finished
            if status == FINISHED.FINISHED_SUCCESSFULLY:
                self.full_runs += 1
                if self.first_render_s is None:
                    self.first_render_s = now - t_open
            elif status == FINISHED.FINISHED_FRAGMENT_RUN_SUCCESSFULLY:
                self.fragment_runs += 1
                self.finished_at.append(now)
            elif status == FINISHED.FINISHED_WITH_COMPILE_ERROR:
                self.errors.append("script compile error")
            if self.requested_at is not None and status != FINISHED.FINISHED_EARLY_FOR_RERUN:
                self.render_s.append(now - self.requested_at)
                self.requested_at = None

    def summary(self) -> dict:
        return {"index": self.index, "rendered": self.first_render_s is not None and bool(self.progress_text),
                "first_render_s": self.first_render_s, "full_runs": self.full_runs,
                "fragment_runs": self.fragment_runs, "progress_text": self.progress_text,
                "max_render_s": max(self.render_s, default=None), "errors": self.errors[:3],
                "finished_at": self.finished_at}


def _health_sampler(url: str, stop, out) -> None:
    """In its own process (see `measure`): times the health endpoint every quarter second until `stop` is set, then
    sends the (start, seconds, ok) samples through `out`. Times are time.monotonic(), one clock for every process."""
    samples = []
    while not stop.is_set():
        t0 = time.monotonic()
        try:
            ok = urllib.request.urlopen(f"{url}/_stcore/health", timeout=10).read() == b"ok"
        except OSError:
            ok = False
        samples.append((t0, time.monotonic() - t0, ok))
        stop.wait(0.25)
    out.send(samples)


def _stats(xs: list[float]) -> dict:
    return {"n": len(xs), "median_ms": round(statistics.median(xs) * 1000, 1) if xs else None,
            "p95_ms": round(sorted(xs)[int(0.95 * (len(xs) - 1))] * 1000, 1) if xs else None,
            "max_ms": round(max(xs) * 1000, 1) if xs else None}


async def _run_all(url: str, n: int, page: str, duration: float, stagger: float) -> list[Session]:
    sessions = [Session(url, page, i) for i in range(n)]
    until = time.monotonic() + duration
    tasks = []
    for s in sessions:  # users arrive `stagger` seconds apart, not in one instant
        tasks.append(asyncio.create_task(s.run(until)))
        await asyncio.sleep(stagger)
    await asyncio.gather(*tasks)
    return sessions


def measure(url: str, sessions: int = 20, page: str = "Live", duration: float = 40.0, settle: float = 10.0,
            stagger: float = 0.5, client_nice: int = 0) -> dict:
    """Open `sessions` sessions on `page` for `duration` seconds; health latencies after the last session
    has arrived and `settle` more seconds are the steady state. `client_nice` lowers this client's priority once the
    sampler has started (the sampler keeps its own): on a one-host test the sessions stand in for visitors' machines,
    which in a deployment do not take the server's cores."""
    # The health checks run in a process of their own: in a thread of this one they would wait for the GIL while the
    # client decodes eighteen sessions' messages, and time this client's load as if it were the server's.
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    receive, send = ctx.Pipe(duplex=False)
    sampler = ctx.Process(target=_health_sampler, args=(url, stop, send), daemon=True)
    sampler.start()
    if client_nice:
        import os

        os.nice(client_nice)
    t0 = time.monotonic()
    result = asyncio.run(_run_all(url, sessions, page, duration, stagger))
    stop.set()
    samples = receive.recv() if receive.poll(30) else []
    sampler.join(timeout=15)
    steady_from = t0 + sessions * stagger + settle
    steady = [lat for at, lat, _ in samples if at >= steady_from]
    per = [s.summary() for s in result]
    for p in per:  # fragment re-runs that finished in the steady window
        p["steady_fragment_runs"] = sum(1 for f in p.pop("finished_at") if f >= steady_from)
    return {"sessions": sessions, "page": page, "duration_s": duration, "settle_s": settle,
            "health_all": _stats([lat for _, lat, _ in samples]), "health_steady": _stats(steady),
            "health_failures": sum(1 for *_, ok in samples if not ok),
            "rendered": sum(p["rendered"] for p in per),
            "first_render_max_s": max((p["first_render_s"] or float("inf")) for p in per),
            "steady_fragment_runs": sum(p["steady_fragment_runs"] for p in per),
            "per_session": per}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("url")
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--page", default="Live")
    ap.add_argument("--duration", type=float, default=40.0)
    ap.add_argument("--settle", type=float, default=10.0)
    ap.add_argument("--stagger", type=float, default=0.5)
    ap.add_argument("--client-nice", type=int, default=0,
                    help="niceness added to the session client (not the health sampler): on one host, the visitors' "
                         "machines should not take the server's cores")
    ap.add_argument("--json-only", action="store_true")
    args = ap.parse_args()
    r = measure(args.url, args.sessions, args.page, args.duration, args.settle, args.stagger, args.client_nice)
    if args.json_only:
        print(json.dumps(r))
        return
    print(f"{r['sessions']} sessions on {r['page']}: rendered {r['rendered']}/{r['sessions']} "
          f"(slowest first render {r['first_render_max_s']:.1f} s); fragment re-runs in steady state "
          f"{r['steady_fragment_runs']}")
    for k in ("health_all", "health_steady"):
        h = r[k]
        print(f"{k}: n={h['n']} median {h['median_ms']} ms, p95 {h['p95_ms']} ms, max {h['max_ms']} ms")
    print(f"health failures: {r['health_failures']}")
    errs = [e for p in r["per_session"] for e in p["errors"]]
    if errs:
        print("errors:", errs[:5])


if __name__ == "__main__":
    main()
