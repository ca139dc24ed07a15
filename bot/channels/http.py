"""HTTP: JSON API, embeddable widget (/widget, /widget.js), health check, and the Gradio chat at /."""

from __future__ import annotations

import importlib.resources
import logging
from urllib.parse import urlsplit

from fastapi import FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from ..config import ServerConfig
from .console import console_headers, install_console, is_console
from ..core import Bot, InputError
from ..limits import Overloaded, RateLimited, ReplyGate
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


# --- response bodies (every one is documented in the OpenAPI schema) --------------------------------------------

class ErrorBody(BaseModel):
    code: str = Field(description="stable machine-readable name, e.g. `empty`, `too_long`, `not_found`, "
                      "`invalid_request`, `rate_limited`, `method_not_allowed`, `internal`")
    message: str = Field(description="what went wrong, in words for a person")


class ErrorOut(BaseModel):
    """Every error the API returns, whatever the status."""
    error: ErrorBody


class QuickReplyOut(BaseModel):
    payload: str = Field(description="send back as `quick_reply` (with `in_reply_to`) when the button is pressed")
    text: str = Field(description="the button's text; also the message `text` to send")


class GreetingOut(BaseModel):
    text: str
    html: str = Field(description="the same, HTML-escaped")
    quick_replies: list[QuickReplyOut]
    language: str = Field(description="the greeting's language")


class ConversationOut(BaseModel):
    session_id: str = Field(description="the conversation's secret: send it with every message; never share it")
    conversation_id: str = Field(description="the public id (a hash of session_id)")
    greeting: GreetingOut | None = Field(description="the bot's opening line; null where the channel does not greet "
                                         "([conversation] greet_channels)")
    max_message_chars: int = Field(description="the longest message accepted (longer ones are refused: 413)")


class PredictionOut(BaseModel):
    label: str
    confidence: float
    probabilities: dict[str, float]


class CorrectionOut(BaseModel):
    message_id: int
    label: str
    source: str


class ReplyOut(BaseModel):
    message_id: int = Field(description="the id of this exchange (the customer's message and the bot's reply)")
    session_id: str
    conversation_id: str
    reply: str = Field(description="the bot's reply, plain text")
    reply_html: str = Field(description="the reply, HTML-escaped")
    template: str
    kind: str = Field(description="`feedback`, `answer` (to the bot's question), `greeting`, `thanks`, `question`, "
                      "`person`, `ticket`, or a business-defined kind")
    band: str | None = Field(description="`high` or `low` confidence; null for answers and errors")
    ticket: str | None = Field(description="the hand-off ticket (FB-XXXXXXXX), when there is one")
    correction: CorrectionOut | None
    prediction: PredictionOut | None
    quick_replies: list[QuickReplyOut]
    replayed: bool = Field(description="true: a retry of a stored message (same client_message_id): the stored reply")
    language: str = Field(description="the reply's language (the customer's, as detected, hinted or the default)")
    latency_ms: float


class OpenQuestionOut(BaseModel):
    message_id: int
    quick_replies: list[QuickReplyOut]


class HistoryMessageOut(BaseModel):
    message_id: int
    text: str
    reply: str
    reply_html: str
    ticket: str | None
    rating: int | None
    created_at: str = Field(description="ISO 8601")


class HistoryOut(BaseModel):
    conversation_id: str
    open_question: OpenQuestionOut | None = Field(description="the question under the last reply, if still open")
    messages: list[HistoryMessageOut]


class RatingOut(BaseModel):
    message_id: int
    rating: int


class HealthOut(BaseModel):
    status: str
    model: str
    labels: list[str]
    temperature: float = Field(description="the confidence temperature served: the model's own, or one fitted on "
                               "this business's messages (`feedbackbot calibrate`, [model] temperatures)")
    temperature_source: str = Field(description='"model" or "[model] temperatures"')
    biases: dict[str, float] = Field(default_factory=dict, description="per-class logit biases served with that "
                                     "temperature ([model] biases, from `feedbackbot calibrate`); empty: none")
    scales: dict[str, float] = Field(default_factory=dict, description="per-class logit scales served with them "
                                     "([model] scales, from `feedbackbot calibrate`: softmax(scale * logits / T + "
                                     "bias)); empty: none")
    outbox_pending: int | None = Field(default=None, description="hand-off notifications not yet delivered "
                                       "(null when the store cannot be read)")


class ConfigOut(BaseModel):
    business_name: str = Field(description='[templates] business_name; "" when unset (clients show their own title)')
    max_message_chars: int
    labels: list[str]


class AllowedOut(BaseModel):
    origin: str
    allowed: bool = Field(description="whether a page on `origin` may embed the widget")


