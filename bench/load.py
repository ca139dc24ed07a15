"""Load: many concurrent chat sessions over the JSON API and the Gradio queue, then an exactly-once check.

    python bench/load.py [--model default] [--sessions 200] [--messages 5] [--backends sqlite,postgresql]

Loopback only, bounded: a fixed number of sessions x messages per channel, a time limit per phase. For each
store backend it starts `feedbackbot serve` as its own process (rate limits off, a fresh SQLite file or a
throwaway PostgreSQL cluster), runs both channels, then reads the store back: every acknowledged message must be
stored exactly once with the same text. Writes bench/results/load.json and load.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchkit import percentile, write_results  # noqa: E402
sys.path.insert(0, str(ROOT / "tests"))

from bot.store import Store  # noqa: E402
from servers import free_port, start_bot_server, temporary_postgres  # noqa: E402

TEXTS = ["the delivery was late again", "love the new app", "where is my refund?", "great crew, thanks!",
         "my bag never arrived", "can I change my seat?", "worst customer service ever", "ok"]


async def api_session(client: httpx.AsyncClient, url: str, token: str, s: int, n: int, out: list) -> None:
    session = None          # server-issued on the first reply (a client cannot choose a conversation id)
    for m in range(n):
        text = f"{TEXTS[(s + m) % len(TEXTS)]} [{token} api {s}.{m}]"
        started = time.perf_counter()
        try:
            r = await client.post(f"{url}/api/v1/messages", json={"text": text, "session_id": session,
                                                                   "client_message_id": f"{token}-{s}-{m}"})
            ok = r.status_code == 200
            session = r.json()["session_id"] if ok else session
            out.append({"text": text, "ok": ok, "status": r.status_code, "seconds": time.perf_counter() - started,
                        "message_id": r.json().get("message_id") if ok else None})
        except httpx.HTTPError as exc:
            out.append({"text": text, "ok": False, "status": type(exc).__name__,
                        "seconds": time.perf_counter() - started, "message_id": None})


async def gradio_session(client: httpx.AsyncClient, url: str, token: str, s: int, n: int, out: list) -> None:
    for m in range(n):
        text = f"{TEXTS[(s + m) % len(TEXTS)]} [{token} gradio {s}.{m}]"
        started = time.perf_counter()
        ok, status = False, None
        try:
            r = await client.post(f"{url}/gradio_api/call/chat", json={"data": [text]})
            status = r.status_code
            if r.status_code == 200:
                event_id = r.json()["event_id"]
                async with client.stream("GET", f"{url}/gradio_api/call/chat/{event_id}") as stream:
                    event = None
                    async for line in stream.aiter_lines():
                        if line.startswith("event:"):
                            event = line.split(":", 1)[1].strip()
                        if event in ("complete", "error") and line.startswith("data:"):
                            ok = event == "complete"
                            status = event
                            break
        except httpx.HTTPError as exc:
            status = type(exc).__name__
        out.append({"text": text, "ok": ok, "status": status, "seconds": time.perf_counter() - started})


async def run_phase(kind: str, url: str, token: str, sessions: int, messages: int, limit_s: float) -> dict:
    results: list[dict] = []
    limits = httpx.Limits(max_connections=sessions, max_keepalive_connections=sessions)
    async with httpx.AsyncClient(timeout=httpx.Timeout(limit_s), limits=limits) as client:
        fn = api_session if kind == "api" else gradio_session
        started = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(fn(client, url, token, s, messages, results)
                                                for s in range(sessions))), timeout=limit_s)
        wall = time.perf_counter() - started
    ok = [r for r in results if r["ok"]]
    latencies = [r["seconds"] * 1000 for r in ok]
    return {"channel": kind, "sessions": sessions, "messages_sent": len(results), "acknowledged": len(ok),
            "errors": len(results) - len(ok),
            "error_kinds": sorted({str(r["status"]) for r in results if not r["ok"]}),
            "wall_seconds": wall, "throughput_msg_per_s": len(ok) / wall,
            "latency_ms": {"p50": percentile(latencies, 0.5), "p95": percentile(latencies, 0.95),
                           "p99": percentile(latencies, 0.99),
                           "mean": statistics.fmean(latencies) if latencies else None},
            "_results": results}


def verify(db_url: str, token: str, phases: list[dict]) -> dict:
    stored: dict[str, list[int]] = {}
    by_id: dict[int, str] = {}
    for row in Store(db_url).iter_messages():
        if token in row["text"]:
            stored.setdefault(row["text"], []).append(row["id"])
            by_id[row["id"]] = row["text"]
    lost = duplicated = mismatched = 0
    for phase in phases:
        for r in phase["_results"]:
            if not r["ok"]:
                continue
            ids = stored.get(r["text"], [])
            lost += not ids
            duplicated += len(ids) > 1
            if r.get("message_id") is not None and by_id.get(r["message_id"]) != r["text"]:
                mismatched += 1
    return {"lost": lost, "duplicated": duplicated, "id_mismatch": mismatched, "rows_for_this_run": len(by_id)}


@contextlib.contextmanager
def store_url(backend: str, workdir: Path):
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'load.sqlite3'}"
    else:
        with temporary_postgres() as url:
            yield url


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="default")
    ap.add_argument("--sessions", type=int, default=200)
    ap.add_argument("--messages", type=int, default=5)
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--phase-limit-s", type=float, default=600)
    ap.add_argument("--channels", default="api,gradio")
    ap.add_argument("--model-backend", default=None, help="[model] backend of the server (default: its config)")
    ap.add_argument("--batch-window-ms", type=float, default=None, help="[model] batch_window_ms of the server")
    ap.add_argument("--tag", default="", help="results file name suffix: load-TAG.json")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = ap.parse_args()
    server_env = {}
    if args.model_backend:
        server_env["FEEDBACKBOT_MODEL_BACKEND"] = args.model_backend
    if args.batch_window_ms is not None:
        server_env["FEEDBACKBOT_MODEL_BATCH_WINDOW_MS"] = str(args.batch_window_ms)
    report = {"sessions": args.sessions, "messages_per_session": args.messages, "model": args.model,
              "server_env": server_env, "runs": []}
    workdir = Path(tempfile.mkdtemp(prefix="feedbackbot-load-"))
    for backend in args.backends.split(","):
        with store_url(backend, workdir) as db_url:
            port = free_port()
            proc = start_bot_server(args.model, db_url, port, workdir / f"server-{backend}.log", server_env)
            token = uuid.uuid4().hex[:8]
            try:
                phases = [asyncio.run(run_phase(kind, f"http://127.0.0.1:{port}", token, args.sessions,
                                                args.messages, args.phase_limit_s))
                          for kind in args.channels.split(",")]
            finally:
                proc.terminate()
                proc.wait(timeout=60)
            check = verify(db_url, token, phases)
        for p in phases:
            p.pop("_results")
        run = {"backend": backend, "phases": phases, "store_check": check}
        report["runs"].append(run)
        print(json.dumps(run, indent=1), flush=True)
    rows = [f"| {r['backend']} | {p['channel']} | {p['messages_sent']} | {p['acknowledged']} | {p['errors']} | "
            f"{p['throughput_msg_per_s']:.1f} | {p['latency_ms']['p50']:.0f} | {p['latency_ms']['p95']:.0f} | "
            f"{r['store_check']['lost']} | {r['store_check']['duplicated']} |"
            for r in report["runs"] for p in r["phases"]]
    markdown = (
        f"# Load: {args.sessions} concurrent sessions x {args.messages} messages per channel\n\n"
        f"`python bench/load.py --sessions {args.sessions} --messages {args.messages}` (loopback, model "
        f"`{args.model}`, 2-core CPU{', server ' + str(server_env) if server_env else ''})\n\n| store | channel | sent | acknowledged | errors | msg/s | p50 ms | p95 ms | "
        "lost | duplicated |\n|---|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n")
    write_results(args.out, f"load-{args.tag}" if args.tag else "load", report, markdown)
    print(markdown)


if __name__ == "__main__":
    main()
