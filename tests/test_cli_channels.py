import csv
import json
import os
import sys

import pexpect
import pytest

from bot.store import Correction, Store

from conftest import SAMPLE


def spawn_chat(model_dir, db, env_extra=None):
    import os
    env = dict(os.environ, PYTHONUNBUFFERED="1", **(env_extra or {}))
    return pexpect.spawn(sys.executable, ["-m", "bot.cli", "chat", "--model", str(model_dir), "--db", db],
                         env=env, encoding="utf-8", codec_errors="replace", timeout=60)  # the pty echoes raw bytes


def quit_chat(child) -> None:
    child.sendline("/quit")
    child.expect("bye")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_chat_session_in_a_pseudo_terminal(tiny_model_dir, tmp_path):
    db = f"sqlite:///{tmp_path / 'fb.sqlite3'}"
    child = spawn_chat(tiny_model_dir, db)
    child.expect("you> ")
    child.sendline("the delivery was late again")
    child.expect(r"bot> ([^\r\n]+)\r\n")  # pexpect patterns are DOTALL
    first_reply = child.match.group(1)
    child.expect(r"\[model: (negative|neutral|positive) \d+%; reply: (\w+)")
    child.expect("you> ")
    child.sendline("")
    child.expect("! message is empty")
    child.expect("you> ")
    child.sendline("/bad")
    child.expect("rating saved")
    child.expect("you> ")
    child.sendline("/good")                    # a rating is a state: the last one counts
    child.expect("rating saved")
    child.expect("you> ")
    child.sendline("/correct furious")
    child.expect("unknown label 'furious'")
    child.expect("you> ")
    child.sendline("/correct negative")
    child.expect("correction saved")
    child.expect("you> ")
    quit_chat(child)
    store = Store(db)
    rows = list(store.iter_messages())
    assert len(rows) == 1 and rows[0]["text"] == "the delivery was late again" and rows[0]["channel"] == "cli"
    assert rows[0]["reply"] == first_reply.strip()
    assert rows[0]["rating"] == 1 and rows[0]["correction"] == "negative"
    assert rows[0]["correction_source"] == "customer_button" and store.count(Correction) == 1


def test_numbered_quick_replies_answer_the_question(tiny_model_dir, tmp_path):
    db = f"sqlite:///{tmp_path / 'fb.sqlite3'}"
    always_ask = {"FEEDBACKBOT_POLICY_THRESHOLDS": '{"negative": 1.01, "neutral": 1.01, "positive": 1.01}',
                  "FEEDBACKBOT_POLICY_AMBIGUITY_MARGIN": "0"}
    child = spawn_chat(tiny_model_dir, db, always_ask)
    child.expect("you> ")
    child.sendline("the crew was, well, a crew")
    child.expect(r"\[model: \w+ \d+%; reply: \w+_low")        # a follow-up question
    child.expect("you> ")
    child.sendline("and the seat was a seat")   # still unsure: numbered choices, the labels in plain words
    child.expect(r"\[1\] \S+ Bad   \[2\] \S+ Okay   \[3\] \S+ Good")
    child.expect("you> ")
    child.sendline("3")
    child.expect(r"your answer; reply: positive_high; recorded message (\d+) as positive")
    child.expect("you> ")
    child.sendline("/unrate")
    child.expect("rating removed")
    child.expect("you> ")
    quit_chat(child)
    rows = list(Store(db).iter_messages())
    assert rows[0]["correction"] == "positive" and rows[0]["correction_source"] == "customer_button"
    assert [r["kind"] for r in rows] == ["feedback", "feedback", "answer"]


def test_chat_ends_cleanly_on_eof(tiny_model_dir, tmp_path):
    child = spawn_chat(tiny_model_dir, f"sqlite:///{tmp_path / 'fb.sqlite3'}")
    child.expect("you> ")
    child.sendeof()
    child.expect("bye")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_chat_with_a_missing_model_is_a_clear_error(tmp_path):
    child = spawn_chat(tmp_path / "nope", f"sqlite:///{tmp_path / 'fb.sqlite3'}")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 2
    assert "does not exist" in child.before and "Traceback" not in child.before


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_classify_file_keeps_every_row(tiny_model_dir, tmp_path, suffix):
    from bot.cli import main

    src = tmp_path / "in.csv"
    with open(SAMPLE, encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))[:50]
    rows.append({"text": "   ", "label": "neutral"})
    with open(src, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=["text", "label"])
        w.writeheader()
        w.writerows(rows)
    out = tmp_path / f"out{suffix}"
    assert main(["classify", str(src), "--model", str(tiny_model_dir), "--out", str(out), "--batch-size", "8"]) == 0
    if suffix == ".csv":
        with open(out, encoding="utf-8") as fh:
            got = list(csv.DictReader(fh))
    else:
        got = [json.loads(line) for line in out.read_text(encoding="utf-8").split("\n") if line]
    assert len(got) == 51
    assert [g["text"] for g in got] == [r["text"] for r in rows]          # original order kept
    assert all(g["label_predicted"] in ("negative", "neutral", "positive") for g in got[:50])
    assert got[50]["error"] == "empty text" and got[50]["label_predicted"] in ("", None)
    # batched, length-sorted scoring agrees with one-by-one scoring
    from bot.classifier import Classifier
    clf = Classifier(tiny_model_dir, max_length=128)
    single = [clf.predict([r["text"]])[0].label for r in rows[:10]]
    assert [g["label_predicted"] for g in got[:10]] == single


