"""`feedbackbot calibrate`: a temperature (and class biases where the model leans) fitted on a business's own labelled
messages, served by model version."""

import numpy as np
import pytest

from bot.classifier import Classifier
from bot.cli import main
from bot.config import load_config
from bot.domain_calibration import MIN_MESSAGES, CalibrationDataError, calibrate
from finetune.calibrate import softmax

from conftest import SAMPLE, write_csv


class OverconfidentModel:
    """Logits four times too sure of themselves: what a model shows on a domain its temperature was not fitted on."""
    labels = ["negative", "neutral", "positive"]
    version = "overconfident:1"
    model_temperature = 1.0

    def __init__(self, n=4000, seed=0):
        rng = np.random.default_rng(seed)
        self.true_logits = rng.normal(0, 1.5, size=(n, 3))
        probs = softmax(self.true_logits)
        self.truth = [self.labels[rng.choice(3, p=p)] for p in probs]
        self.texts = [f"message {i}" for i in range(n)]

    def logits(self, texts):
        return 4.0 * self.true_logits[[int(t.split()[1]) for t in texts]]


def test_the_fitted_temperature_undoes_overconfidence_on_messages_it_was_not_fitted_on():
    model = OverconfidentModel()
    result = calibrate(model, model.texts, model.truth)
    assert 3.3 < result.temperature < 4.8
    assert result.ece_model > 0.15 and result.ece_calibrated < 0.04
    assert result.messages == 4000 and result.classes == model.labels
    assert result.toml() == f'[model.temperatures]\n"overconfident:1" = {result.temperature:.4f}\n'
    # no lean in these messages: the biases' held-out gain is noise, so the simpler temperature is kept
    assert result.method == "temperature" and result.biases == {}
    assert set(result.held_out) == {"model", "temperature", "temperature+bias", "scales+bias"}
    assert result.scales == {} and "[model.scales" not in result.toml()


def test_binary_labels_calibrate_the_two_polar_columns_and_bad_sets_are_refused():
    model = OverconfidentModel()
    keep = [i for i, t in enumerate(model.truth) if t != "neutral"]
    result = calibrate(model, [model.texts[i] for i in keep], [model.truth[i] for i in keep])
    assert result.classes == ["negative", "positive"] and result.temperature > 1.5
    with pytest.raises(CalibrationDataError, match=f"needs at least {MIN_MESSAGES}"):
        calibrate(model, model.texts[:MIN_MESSAGES - 1], model.truth[:MIN_MESSAGES - 1])
    with pytest.raises(CalibrationDataError, match="one label only"):
        calibrate(model, model.texts[:200], ["positive"] * 200)
    with pytest.raises(CalibrationDataError, match=r"\['angry'\] are not the model's"):
        calibrate(model, model.texts[:200], ["angry"] + model.truth[1:200])


def test_the_bot_serves_a_temperature_only_for_the_model_version_it_was_fitted_for(tiny_model_dir, tmp_path):
    own = Classifier(tiny_model_dir)
    texts = ["the delivery was late again", "love the new app"]
    logits = own.logits(texts)
    config = tmp_path / "bot.toml"
    config.write_text(f'[model.temperatures]\n"{own.version}" = 2.5\n"someone-else:abc:123" = 9.0\n')
    calibrated = Classifier.from_config(tiny_model_dir, load_config(config).model, log=lambda *_: None)
    assert calibrated.temperature == 2.5 and calibrated.model_temperature == own.temperature
    assert calibrated.temperature_source == "[model] temperatures"
    probs = [p.probabilities[label] for p in calibrated.predict(texts) for label in calibrated.labels]
    assert np.allclose(probs, softmax(logits, 2.5).ravel(), atol=1e-6)
    config.write_text('[model.temperatures]\n"someone-else:abc:123" = 9.0\n')
    other = Classifier.from_config(tiny_model_dir, load_config(config).model, log=lambda *_: None)
    assert other.temperature == own.temperature and other.temperature_source == "model"
    config.write_text(f'[model.temperatures]\n"{own.version}" = -1.0\n')
    with pytest.raises(ValueError, match="not a positive number"):
        Classifier.from_config(tiny_model_dir, load_config(config).model, log=lambda *_: None)


