"""HTTP: JSON API, embeddable widget (/widget, /widget.js), health check, and the Gradio chat at /."""

from __future__ import annotations

import importlib.resources
import logging

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ..config import ServerConfig
from ..core import Bot, InputError
from ..limits import RateLimited, ReplyGate
from ..store import StoreError

API = "/api/v1"
log = logging.getLogger("feedbackbot")


class MessageIn(BaseModel):
    text: str = Field(description="the customer's message")
    session_id: str | None = Field(default=None, description="omit to start a new conversation")


class RatingIn(BaseModel):
    value: int = Field(description="+1 (thumbs up) or -1 (thumbs down)")


class CorrectionIn(BaseModel):
    label: str


STATIC = ("widget.html", "widget-app.js", "widget.js")


def _static_files() -> dict[str, bytes]:
    """The widget's files, read once when the app is built (they are package data and never change)."""
    return {name: (importlib.resources.files("bot") / "static" / name).read_bytes() for name in STATIC}


def frame_ancestors(cfg: ServerConfig) -> str:
    return " ".join(["'self'", *cfg.allowed_origins])


def create_app(bot: Bot, cfg: ServerConfig, with_gradio: bool = True) -> FastAPI:
    gate = ReplyGate(bot.config.limits)
    static = _static_files()
    app = FastAPI(title="feedbackbot", version="1", docs_url="/api/docs", openapi_url="/api/openapi.json")
    app.add_middleware(CORSMiddleware, allow_origins=list(cfg.allowed_origins), allow_methods=["GET", "POST"],
                       allow_headers=["Content-Type"], allow_credentials=False)
    csp_frame = f"frame-ancestors {frame_ancestors(cfg)}"
    widget_csp = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                  f"connect-src 'self'; img-src 'self' data:; {csp_frame}")

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        if request.url.path == "/widget":
            response.headers["Content-Security-Policy"] = widget_csp
        else:
            response.headers.setdefault("Content-Security-Policy", csp_frame)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
        return response

    @app.exception_handler(InputError)
    async def input_error(_: Request, exc: InputError):
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

    @app.exception_handler(RateLimited)
    async def rate_limited(_: Request, exc: RateLimited):
        return JSONResponse({"error": str(exc)}, status_code=exc.status,
                            headers={"Retry-After": str(max(1, round(exc.retry_after)))})

    @app.exception_handler(Exception)
    async def internal_error(_: Request, exc: Exception):
        log.error("unhandled error in the HTTP channel", exc_info=exc)   # details in the log, never to clients
        return JSONResponse({"error": "internal error; please try again"}, status_code=500)

    @app.exception_handler(StoreError)
    async def store_error(_: Request, exc: StoreError):
        return JSONResponse({"error": str(exc)}, status_code=404 if str(exc).startswith("no message") else 503)

    @app.post(f"{API}/messages", summary="Send a customer message; get the reply and the prediction")
    async def post_message(body: MessageIn, request: Request):
        session = body.session_id or Bot.new_session()
        channel = "widget" if request.headers.get("x-feedbackbot-channel") == "widget" else "api"
        client = request.client.host if request.client else None
        reply = await run_in_threadpool(gate.reply, bot, session, body.text, channel, client)
        return reply.as_dict()

    @app.post(f"{API}/messages/{{message_id}}/rating", summary="Thumbs up (+1) or down (-1) on a reply")
    async def post_rating(message_id: int, body: RatingIn):
        if body.value not in (1, -1):
            raise InputError("value must be 1 or -1")
        await run_in_threadpool(bot.rate, message_id, body.value)
        return {"ok": True}

    @app.post(f"{API}/messages/{{message_id}}/correction", summary="Record the label a message really has")
    async def post_correction(message_id: int, body: CorrectionIn):
        await run_in_threadpool(bot.correct, message_id, body.label)
        return {"ok": True}

    @app.get("/healthz", summary="Liveness and model info")
    async def healthz():
        return {"status": "ok", "model": bot.classifier.version, "labels": bot.classifier.labels}

    @app.get("/widget", include_in_schema=False)
    async def widget_page():
        return Response(static["widget.html"], media_type="text/html; charset=utf-8")

    @app.get("/widget-app.js", include_in_schema=False)
    async def widget_app():
        return Response(static["widget-app.js"], media_type="application/javascript; charset=utf-8")

    @app.get("/widget.js", include_in_schema=False)
    async def widget_loader():
        # Any page may load the loader script; whether the panel may be framed is CSP frame-ancestors' call.
        return Response(static["widget.js"], media_type="application/javascript; charset=utf-8",
                        headers={"Cross-Origin-Resource-Policy": "cross-origin", "Cache-Control": "max-age=300"})

    if with_gradio:
        import gradio as gr

        from .gradio_chat import build_chat, offline_theme

        app = gr.mount_gradio_app(app, build_chat(bot, gate), path="/", footer_links=[], theme=offline_theme())
    return app
