import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.render import FIXED_KEYS, Renderer, TemplateSetError, packaged_templates_dir, sample_context

LABELS = ["negative", "neutral", "positive"]
HOSTILE = ["{{ 7*7 }}", "{% for x in range(3) %}x{% endfor %}", "{{ ''.__class__.__mro__ }}",
           "<script>alert(1)</script>", "<img src=x onerror=alert(1)>"]


def _dir(tmp_path, files: dict):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return tmp_path


def test_packaged_templates_pass_the_check():
    report = Renderer().check(LABELS)
    assert "negative_high: negative_high.j2" in report and "clarify: clarify.j2" in report


def test_other_label_sets_use_default_templates():
    report = Renderer().check(["anger", "joy"])
    assert "anger_high: default_high.j2 (default)" in report


@pytest.mark.parametrize("hostile", HOSTILE)
def test_customer_text_is_data_never_template_source(tmp_path, hostile):
    r = Renderer(_dir(tmp_path, {"echo_high.j2": "You said: {{ text }}"}))
    out = r.render("echo_high", {"text": hostile})
    assert out.text == f"You said: {hostile}"            # plain text: verbatim, not evaluated
    assert "<script>" not in out.html and "<img" not in out.html   # HTML: escaped
    assert "49" not in out.text.replace("7*7", "")


def test_sandbox_blocks_unsafe_template_code(tmp_path):
    r = Renderer(_dir(tmp_path, {"evil_high.j2": "{{ ''.__class__.__mro__[1].__subclasses__() }}"}))
    with pytest.raises(TemplateSetError, match="unsafe"):
        r.render("evil_high", {})


def test_variants_are_split_and_picked_deterministically(tmp_path):
    r = Renderer(_dir(tmp_path, {"x_high.j2": "one\n{# variant #}\ntwo\n{# variant #}\nthree"}))
    assert [r.render("x_high", {}, pick=i).text for i in range(4)] == ["one", "two", "three", "one"]


def test_check_fails_on_syntax_error_undefined_variable_and_missing_template(tmp_path):
    with pytest.raises(TemplateSetError, match=r"bad\.j2 variant 1"):
        Renderer(_dir(tmp_path, {"bad.j2": "{% if %}"}))
    d = tmp_path / "b"
    d.mkdir()
    for name in ["clarify", "correction", "error", "negative_high", "negative_low"]:
        (d / f"{name}.j2").write_text("ok {{ label }}")
    (d / "positive_high.j2").write_text("thanks {{ customer_name }}")   # undefined variable
    with pytest.raises(TemplateSetError) as err:
        Renderer(d).check(["negative", "positive"])
    assert "customer_name" in str(err.value) and "positive_low" in str(err.value)


def test_missing_directory_is_an_error(tmp_path):
    with pytest.raises(TemplateSetError, match="does not exist"):
        Renderer(tmp_path / "nope")


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=200))
def test_any_text_renders_verbatim_and_escaped(text):
    r = Renderer(packaged_templates_dir())
    ctx = sample_context(LABELS) | {"text": text}
    for key in r.keys():
        out = r.render(key, ctx)
        assert out.text and out.html
        assert "<" not in out.html.replace("&lt;", "")


def test_every_shipped_language_has_every_template():
    from bot.render import Renderer

    renderer = Renderer()
    report = renderer.check(["negative", "neutral", "positive"])
    assert renderer.languages() == ["de", "es", "fr", "it", "nl", "pt"]
    assert [line for line in report if line.startswith("[")] == [f"[{lang}] complete" for lang in renderer.languages()]


def test_no_reply_names_our_labels_to_customers():
    from bot.render import Renderer, sample_context

    renderer = Renderer()
    ctx = sample_context(["negative", "neutral", "positive"])
    ctx["label"] = ctx["leaning"] = "x"          # templates may not print the label variable either
    shown = [renderer.render(key, ctx, pick, language).text.lower()
             for language in ["en", *renderer.languages()] for key in renderer.keys() for pick in range(3)]
    assert not [t for t in shown if any(name in t for name in ("negative", "neutral", "positive"))]


def test_a_language_without_a_file_falls_back_to_english(tmp_path):
    from bot.render import Renderer

    (tmp_path / "de").mkdir()
    (tmp_path / "greeting.j2").write_text("Hello {{ business_name }}")
    (tmp_path / "de" / "greeting.j2").write_text("Hallo {{ business_name }}")
    (tmp_path / "goodbye.j2").write_text("Bye")
    renderer = Renderer(tmp_path)
    assert renderer.render("greeting", {"business_name": "ACME"}, 0, "de").text == "Hallo ACME"
    assert renderer.render("goodbye", {}, 0, "de").text == "Bye"
    assert renderer.render("greeting", {"business_name": "ACME"}, 0, "fr").text == "Hello ACME"


def test_an_unset_business_name_reads_right_in_every_language():
    """[templates] business_name unset (none): every variant of every template, in every language, words the
    sentence without the name: no "None", no English placeholder in another language, no gap before punctuation."""
    renderer = Renderer()
    ctx = {**sample_context(LABELS), "business_name": None}
    checked = 0
    for (language, key), variants in renderer._variants.items():
        for pick in range(len(variants)):
            text = renderer.render(key, ctx, pick, language or "en").text
            assert "None" not in text, (language, key, text)
            assert "  " not in text and " ." not in text and " ," not in text, (language, key, text)
            if language:
                assert "our team" not in text and "ACME" not in text, (language, key, text)
            checked += 1
    assert checked > 150
    named = renderer.render("greeting", {**ctx, "business_name": "ACME"}, 0, "de").text
    assert "von ACME" in named and renderer.render("greeting", ctx, 0, "de").text.startswith(
        "Hallo! Ich bin der Feedback-Assistent.")


def test_the_check_finds_a_template_that_shows_none_when_the_name_is_unset(tmp_path):
    bad = _dir(tmp_path, {"greeting.j2": "Hello from {{ business_name }}",
                          **{f"{key}.j2": "ok" for key in (*FIXED_KEYS, "default_high", "default_low")
                             if key != "greeting"}})
    with pytest.raises(TemplateSetError, match=r'greeting.j2 variant 1: shows "None" when business_name is unset'):
        Renderer(bad).check(LABELS)
    assert Renderer(bad).check(LABELS, unnamed=False)       # a business with a name never serves the no-name text
    (bad / "greeting.j2").write_text('None of our staff should be rude. {{ business_name or "We" }} will check.')
    assert Renderer(bad).check(LABELS)                       # the word itself, named or not, is no problem
    (bad / "greeting.j2").write_text("Hello from {{ business_name | upper }}")
    with pytest.raises(TemplateSetError, match='shows "None"'):
        Renderer(bad).check(LABELS)
    (bad / "greeting.j2").write_text('Hello from {{ business_name + " team" }}')
    with pytest.raises(TemplateSetError, match=r"greeting.j2 variant 1 \(business_name unset\): "):
        Renderer(bad).check(LABELS)
    (bad / "greeting.j2").write_text('Hello from {{ business_name or "us" }}')
    assert Renderer(bad).check(LABELS)