def test_calibrate_command_prints_the_config_lines_and_refuses_bad_data(tiny_model_dir, tmp_path, capsys):
    assert main(["calibrate", "--data", str(SAMPLE), "--model", str(tiny_model_dir)]) == 0
    out, err = capsys.readouterr()
    version = Classifier(tiny_model_dir).version
    assert out.startswith(f'[model.temperatures]\n"{version}" = ')
    assert float(out.split("=")[1]) > 0
    assert "300 labelled messages" in err and "on messages each calibration was not fitted on" in err
    assert "<- chosen" in err
    few = write_csv(tmp_path / "few.csv", [{"text": f"msg {i}", "label": "positive" if i % 2 else "negative"}
                                          for i in range(20)])
    assert main(["calibrate", "--data", str(few), "--model", str(tiny_model_dir)]) == 2
    assert "20 labelled messages; calibrating needs at least 100" in capsys.readouterr().err
    odd = write_csv(tmp_path / "odd.csv", [{"text": f"msg {i}", "label": "angry" if i % 2 else "negative"}
                                          for i in range(200)])
    assert main(["calibrate", "--data", str(odd), "--model", str(tiny_model_dir)]) == 2
    assert "['angry'] are not the model's" in capsys.readouterr().err


def test_calibrate_refuses_rows_the_model_labelled_itself(tiny_model_dir, tmp_path, capsys):
    rows = [{"text": f"message number {i}", "label": "positive" if i % 2 else "negative",
             "source": "model" if i < 30 else "operator"} for i in range(200)]
    assert main(["calibrate", "--data", str(write_csv(tmp_path / "m.csv", rows)), "--model", str(tiny_model_dir)]) == 2
    err = capsys.readouterr().err
    assert "label sources: model 30, operator 170" in err and "30 rows have source=model" in err


def test_the_printed_key_is_valid_toml_for_any_version_and_an_unmatched_table_is_logged(tiny_model_dir):
    import tomllib

    from bot.domain_calibration import DomainCalibration

    odd = DomainCalibration('run "x"\\y:abc:123', 1.5, 100, ["negative", "positive"], 0.1, 0.02)
    assert tomllib.loads(odd.toml())["model"]["temperatures"] == {'run "x"\\y:abc:123': 1.5}
    logged = []
    clf = Classifier(tiny_model_dir, temperatures={"someone-else:abc:123": 9.0}, log=logged.append)
    assert clf.temperature_source == "model"
    assert any("no entry for this model" in line and "someone-else:abc:123" in line for line in logged)



def _serve(tiny_model_dir, config, tables: str):
    """A classifier served from a config holding ``tables`` (VERSION stands for the tiny model's version), its
    probabilities on two messages, and the logits of the model as it is."""
    own = Classifier(tiny_model_dir)
    config.write_text(tables.replace("VERSION", own.version))
    served = Classifier.from_config(tiny_model_dir, load_config(config).model, log=lambda *_: None)
    texts = ["the delivery was late again", "love the new app"]
    got = np.array([[p.probabilities[label] for label in own.labels] for p in served.predict(texts)])
    return served, got, own.logits(texts)


def _refused(tiny_model_dir, config, tables: str, match: str) -> None:
    """A config holding ``tables`` (VERSION: the tiny model's version) is refused at start, saying ``match``."""
    config.write_text(tables.replace("VERSION", Classifier(tiny_model_dir).version))
    with pytest.raises(ValueError, match=match):
        Classifier.from_config(tiny_model_dir, load_config(config).model, log=lambda *_: None)


class LeaningModel(OverconfidentModel):
    """Leans positive on this domain (as the default model does on Dutch reviews): +1.5 on positive, -1.5 on
    negative, on top of being overconfident."""
    version = "leaning:1"

    def logits(self, texts):
        return super().logits(texts) + np.array([-1.5, 0.0, 1.5])


