import httpx
import pytest

from bot.channels.http import create_app
from bot.config import ServerConfig
from bot.store import Message

from conftest import LiveServer, make_bot

ALLOWED = "https://shop.example"


@pytest.fixture(scope="module")
def live(tiny_model_dir, tmp_path_factory):
    bot = make_bot(tiny_model_dir, f"sqlite:///{tmp_path_factory.mktemp('api') / 'fb.sqlite3'}")
    server = LiveServer(create_app(bot, ServerConfig(allowed_origins=[ALLOWED]), with_gradio=False))
    yield server, bot
    server.stop()


def test_health(live):
    server, bot = live
    r = httpx.get(f"{server.url}/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok", "model": bot.classifier.version,
                                                 "labels": ["negative", "neutral", "positive"],
                                                 "temperature": bot.classifier.model_temperature,
                                                 "temperature_source": "model", "biases": {}, "scales": {},
                                                 "outbox_pending": 0}     # hand-off notifications not yet delivered


def test_message_reply_and_stored_row(live):
    server, bot = live
    r = httpx.post(f"{server.url}/api/v1/messages", json={"text": "my bag never arrived"})
    assert r.status_code == 200
    body = r.json()
    assert set(body) >= {"message_id", "session_id", "conversation_id", "reply", "reply_html", "template",
                         "prediction", "ticket", "quick_replies", "kind", "replayed"}
    assert body["prediction"]["label"] in ["negative", "neutral", "positive"]
    row = bot.store.get_message(body["message_id"])
    assert row.text == "my bag never arrived" and row.reply == body["reply"] and row.channel == "api"
    assert row.conversation_id == body["conversation_id"]
    again = httpx.post(f"{server.url}/api/v1/messages", json={"text": "hello?", "session_id": body["session_id"]})
    assert again.json()["session_id"] == body["session_id"]


@pytest.mark.parametrize("payload,status,fragment", [
    ({"text": ""}, 400, "empty"), ({"text": "   "}, 400, "empty"), ({"text": "a" * 5001}, 413, "too long"),
])
def test_bad_messages_get_json_errors_and_are_not_stored(live, payload, status, fragment):
    server, bot = live
    before = bot.store.count(Message)
    r = httpx.post(f"{server.url}/api/v1/messages", json=payload)
    assert r.status_code == status and fragment in r.json()["error"]["message"]
    assert r.json()["error"]["code"] == {400: "empty", 413: "too_long"}[status]
    assert bot.store.count(Message) == before