def test_templates_check_command(capsys, tmp_path):
    from bot.cli import main

    assert main(["templates", "check", "--labels", "negative,neutral,positive"]) == 0
    assert "ok: " in capsys.readouterr().out
    (tmp_path / "clarify.j2").write_text("{% if %}")
    assert main(["templates", "check", "--templates", str(tmp_path), "--labels", "negative,positive"]) == 2
    assert "clarify.j2 variant 1" in capsys.readouterr().err


def test_templates_check_warns_about_the_old_default_name(capsys, monkeypatch):
    from bot.cli import main

    monkeypatch.setenv("FEEDBACKBOT_TEMPLATES_BUSINESS_NAME", "our team")
    assert main(["templates", "check", "--labels", "negative,neutral,positive"]) == 0
    assert 'business_name = "our team" (the old default)' in capsys.readouterr().out
    monkeypatch.setenv("FEEDBACKBOT_TEMPLATES_BUSINESS_NAME", "Example Air")
    assert main(["templates", "check", "--labels", "negative,neutral,positive"]) == 0
    assert "warning" not in capsys.readouterr().out


def test_chat_session_with_hostile_text(tiny_model_dir, tmp_path):
    db = f"sqlite:///{tmp_path / 'fb.sqlite3'}"
    texts = ["{{ 7*7 }}", "<script>alert(1)</script>", "\U0001F621\U0001F621", "\u0627\u0644\u062a\u0648\u0635\u064a\u0644",
             "{% for x in range(3) %}x{% endfor %}"]
    # a terminal line holds at most 4095 bytes (the kernel's canonical-mode buffer): test the limit below that
    child = spawn_chat(tiny_model_dir, db, {"FEEDBACKBOT_LIMITS_MAX_MESSAGE_CHARS": "1000"})
    for text in texts:
        child.expect("you> ")
        child.sendline(text)
        child.expect(r"bot> ([^\r\n]+)\r\n")
        assert "49" not in child.match.group(1)
    child.expect("you> ")
    child.sendline("x" * 1001)
    child.expect("! message is too long")
    child.expect("you> ")
    quit_chat(child)
    assert [r["text"] for r in Store(db).iter_messages()] == texts


def test_classify_rejects_invalid_utf8_with_the_line_and_writes_nothing(tiny_model_dir, tmp_path, capsys):
    from bot.cli import main

    src = tmp_path / "bad.csv"
    src.write_bytes(b"text\nfine\nbroken \xff\xfe here\n")
    out = tmp_path / "out.csv"
    assert main(["classify", str(src), "--model", str(tiny_model_dir), "--out", str(out)]) == 2
    assert "bad.csv: line 3" in capsys.readouterr().err and not out.exists()
    big = tmp_path / "big.csv"
    big.write_text("text\n" + "word " * 200_000 + "\n\U0001F621\n")    # a 1 MB row is truncated, not refused
    assert main(["classify", str(big), "--model", str(tiny_model_dir), "--out", str(out)]) == 0
    with open(out, encoding="utf-8") as fh:
        assert len(list(csv.DictReader(fh))) == 2


def test_chat_session_rejects_invalid_utf8_and_carries_on(tiny_model_dir, tmp_path):
    db = f"sqlite:///{tmp_path / 'fb.sqlite3'}"
    child = spawn_chat(tiny_model_dir, db)
    child.expect("you> ")
    os.write(child.child_fd, b"caf\xe9 au lait\r")   # latin-1 bytes, not UTF-8, straight into the pty
    child.expect("not valid UTF-8 text; nothing was stored")
    child.expect("you> ")
    child.sendline("caf\u00e9 au lait")
    child.expect(r"bot> ")
    child.expect("you> ")
    child.sendline("/history")
    child.expect("1. caf\u00e9 au lait")
    child.expect("you> ")
    quit_chat(child)
    assert [r["text"] for r in Store(db).iter_messages()] == ["caf\u00e9 au lait"]


@pytest.mark.parametrize("argv", [["serve", "--config", "{f}"], ["--config", "{f}", "serve"],
                                  ["--config", "/nonexistent.toml", "serve", "--config", "{f}"],
                                  ["templates", "check", "--config", "{f}"], ["chat", "--config", "{f}"]])
def test_config_is_accepted_before_or_after_the_command(tmp_path, argv):
    from bot.cli import _bot_config, build_parser

    f = tmp_path / "bot.toml"
    f.write_text('[templates]\nbusiness_name = "Zed Air"\n[limits]\nmax_message_chars = 777\n')
    args = build_parser().parse_args([a.format(f=f) for a in argv])
    cfg = _bot_config(args)
    assert cfg.templates.business_name == "Zed Air" and cfg.limits.max_message_chars == 777


def test_serve_help_lists_config():
    from bot.cli import build_parser

    assert "--config" in build_parser()._subparsers._group_actions[0].choices["serve"].format_help()