def test_a_lean_is_corrected_by_biases_chosen_on_held_out_messages_and_served(tiny_model_dir, tmp_path):
    import tomllib

    model = LeaningModel()
    result = calibrate(model, model.texts, model.truth)
    assert result.method == "temperature+bias"
    assert result.biases["negative"] - result.biases["positive"] > 0.5            # leans back towards negative
    held = result.held_out
    assert held["temperature+bias"].nll < held["temperature"].nll
    assert held["temperature+bias"].accuracy > held["temperature"].accuracy + 0.02
    assert held["temperature+bias"].ece < 0.04 and result.ece_calibrated == held["temperature+bias"].ece
    forced = calibrate(model, model.texts, model.truth, method="temperature")
    assert forced.biases == {} and forced.ece_calibrated == held["temperature"].ece
    table = tomllib.loads(result.toml())["model"]
    assert table["biases"] == {"leaning:1": {k: round(v, 4) for k, v in result.biases.items()}}

    # served: probabilities are softmax(logits / T + bias) for that model version only
    config = tmp_path / "bot.toml"
    served, got, logits = _serve(tiny_model_dir, config, '[model.temperatures]\n"VERSION" = 2.0\n'
                                 '[model.biases."VERSION"]\nnegative = 1.0\npositive = -1.0\n')
    assert served.biases == {"negative": 1.0, "positive": -1.0}
    assert np.allclose(got, softmax(logits / 2.0 + [served.biases.get(k, 0.0) for k in served.labels]), atol=1e-6)
    _refused(tiny_model_dir, config, '[model.biases."VERSION"]\nnegative = 1.0\n', "temperatures has none")
    _refused(tiny_model_dir, config, '[model.temperatures]\n"VERSION" = 2.0\n[model.biases."VERSION"]\nangry = 1.0\n',
             r"\['angry'\] are not the model's")


def test_a_richer_calibrator_pays_off_only_beyond_chance():
    from bot.domain_calibration import pays_off

    rng = np.random.default_rng(0)
    base = rng.exponential(0.5, 400)
    assert not pays_off(base, base + rng.normal(0, 0.05, 400))       # noise either way
    assert pays_off(base, base - 0.05 + rng.normal(0, 0.05, 400))    # a steady gain


class MuteNeutralModel(OverconfidentModel):
    """On this domain the model's neutral logit is noise (as the default's is on Portuguese 3-star reviews): the
    polar logits are overconfident but informative, the neutral one says nothing about the truth."""
    version = "mute-neutral:1"

    def logits(self, texts):
        out = super().logits(texts).copy()
        rows = np.array([int(t.split()[1]) for t in texts])
        out[:, 1] = np.random.default_rng(rows).normal(0, 6.0, len(rows)) if len(rows) else out[:, 1]
        return out


def test_a_class_whose_logit_means_nothing_here_is_rescaled_by_scales_chosen_on_held_out_messages(tiny_model_dir,
                                                                                                  tmp_path):
    import tomllib

    model = MuteNeutralModel()
    result = calibrate(model, model.texts, model.truth)
    held = result.held_out
    assert result.method == "scales+bias"
    assert held["scales+bias"].nll < held["temperature+bias"].nll - 0.05
    assert held["scales+bias"].accuracy > held["temperature+bias"].accuracy
    assert result.ece_calibrated == held["scales+bias"].ece < held["temperature+bias"].ece
    assert result.scales["neutral"] < 0.5 * min(result.scales["negative"], result.scales["positive"])
    assert np.isclose(np.prod(list(result.scales.values())), 1.0)          # geometric mean 1: T keeps its meaning
    table = tomllib.loads(result.toml())["model"]
    assert table["scales"] == {"mute-neutral:1": {k: round(v, 4) for k, v in result.scales.items()}}
    assert table["biases"] == {"mute-neutral:1": {k: round(v, 4) for k, v in result.biases.items()}}
    # forcing a simpler calibrator fits no scales
    assert calibrate(model, model.texts, model.truth, method="temperature+bias").scales == {}

    # served: probabilities are softmax(scale * logits / T + bias) for that model version only
    config = tmp_path / "bot.toml"
    served, got, logits = _serve(tiny_model_dir, config, '[model.temperatures]\n"VERSION" = 2.0\n'
                                 '[model.biases."VERSION"]\nnegative = 0.5\n'
                                 '[model.scales."VERSION"]\nneutral = 0.25\npositive = 1.5\n')
    assert served.scales == {"neutral": 0.25, "positive": 1.5}
    scale = np.array([{"neutral": 0.25, "positive": 1.5}.get(k, 1.0) for k in served.labels])
    bias = np.array([0.5 if k == "negative" else 0.0 for k in served.labels])
    assert np.allclose(got, softmax(scale * logits / 2.0 + bias), atol=1e-6)
    _refused(tiny_model_dir, config, '[model.scales."VERSION"]\nneutral = 0.5\n', "temperatures has none")
    _refused(tiny_model_dir, config, '[model.temperatures]\n"VERSION" = 2.0\n[model.scales."VERSION"]\nneutral = 0\n',
             "not positive")
    _refused(tiny_model_dir, config, '[model.temperatures]\n"VERSION" = 2.0\n[model.scales."VERSION"]\nangry = 1\n',
             r"\['angry'\] are not the model's")