def test_malformed_body_is_422(live):
    server, _ = live
    r = httpx.post(f"{server.url}/api/v1/messages", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid_request"
    r = httpx.post(f"{server.url}/api/v1/messages", json={"text": 5})
    assert r.status_code == 422 and set(r.json()) == {"error"} and "text" in r.json()["error"]["message"]


def test_rating_and_correction(live):
    server, bot = live
    first = httpx.post(f"{server.url}/api/v1/messages", json={"text": "great crew"}).json()
    mid, sid = first["message_id"], first["session_id"]
    r = httpx.post(f"{server.url}/api/v1/messages/{mid}/rating", json={"session_id": sid, "value": 1})
    assert r.json() == {"message_id": mid, "rating": 1} and bot.store.get_message(mid).rating == 1
    assert httpx.post(f"{server.url}/api/v1/messages/{mid}/rating", json={"session_id": sid, "value": 3}).status_code == 422
    assert httpx.post(f"{server.url}/api/v1/messages/999999/rating",
                      json={"session_id": sid, "value": 1}).status_code == 404
    r = httpx.post(f"{server.url}/api/v1/messages/{mid}/correction", json={"session_id": sid, "label": "positive"})
    assert r.json() == {"message_id": mid, "label": "positive", "source": "customer_button"}
    r = httpx.post(f"{server.url}/api/v1/messages/{mid}/correction", json={"session_id": sid, "label": "ecstatic"})
    assert r.status_code == 400 and "unknown label" in r.json()["error"]["message"]
    assert r.json()["error"]["code"] == "unknown_label"


def test_cors_and_frame_ancestors_follow_the_allow_list(live):
    server, _ = live
    ok = httpx.options(f"{server.url}/api/v1/messages", headers={"Origin": ALLOWED, "Access-Control-Request-Method": "POST"})
    assert ok.headers.get("access-control-allow-origin") == ALLOWED
    bad = httpx.options(f"{server.url}/api/v1/messages",
                        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in bad.headers
    page = httpx.get(f"{server.url}/widget")
    csp = page.headers["content-security-policy"]
    assert f"frame-ancestors 'self' {ALLOWED}" in csp and "evil" not in csp
    assert page.headers["x-content-type-options"] == "nosniff"


def test_widget_assets_and_openapi(live):
    server, _ = live
    js = httpx.get(f"{server.url}/widget.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("application/javascript")
    assert "feedbackbot-launcher" in js.text
    assert "/widget-app.js" in httpx.get(f"{server.url}/widget").text
    assert httpx.head(f"{server.url}/widget.js").status_code == 200


def test_openapi_documents_real_schemas_and_the_error_shape(live):
    server, _ = live
    spec = httpx.get(f"{server.url}/api/openapi.json").json()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            ok = op["responses"].get("200") or op["responses"].get("201")
            assert ok["content"]["application/json"]["schema"].get("$ref"), (method, path)   # never an empty {}
    post = spec["paths"]["/api/v1/messages"]["post"]["responses"]
    for status in ("400", "404", "409", "413", "422", "429"):
        assert post[status]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorOut"}
    assert "HTTPValidationError" not in spec["components"]["schemas"]      # FastAPI's own shape is never returned
    error = spec["components"]["schemas"]["ErrorBody"]
    assert set(error["required"]) == {"code", "message"}


def test_docs_are_served_offline(live):
    server, _ = live
    page = httpx.get(f"{server.url}/api/docs")
    assert page.status_code == 200 and "swagger-ui-bundle.js" in page.text
    assert "cdn" not in page.text.lower() and "https://" not in page.text.replace("https://fastapi", "")
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        r = httpx.get(f"{server.url}/api/docs/assets/{asset}")
        assert r.status_code == 200 and len(r.content) > 10_000


@pytest.mark.parametrize("method,path,status,code", [
    ("GET", "/api/v1/messages", 405, "method_not_allowed"), ("DELETE", "/api/v1/conversations", 405,
                                                             "method_not_allowed"),
    ("GET", "/api/v1/nothing-here", 404, "not_found"), ("POST", "/api/v2/messages", 404, "not_found"),
    ("GET", "/api/v1/conversations/abc", 422, "invalid_request"),                  # the session header is missing
    ("GET", "/api/v1/messages/x/rating", 405, "method_not_allowed"),
])
def test_every_api_error_has_one_shape(live, method, path, status, code):
    server, _ = live
    r = httpx.request(method, f"{server.url}{path}")
    assert r.status_code == status and r.json()["error"]["code"] == code and set(r.json()) == {"error"}
    assert isinstance(r.json()["error"]["message"], str) and r.json()["error"]["message"]
    if status == 405:
        assert "POST" in r.headers["allow"] or "GET" in r.headers["allow"]


def test_conversation_start_tells_the_limit_and_greets(live):
    server, bot = live
    r = httpx.post(f"{server.url}/api/v1/conversations")
    assert r.status_code == 201
    body = r.json()
    assert body["max_message_chars"] == bot.config.limits.max_message_chars
    assert body["greeting"]["text"] and body["greeting"]["quick_replies"] == []
    config = httpx.get(f"{server.url}/api/v1/config").json()
    assert config["max_message_chars"] == bot.config.limits.max_message_chars
    assert config["business_name"] == bot.config.templates.business_name


def test_the_loader_can_ask_whether_a_site_may_embed_the_widget(live):
    server, _ = live
    ask = lambda origin: httpx.get(f"{server.url}/api/v1/widget/allowed", params={"origin": origin},  # noqa: E731
                                   headers={"Origin": origin})
    ok, no = ask(ALLOWED), ask("https://evil.example")
    assert ok.json() == {"origin": ALLOWED, "allowed": True} and no.json()["allowed"] is False
    assert no.headers["access-control-allow-origin"] in ("*", "https://evil.example")   # readable on a refused site
    assert ask(server.url).json()["allowed"] is True                                    # the bot's own pages
    assert ask("not an origin").json()["allowed"] is False


HOSTILE = ["{{ 7*7 }}", "{% for x in range(10**9) %}x{% endfor %}", "{{ ''.__class__.__mro__[1].__subclasses__() }}",
           "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "\U0001F621\U0001F621\U0001F621",
           "\u0627\u0644\u062a\u0648\u0635\u064a\u0644 \u062a\u0623\u062e\u0631", "\u202eright-to-left override",
           "ctrl \x01\x02\x1b[31m red \x7f", "tab\tand\r\nnewline", "a" * 5000, "\ufeffbom", "\U0001d400\U0001d401"]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_is_answered_stored_verbatim_and_never_evaluated(live, text):
    server, bot = live
    r = httpx.post(f"{server.url}/api/v1/messages", json={"text": text})
    assert r.status_code == 200
    body = r.json()
    assert bot.store.get_message(body["message_id"]).text == text
    assert "49" not in body["reply"] and "subclasses" not in body["reply"]
    assert "<script" not in body["reply_html"] and "<img" not in body["reply_html"]


def test_one_megabyte_and_invalid_utf8_bodies_get_clear_errors(live):
    server, bot = live
    before = bot.store.count(Message)
    big = httpx.post(f"{server.url}/api/v1/messages", json={"text": "x" * 1_000_000})
    assert big.status_code == 413 and "too long" in big.json()["error"]["message"]
    bad = httpx.post(f"{server.url}/api/v1/messages", content=b'{"text": "\xff\xfe bad"}',
                     headers={"Content-Type": "application/json"})
    assert bad.status_code in (400, 422) and bad.json()["error"]["code"] == "invalid_request"
    nul = httpx.post(f"{server.url}/api/v1/messages", json={"text": "a\u0000b"})
    assert nul.status_code == 400 and "NUL" in nul.json()["error"]["message"]
    assert bot.store.count(Message) == before


def test_internal_errors_reveal_nothing(live):
    server, bot = live
    original = bot.store.state

    def broken(session):
        raise RuntimeError("password=hunter2 at /srv/secret.py")

    bot.store.state = broken
    try:
        r = httpx.post(f"{server.url}/api/v1/messages", json={"text": "hello"})
    finally:
        bot.store.state = original
    assert r.status_code == 500
    assert r.json() == {"error": {"code": "internal", "message": "internal error; please try again"}}
    assert "hunter2" not in r.text and "Traceback" not in r.text