class NotOnConsole(CORSMiddleware):
    """The widget's CORS allow-list, for everything but the operator console (which no other site may read)."""

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and is_console(scope.get("path", "")):
            await self.app(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def _errors(*codes: int) -> dict:
    what = {400: "invalid input (empty text, unknown label or quick reply)", 404: "not found (unknown session, "
            "conversation or message)", 409: "conflict (a question no longer open; a client_message_id reused)",
            413: "message longer than max_message_chars", 422: "malformed request body or parameters",
            429: "too many messages; see the Retry-After header", 503: "the bot is busy; see Retry-After"}
    return {code: {"model": ErrorOut, "description": what[code]} for code in codes}


def error_json(status: int, code: str, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(x) for x in err.get("loc", ()) if x != "body") or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "malformed request: " + "; ".join(parts) if parts else "malformed request"


STATIC = ("widget.html", "widget-app.js", "widget.js")


def _static_files() -> dict[str, bytes]:
    """The widget's files, read once when the app is built (they are package data and never change)."""
    return {name: (importlib.resources.files("bot") / "static" / name).read_bytes() for name in STATIC}


def frame_ancestors(cfg: ServerConfig) -> str:
    return " ".join(["'self'", *cfg.allowed_origins])


def origin_allowed(cfg: ServerConfig, origin: str, own_origin: str) -> bool:
    """Whether a page on ``origin`` may frame the widget (what CSP frame-ancestors says, asked in advance)."""
    return origin == own_origin or origin in cfg.allowed_origins


def _swagger_assets():
    """Swagger UI's files from the `swagger-ui-bundle-v2` wheel (pyproject.toml): /api/docs works offline."""
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        return None
    return swagger_ui_path


def create_app(bot: Bot, cfg: ServerConfig, with_gradio: bool = True) -> FastAPI:
    gate = ReplyGate(bot.config.limits)
    static = _static_files()
    app = FastAPI(title="feedbackbot", version="1", docs_url=None, redoc_url=None, openapi_url="/api/openapi.json",
                  description="Errors, whatever the status, are `{\"error\": {\"code\": \"...\", \"message\": \"...\"}}`.")
    app.add_middleware(NotOnConsole, allow_origins=list(cfg.allowed_origins), allow_methods=["GET", "POST"],
                       allow_headers=["Content-Type", SESSION_HEADER], allow_credentials=False)
    csp_frame = f"frame-ancestors {frame_ancestors(cfg)}"
    widget_csp = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                  f"connect-src 'self'; img-src 'self' data:; {csp_frame}")

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        if is_console(request.url.path):
            console_headers(response)
        elif request.url.path == "/widget":
            response.headers["Content-Security-Policy"] = widget_csp
        else:
            response.headers.setdefault("Content-Security-Policy", csp_frame)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
        return response

    @app.exception_handler(InputError)
    async def input_error(_: Request, exc: InputError):
        return error_json(exc.status, exc.code, str(exc))

    @app.exception_handler(RateLimited)
    async def rate_limited(_: Request, exc: RateLimited):
        return error_json(exc.status, "overloaded" if isinstance(exc, Overloaded) else "rate_limited", str(exc),
                          headers={"Retry-After": str(max(1, round(exc.retry_after)))})

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError):
        return error_json(422, "invalid_request", _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException):
        code = {400: "invalid_request", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_json(exc.status_code, code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def internal_error(_: Request, exc: Exception):
        log.error("unhandled error in the HTTP channel", exc_info=exc)   # details in the log, never to clients
        return error_json(500, "internal", "internal error; please try again")

    @app.exception_handler(StoreError)
    async def store_error(_: Request, exc: StoreError):
        if str(exc).startswith("no message"):
            return error_json(404, "not_found", str(exc))
        return error_json(503, "unavailable", str(exc))

    def channel_of(request: Request) -> str:
        return "widget" if request.headers.get("x-feedbackbot-channel") == "widget" else "api"

    limits = bot.config.limits

    @app.post(f"{API}/conversations", status_code=201, response_model=ConversationOut, responses=_errors(422),
              summary="Start a conversation; returns its secret session_id and the bot's greeting")
    async def post_conversation(request: Request, body: ConversationIn | None = None):
        channel = channel_of(request)
        token = await run_in_threadpool(bot.start_conversation, channel)
        return {"session_id": token, "conversation_id": conversation_id(token),
                "greeting": bot.greeting(token, channel, body.language if body else None),
                "max_message_chars": limits.max_message_chars}

    @app.post(f"{API}/messages", response_model=ReplyOut, responses=_errors(400, 404, 409, 413, 422, 429, 503),
              summary="Send a customer message; get the reply and the prediction")
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

    @app.get(f"{API}/conversations/{{conversation}}", response_model=HistoryOut, responses=_errors(400, 404, 422),
             summary="The conversation as its customer sees it (the owning session only)")
    async def get_conversation(conversation: str,
                               session: str = Header(alias=SESSION_HEADER, description="its secret session_id")):
        if conversation_id(session) != conversation or not await run_in_threadpool(bot.knows, session):
            raise InputError("no such conversation", status=404, code="not_found")
        return await run_in_threadpool(bot.history, session)

    @app.post(f"{API}/messages/{{message_id}}/rating", response_model=RatingOut, responses=_errors(400, 404, 422),
              summary="Set the rating of a reply: 1, -1, or 0 (none)")
    async def post_rating(message_id: int, body: RatingIn):
        await run_in_threadpool(bot.rate, body.session_id, message_id, body.value)
        return {"message_id": message_id, "rating": body.value}

    @app.post(f"{API}/messages/{{message_id}}/correction", response_model=CorrectionOut,
              responses=_errors(400, 404, 422), summary="The customer says which label a message has")
    async def post_correction(message_id: int, body: CorrectionIn):
        await run_in_threadpool(bot.correct, body.session_id, message_id, body.label)
        return {"message_id": message_id, "label": body.label, "source": CUSTOMER_BUTTON}

    @app.get(f"{API}/config", response_model=ConfigOut, summary="What a client needs to know before it starts")
    async def get_config():
        return {"business_name": bot.config.templates.name, "max_message_chars": limits.max_message_chars,
                "labels": list(bot.classifier.labels)}

    @app.get(f"{API}/widget/allowed", response_model=AllowedOut, responses=_errors(422),
             summary="May a page on this origin embed the widget? (the loader asks before it shows its button)")
    async def get_widget_allowed(request: Request, origin: str = Query(max_length=300, description=
                                                                          "scheme://host[:port] of the page")):
        own = f"{request.url.scheme}://{request.url.netloc}"
        parts = urlsplit(origin)
        allowed = bool(parts.scheme and parts.netloc) and origin_allowed(cfg, origin, own)
        # Public facts, readable from any page: the answer itself is what the loader needs on a refused site.
        return JSONResponse({"origin": origin, "allowed": allowed},
                            headers={"Access-Control-Allow-Origin": "*", "Cache-Control": "max-age=60"})

    @app.head("/healthz", include_in_schema=False)
    @app.get("/healthz", response_model=HealthOut, summary="Liveness and model info")
    async def healthz():
        try:
            pending = await run_in_threadpool(bot.store.outbox_pending)
        except Exception as exc:     # liveness does not depend on the store
            log.warning("healthz: cannot count the outbox (%s)", type(exc).__name__)
            pending = None
        classifier = bot.classifier
        return {"status": "ok", "model": classifier.version, "labels": classifier.labels,
                "temperature": classifier.temperature, "temperature_source": classifier.temperature_source,
                "biases": classifier.biases, "scales": classifier.scales,
                "outbox_pending": pending}

    @app.api_route("/widget", methods=["GET", "HEAD"], include_in_schema=False)
    async def widget_page():
        return Response(static["widget.html"], media_type="text/html; charset=utf-8")

    @app.api_route("/widget-app.js", methods=["GET", "HEAD"], include_in_schema=False)
    async def widget_app():
        return Response(static["widget-app.js"], media_type="application/javascript; charset=utf-8")

    @app.api_route("/widget.js", methods=["GET", "HEAD"], include_in_schema=False)
    async def widget_loader():
        # Any page may load the loader script; whether the panel may be framed is CSP frame-ancestors' call.
        return Response(static["widget.js"], media_type="application/javascript; charset=utf-8",
                        headers={"Cross-Origin-Resource-Policy": "cross-origin", "Cache-Control": "max-age=300"})

    assets = _swagger_assets()

    @app.get("/api/docs", include_in_schema=False)
    async def api_docs():
        if assets is None:
            return HTMLResponse('<p>Interactive docs need the swagger-ui-bundle-v2 package; the schema is at '
                                '<a href="/api/openapi.json">/api/openapi.json</a>.</p>')
        return get_swagger_ui_html(openapi_url=app.openapi_url, title="feedbackbot API",
                                   swagger_js_url="/api/docs/assets/swagger-ui-bundle.js",
                                   swagger_css_url="/api/docs/assets/swagger-ui.css",
                                   swagger_favicon_url="/api/docs/assets/favicon-32x32.png")

    if assets is not None:
        from fastapi.staticfiles import StaticFiles

        app.mount("/api/docs/assets", StaticFiles(directory=assets), name="swagger-assets")

    api_routes = [r for r in app.routes if isinstance(r, APIRoute)]

    @app.api_route("/api/{rest:path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
                   include_in_schema=False)
    async def api_fallback(request: Request, rest: str):
        """Unknown routes under /api answer in the API's error shape (not the chat page's 404); a known path with
        the wrong method is 405 with an Allow header."""
        allow = sorted({m for r in api_routes if r.matches(request.scope)[0] == Match.PARTIAL for m in r.methods})
        if allow:
            return error_json(405, "method_not_allowed", f"{request.method} is not allowed here; use "
                              + " or ".join(allow), headers={"Allow": ", ".join(allow)})
        return error_json(404, "not_found", f"no such API route: {request.url.path}")

    install_console(app, bot, cfg.console_logins_per_minute)

    if with_gradio:
        import gradio as gr

        from .gradio_chat import FOCUS_JS, build_chat, chat_css, offline_theme

        app = gr.mount_gradio_app(app, build_chat(bot, gate), path="/", footer_links=[], theme=offline_theme(),
                                  css=chat_css(), js=FOCUS_JS)
    return app