def test_served_biases_count_once_when_two_readings_are_combined(tiny_model_dir):
    from bot.policy import combine_evidence

    own = Classifier(tiny_model_dir)
    biased = Classifier(tiny_model_dir, temperatures={own.version: 1.0}, biases={own.version: {"negative": 1.5,
                                                                                               "positive": -1.5}},
                        log=lambda *_: None)
    prior = biased.served_prior
    base = own.label_prior or {label: 1 / 3 for label in own.labels}
    expected = {k: base[k] * np.exp({"negative": 1.5, "positive": -1.5}.get(k, 0.0)) for k in own.labels}
    assert prior == pytest.approx({k: v / sum(expected.values()) for k, v in expected.items()})
    # two readings combined carry the bias once: the same as combining the unbiased readings, then applying it once
    texts = ["the delivery was late again", "well, it was not great"]
    plain = Classifier(tiny_model_dir, temperatures={own.version: 1.0}, log=lambda *_: None)   # same T, no biases
    p1, p2 = biased.predict(texts)
    q1, q2 = plain.predict(texts)
    combined = combine_evidence(p1, p2, biased.served_prior).probabilities
    once = {k: v * np.exp({"negative": 1.5, "positive": -1.5}.get(k, 0.0))
            for k, v in combine_evidence(q1, q2, plain.served_prior).probabilities.items()}
    assert combined == pytest.approx({k: v / sum(once.values()) for k, v in once.items()})
    twice = combine_evidence(p1, p2, plain.served_prior).probabilities     # dividing out the training shares only
    assert twice["negative"] / twice["positive"] > 10 * combined["negative"] / combined["positive"]
    assert own.served_prior == own.label_prior                         # no biases: the training shares


def test_recalibrating_to_temperature_only_says_to_remove_the_old_biases_and_scales(tiny_model_dir, tmp_path, capsys):
    version = Classifier(tiny_model_dir).version
    config = tmp_path / "bot.toml"
    config.write_text(f'[model.temperatures]\n"{version}" = 1.5\n[model.biases."{version}"]\nnegative = 0.7\n'
                      f'[model.scales."{version}"]\nneutral = 0.5\n')
    assert main(["calibrate", "--config", str(config), "--data", str(SAMPLE), "--model", str(tiny_model_dir),
                 "--calibrator", "temperature"]) == 0
    out, err = capsys.readouterr()
    assert f'remove [model.biases."{version}"]' in err and "[model.biases" not in out
    assert f'remove [model.scales."{version}"]' in err and "[model.scales" not in out
    assert "leans on your messages" not in err                     # forced, not chosen: no claim about a lean


def test_models_are_compared_without_a_business_calibration(tiny_model_dir, tmp_path):
    from bot.config import BotConfig
    from bot.core import without_business_calibration

    cfg = BotConfig()
    cfg.model.temperatures, cfg.model.biases = {"v": 2.0}, {"v": {"negative": 1.0}}
    cfg.model.scales = {"v": {"neutral": 0.5}}
    plain = without_business_calibration(cfg)
    assert plain.model.temperatures == {} and plain.model.biases == {} and plain.model.scales == {}
    assert cfg.model.biases == {"v": {"negative": 1.0}} and plain.model.max_length == cfg.model.max_length
