"""HTTP: JSON API, embeddable widget (/widget, /widget.js), health check, and the Gradio chat at /."""

from __future__ import annotations

import importlib.resources
import logging

from fastapi import FastAPI, Header, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr
from starlette.concurrency import run_in_threadpool

from ..config import ServerConfig
from ..core import Bot, InputError
from ..limits import RateLimited, ReplyGate
from ..policy import CUSTOMER_BUTTON
from ..sessions import conversation_id
from ..store import StoreError

API = "/api/v1"
log = logging.getLogger("feedbackbot")


SESSION_HEADER = "X-Feedbackbot-Session"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MessageIn(Strict):
    text: StrictStr = Field(description="the customer's message (for a quick reply: the button's text)")
    session_id: StrictStr | None = Field(default=None, description="the secret `session_id` of an earlier reply; "
                                         "omit to start a new conversation")
    in_reply_to: StrictInt | None = Field(default=None, description="message_id of the bot reply the customer is "
                                          "answering (the last one shown); an open question is answered only then")
    quick_reply: StrictStr | None = Field(default=None, description="payload of the pressed quick-reply button")
    client_message_id: StrictStr | None = Field(default=None, max_length=64, description="idempotency key: a retry "
                                                "with the same key returns the stored reply instead of a new one")
    language: StrictStr | None = Field(default=None, max_length=16, description="the client's language (e.g. the "
                                       "page's or browser's, 'de-AT'): used until the customer's own words tell")


class ConversationIn(Strict):
    language: StrictStr | None = Field(default=None, max_length=16, description="language of the greeting")


class RatingIn(Strict):
    session_id: StrictStr = Field(description="the conversation's secret session_id")
    value: StrictInt = Field(ge=-1, le=1, description="1 (thumbs up), -1 (thumbs down) or 0 (no rating): the new "
                             "state; strictly an integer (true or \"1\" are refused)")


class CorrectionIn(Strict):
    session_id: StrictStr
    label: StrictStr


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
                       allow_headers=["Content-Type", SESSION_HEADER], allow_credentials=False)
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

    def channel_of(request: Request) -> str:
        return "widget" if request.headers.get("x-feedbackbot-channel") == "widget" else "api"

    @app.post(f"{API}/conversations", status_code=201, summary="Start a conversation; returns its secret session_id "
              "and the bot's greeting")
    async def post_conversation(request: Request, body: ConversationIn | None = None):
        channel = channel_of(request)
        token = await run_in_threadpool(bot.start_conversation, channel)
        return {"session_id": token, "conversation_id": conversation_id(token),
                "greeting": bot.greeting(token, channel, body.language if body else None)}

    @app.post(f"{API}/messages", summary="Send a customer message; get the reply and the prediction")
    async def post_message(body: MessageIn, request: Request):
        if body.session_id is not None and not await run_in_threadpool(bot.knows, body.session_id):
            raise InputError("unknown session_id; omit it to start a new conversation", status=404,
                             code="unknown_session")
        session = body.session_id or Bot.new_session()
        client = request.client.host if request.client else None
        reply = await run_in_threadpool(gate.reply, bot, session, body.text, channel_of(request), client,
                                        in_reply_to=body.in_reply_to, quick_reply=body.quick_reply,
                                        client_message_id=body.client_message_id, language=body.language)
        return reply.as_dict()

    @app.get(f"{API}/conversations/{{conversation}}", summary="The conversation as its customer sees it")
    async def get_conversation(conversation: str,
                               session: str = Header(alias=SESSION_HEADER, description="its secret session_id")):
        if conversation_id(session) != conversation or not await run_in_threadpool(bot.knows, session):
            raise InputError("no such conversation", status=404, code="not_found")
        return await run_in_threadpool(bot.history, session)

    @app.post(f"{API}/messages/{{message_id}}/rating", summary="Set the rating of a reply: 1, -1, or 0 (none)")
    async def post_rating(message_id: int, body: RatingIn):
        await run_in_threadpool(bot.rate, body.session_id, message_id, body.value)
        return {"message_id": message_id, "rating": body.value}

    @app.post(f"{API}/messages/{{message_id}}/correction", summary="The customer says which label a message has")
    async def post_correction(message_id: int, body: CorrectionIn):
        await run_in_threadpool(bot.correct, body.session_id, message_id, body.label)
        return {"message_id": message_id, "label": body.label, "source": CUSTOMER_BUTTON}

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
