"""The operator console at /console: server-side HTML pages (Jinja2, autoescaped: customer text is data) behind
an operator login.

Security: every page and action needs a session (server-side, bot/operators.py); every POST checks the session's
CSRF token and, when the browser sends one, the Origin (or Referer); the session cookie is HttpOnly, SameSite=Strict,
Secure on HTTPS; console responses are never framed (CSP frame-ancestors 'none', X-Frame-Options: DENY), never
cached, and carry no CORS headers (the widget's allow-list does not reach /console, see http.py); no script runs on
them at all (CSP script-src 'none'; charts are inline SVG drawn here).
"""

from __future__ import annotations

import hmac
import logging
import secrets
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import escape
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from ..console_data import ConsoleData, Range
from ..drift import measure as measure_drift
from ..operators import LoginThrottle, Operators, OperatorSessionInfo
from ..store import StoreError

PREFIX = "/console"
COOKIE = "fb_console"
LOGIN_COOKIE = "fb_console_login"          # double-submit token for the login form (no session yet)
CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; "
       "frame-ancestors 'none'")
log = logging.getLogger("feedbackbot.console")
COLORS = {"negative": "#d64545", "neutral": "#9aa0a6", "positive": "#2e9e5b"}
PALETTE = ["#4e79a7", "#f28e2b", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f"]


def console_headers(response: Response) -> None:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "same-origin"
    for h in [k for k in response.headers if k.lower().startswith("access-control-")]:
        del response.headers[h]


def is_console(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


class NeedLogin(Exception):
    pass


class Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _when(t) -> str:
    if t is None:
        return ""
    if isinstance(t, datetime):
        t = t if t.tzinfo else t.replace(tzinfo=timezone.utc)
        return t.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M")
    return str(t)


def _age(d: timedelta | None) -> str:
    if d is None:
        return ""
    s = int(d.total_seconds())
    return f"{s // 86400}d {s % 86400 // 3600}h" if s >= 86400 else f"{s // 3600}h {s % 3600 // 60}m"


def _color(label: str, i: int) -> str:
    return COLORS.get(label, PALETTE[i % len(PALETTE)])


def _bars(items: list[tuple[str, int]], title: str, width: int = 360, height: int = 160) -> str:
    """A bar chart as inline SVG; every label and number escaped."""
    if not items:
        return '<p>No data in this range.</p>'
    top = max(v for _, v in items) or 1
    bw = (width - 20) / len(items)
    parts = [f'<svg role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height + 30}" width="100%" '
             f'class="chart"><title>{escape(title)}</title>']
    for i, (name, v) in enumerate(items):
        h = (height - 15) * v / top
        x = 10 + i * bw
        parts.append(f'<rect x="{x + 2:.1f}" y="{height - h:.1f}" width="{max(bw - 4, 1):.1f}" height="{h:.1f}" '
                     f'fill="#4e79a7"><title>{escape(name)}: {v}</title></rect>'
                     f'<text x="{x + bw / 2:.1f}" y="{height - h - 3:.1f}" text-anchor="middle">{v}</text>'
                     f'<text x="{x + bw / 2:.1f}" y="{height + 14}" text-anchor="middle">{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _stacked(per_day: list[tuple[str, dict[str, int]]], labels: list[str], width: int = 900, height: int = 200) -> str:
    if not per_day:
        return '<p>No feedback in this range.</p>'
    top = max(sum(d.values()) for _, d in per_day) or 1
    bw = (width - 50) / len(per_day)
    parts = [f'<svg role="img" aria-label="Feedback per day by sentiment" viewBox="0 0 {width} {height + 30}" '
             f'width="100%" class="chart"><title>Feedback per day by sentiment</title>'
             f'<text x="0" y="12">{top}</text><text x="0" y="{height}">0</text>']
    for i, (day, counts) in enumerate(per_day):
        x, y = 40 + i * bw, float(height)
        for j, lab in enumerate(labels):
            n = counts.get(lab, 0)
            if not n:
                continue
            h = (height - 10) * n / top
            y -= h
            parts.append(f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{max(bw - 2, 1):.1f}" height="{h:.1f}" '
                         f'fill="{_color(lab, j)}"><title>{escape(day)} {escape(lab)}: {n}</title></rect>')
        if len(per_day) <= 16 or i % max(1, len(per_day) // 12) == 0:
            parts.append(f'<text x="{x + bw / 2:.1f}" y="{height + 14}" text-anchor="middle">{escape(day[5:])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def install_console(app: FastAPI, bot, login_per_minute: int = 10) -> None:
    """Add the console's routes to ``app`` (before the Gradio mount at / takes everything else)."""
    operators = Operators(bot.store)
    data = ConsoleData(bot.store)
    throttle = LoginThrottle(login_per_minute)
    env = Environment(loader=PackageLoader("bot", "console_templates"), autoescape=select_autoescape(default=True))
    env.globals.update(when=_when, age=_age)

    def labels() -> list[str]:
        return list(bot.classifier.labels)

    def render(name: str, request: Request, op: OperatorSessionInfo | None, code: int = 200, **ctx) -> HTMLResponse:
        flash = request.query_params.get("done", "")[:120]
        return HTMLResponse(env.get_template(name).render(op=op, flash=flash, **ctx), status_code=code)

    def own_origin(request: Request) -> str:
        return f"{request.url.scheme}://{request.url.netloc}"

    def secure(request: Request) -> bool:
        return request.url.scheme == "https"

    async def session(request: Request) -> OperatorSessionInfo:
        op = await run_in_threadpool(operators.session, request.cookies.get(COOKIE))
        if op is None:
            raise NeedLogin()
        return op

    def same_origin(request: Request) -> None:
        origin = request.headers.get("origin")
        if origin is None:
            ref = request.headers.get("referer")
            if ref:
                p = urlsplit(ref)
                origin = f"{p.scheme}://{p.netloc}"
        if origin is not None and origin != own_origin(request):
            raise Refused(403, "This request came from another site and was refused.")

    async def posted(request: Request, agent: bool = True) -> tuple[OperatorSessionInfo, dict]:
        """The session and form of a state change, after the Origin, CSRF token and role checks."""
        op = await session(request)
        same_origin(request)
        form = await request.form()
        token = form.get("csrf")
        if not isinstance(token, str) or not hmac.compare_digest(token.encode(), op.csrf.encode()):
            log.warning("console: CSRF token missing or wrong on %s (operator %r)", request.url.path, op.name)
            raise Refused(403, "The form was out of date or not from this console; reload the page and try again.")
        if agent and not op.can_edit:
            raise Refused(403, "Viewers cannot change anything; ask for the agent role.")
        return op, {k: v for k, v in form.items() if isinstance(v, str)}

    def back(path: str, done: str) -> RedirectResponse:
        return RedirectResponse(f"{path}{'&' if '?' in path else '?'}{urlencode({'done': done})}", status_code=303)

    def page_no(request: Request) -> int:
        try:
            return max(0, min(int(request.query_params.get("page", "0")), 10000))
        except ValueError:
            return 0

    @app.exception_handler(NeedLogin)
    async def need_login(request: Request, _: NeedLogin):
        if request.method == "GET":
            return RedirectResponse(f"{PREFIX}/login", status_code=303)
        return HTMLResponse("<p>Log in first.</p>", status_code=401)

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused):
        return render("error.html", request, None, code=exc.status, title="Refused", message=exc.message)

    @app.get(PREFIX + "/console.css", include_in_schema=False)
    async def css():
        from importlib.resources import files

        return Response((files("bot") / "static" / "console.css").read_bytes(), media_type="text/css")

    @app.get(PREFIX + "/login", include_in_schema=False)
    async def login_page(request: Request, error: str = ""):
        token = secrets.token_urlsafe(32)
        resp = render("login.html", request, None, title="Log in", csrf=token,
                      error="Wrong name or password, or the account is locked for a while." if error else "",
                      code=401 if error else 200)
        resp.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict", secure=secure(request),
                        path=PREFIX + "/login", max_age=3600)
        return resp

    @app.post(PREFIX + "/login", include_in_schema=False)
    async def login(request: Request):
        same_origin(request)
        client = request.client.host if request.client else "?"
        wait = throttle.retry_after(client)
        if wait:
            log.warning("console: login attempts from %s throttled", client)
            resp = render("error.html", request, None, code=429, title="Too many attempts",
                          message="Too many login attempts; wait a minute.")
            resp.headers["Retry-After"] = str(max(1, round(wait)))
            return resp
        form = await request.form()
        token, cookie = form.get("csrf"), request.cookies.get(LOGIN_COOKIE)
        if not (isinstance(token, str) and cookie and hmac.compare_digest(token.encode(), cookie.encode())):
            raise Refused(403, "The login form was out of date; reload it and try again.")
        name, password = form.get("name"), form.get("password")
        if not isinstance(name, str) or not isinstance(password, str) or len(password) > 1024:
            return RedirectResponse(f"{PREFIX}/login?error=1", status_code=303)
        new = await run_in_threadpool(operators.login, name.strip()[:64], password, client)
        if new is None:
            return RedirectResponse(f"{PREFIX}/login?error=1", status_code=303)
        resp = RedirectResponse(PREFIX, status_code=303)
        resp.set_cookie(COOKIE, new, httponly=True, samesite="strict", secure=secure(request), path=PREFIX)
        resp.delete_cookie(LOGIN_COOKIE, path=PREFIX + "/login")
        return resp

    @app.post(PREFIX + "/logout", include_in_schema=False)
    async def logout(request: Request):
        await posted(request, agent=False)
        await run_in_threadpool(operators.logout, request.cookies.get(COOKIE))
        resp = RedirectResponse(f"{PREFIX}/login", status_code=303)
        resp.delete_cookie(COOKIE, path=PREFIX)
        return resp

    @app.get(PREFIX, include_in_schema=False)
    async def dashboard(request: Request, start: str | None = None, end: str | None = None, channel: str = ""):
        op = await session(request)
        d = await run_in_threadpool(data.dashboard, Range.parse(start, end), channel[:32] or None)
        conf = [(f"{i / 10:.1f}", n) for i, n in enumerate(d["confidence"])]
        charts = {"stacked": _stacked(d["per_day"], d["labels"]),
                  "csat": _bars([(str(k), v) for k, v in d["csat"].items()], "CSAT ratings 1 to 5")
                  if d["csat_n"] else "<p>No CSAT ratings in this range.</p>",
                  "confidence": _bars(conf, "Confidence of feedback predictions") if sum(d["confidence"])
                  else "<p>No predictions in this range.</p>",
                  "channels": _bars(d["per_channel"], "Messages per channel")}
        legend = [(lab, _color(lab, j)) for j, lab in enumerate(d["labels"])]
        # the serving model's view of the last week (bot.drift) and the hand-off notifications (bot.webhooks)
        drift = await run_in_threadpool(measure_drift, bot.store, bot.classifier.meta)
        outbox = await run_in_threadpool(bot.store.outbox_stats)
        return render("dashboard.html", request, op, title="Dashboard", page="Dashboard", d=d, charts=charts,
                      legend=legend, drift=drift, outbox=outbox, model=bot.classifier.version)

    @app.get(PREFIX + "/tickets", include_in_schema=False)
    async def tickets(request: Request, status: str = "open"):
        op = await session(request)
        status = status if status in ("open", "closed") else "open"
        pg = page_no(request)
        rows, has_next = await run_in_threadpool(data.tickets, status, pg)
        return render("tickets.html", request, op, title="Tickets", page="Tickets", rows=rows, status=status,
                      has_next=has_next, pg=pg)

    @app.get(PREFIX + "/tickets/{ticket_id}", include_in_schema=False)
    async def ticket(request: Request, ticket_id: str):
        op = await session(request)
        t = await run_in_threadpool(data.ticket, ticket_id[:32])
        if t is None:
            raise Refused(404, "No such ticket.")
        _, msgs, corrections = await run_in_threadpool(data.conversation, t["conversation_id"])
        return render("ticket.html", request, op, title=f"Ticket {t['id']}", page="Tickets", t=t, msgs=msgs,
                      corrections=corrections)

    @app.post(PREFIX + "/tickets/{ticket_id}/close", include_in_schema=False)
    async def close_ticket(request: Request, ticket_id: str):
        op, form = await posted(request)
        if not await run_in_threadpool(data.close_ticket, ticket_id[:32], op.name, form.get("note", "")):
            raise Refused(409, "That ticket is not open.")
        log.info("console: ticket %s closed by %r", ticket_id, op.name)
        return back(f"{PREFIX}/tickets/{ticket_id}", "Ticket closed.")

    @app.post(PREFIX + "/tickets/{ticket_id}/reopen", include_in_schema=False)
    async def reopen_ticket(request: Request, ticket_id: str):
        op, _ = await posted(request)
        if not await run_in_threadpool(data.reopen_ticket, ticket_id[:32]):
            raise Refused(409, "That ticket is not closed, or its conversation has another open ticket.")
        log.info("console: ticket %s reopened by %r", ticket_id, op.name)
        return back(f"{PREFIX}/tickets/{ticket_id}", "Ticket reopened.")

    @app.get(PREFIX + "/conversations", include_in_schema=False)
    async def conversations(request: Request):
        op = await session(request)
        q = request.query_params
        f = {k: q.get(k, "")[:200] for k in ("q", "label", "band", "kind", "channel", "rating", "start", "end")}
        r = Range.parse(f["start"], f["end"], days=36500) if (f["start"] or f["end"]) else None
        pg = page_no(request)
        rows, has_next = await run_in_threadpool(lambda: data.search(
            f["q"], f["label"], f["band"], f["kind"], f["channel"], f["rating"], r, pg))
        kinds = ["feedback", "answer", "greeting", "thanks", "question", "person", "ticket"]
        return render("conversations.html", request, op, title="Conversations", page="Conversations", rows=rows,
                      has_next=has_next, pg=pg, f=f, labels=labels(), kinds=kinds, channels=["api", "widget", "web",
                      "terminal"], query=urlencode({k: v for k, v in f.items() if v}))

    @app.get(PREFIX + "/conversations/{conversation_id}", include_in_schema=False)
    async def conversation(request: Request, conversation_id: str):
        op = await session(request)
        conv, msgs, corrections = await run_in_threadpool(data.conversation, conversation_id[:128])
        if conv is None:
            raise Refused(404, "No such conversation.")
        return render("conversation.html", request, op, title="Conversation", page="Conversations", conv=conv,
                      msgs=msgs, corrections=corrections)

    @app.post(PREFIX + "/conversations/{conversation_id}/erase", include_in_schema=False)
    async def erase(request: Request, conversation_id: str):
        """Erase one customer's conversation everywhere (agents; audited, as `feedbackbot erase`)."""
        op, _ = await posted(request)
        counts = await run_in_threadpool(bot.store.erase_conversation, conversation_id[:128], f"console:{op.name}")
        log.warning("console: conversation %s erased by %r", conversation_id, op.name)
        return back(f"{PREFIX}/conversations", f"Conversation erased ({counts.get('messages', 0)} messages).")

    @app.get(PREFIX + "/review", include_in_schema=False)
    async def review(request: Request):
        op = await session(request)
        pg = page_no(request)
        rows, has_next = await run_in_threadpool(data.review, pg)
        return render("review.html", request, op, title="Review queue", page="Review queue", rows=rows,
                      has_next=has_next, pg=pg, labels=labels())

    @app.post(PREFIX + "/messages/{message_id}/label", include_in_schema=False)
    async def relabel(request: Request, message_id: int):
        op, form = await posted(request)
        label = form.get("label", "")
        if label not in labels():
            raise Refused(400, "Unknown label.")
        try:
            await run_in_threadpool(data.relabel, message_id, label, op.name)
        except StoreError:
            raise Refused(404, "No such message.") from None
        log.info("console: message %d labelled %s by %r", message_id, label, op.name)
        return back(f"{PREFIX}/review", f"Message {message_id} labelled {label}.")

    @app.get(PREFIX + "/export", include_in_schema=False)
    async def export_page(request: Request):
        op = await session(request)
        return render("export.html", request, op, title="Export", page="Export")

    @app.post(PREFIX + "/export", include_in_schema=False)
    async def export_file(request: Request):
        from ..export import export

        op, form = await posted(request)
        fmt = "jsonl" if form.get("fmt") == "jsonl" else "csv"
        labelled = form.get("what") == "labelled"
        tmp = Path(tempfile.mkdtemp(prefix="feedbackbot-export-"))
        name = f"feedback{'-labelled' if labelled else ''}-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}.{fmt}"
        out = tmp / name
        n = await run_in_threadpool(export, bot.store, out, labelled, labelled and form.get("include_model") == "1")
        log.info("console: export %s (%d rows) by %r", name, n, op.name)

        def cleanup():
            out.unlink(missing_ok=True)
            tmp.rmdir()

        return FileResponse(out, filename=name, background=BackgroundTask(cleanup),
                            media_type="text/csv" if fmt == "csv" else "application/x-ndjson")
