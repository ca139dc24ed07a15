import pytest
import torch
from transformers import BertConfig, BertModel, DistilBertConfig, DistilBertModel

from finetune.convert import ConversionError, bert_to_distilbert_state, distilbert_config_from_bert

SENTENCES = ["The delivery was late again and nobody answered the phone.",
             "love the new app!!", "Can I change my booking to Friday?",
             "@united worst flight ever, 3 hours on the tarmac"]


def _tiny_bert():
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=50, hidden_size=24, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=48, max_position_embeddings=32)
    return BertModel(cfg).eval(), cfg


def test_state_mapping_matches_bert_hidden_states_on_random_weights():
    bert, cfg = _tiny_bert()
    dcfg = distilbert_config_from_bert(cfg.to_dict())
    distil = DistilBertModel(dcfg).eval()
    state = bert_to_distilbert_state(bert.state_dict(), dcfg.n_layers)
    distil.load_state_dict(state, strict=True)
    ids = torch.randint(1, 50, (3, 11))
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0
    with torch.no_grad():
        a = bert(input_ids=ids, attention_mask=mask).last_hidden_state
        b = distil(input_ids=ids, attention_mask=mask).last_hidden_state
    assert (a - b)[mask.bool()].abs().max().item() <= 1e-5


def test_token_type_row_is_folded_into_positions():
    bert, cfg = _tiny_bert()
    state = bert_to_distilbert_state(bert.state_dict(), 2)
    expected = bert.embeddings.position_embeddings.weight + bert.embeddings.token_type_embeddings.weight[0]
    assert torch.allclose(state["embeddings.position_embeddings.weight"], expected)
    assert not any("pooler" in k or "token_type" in k for k in state)


def test_rejects_non_bert_config():
    with pytest.raises(ConversionError, match="BERT"):
        distilbert_config_from_bert({"model_type": "roberta"})
    with pytest.raises(ConversionError, match="GELU"):
        distilbert_config_from_bert({"model_type": "bert", "hidden_act": "relu"})


@pytest.mark.slow
def test_converted_packaged_minilm_equals_original_bert():
    """The embedded default base: real all-MiniLM-L6-v2 weights, converted, hidden states within 1e-4."""
    from transformers import AutoTokenizer

    from finetune.base import embedded_base_dir, embedded_source_dir, resolve_base

    src = embedded_source_dir()
    dst = embedded_base_dir()
    bert = BertModel.from_pretrained(str(src), use_safetensors=True).eval()
    distil = DistilBertModel.from_pretrained(str(dst), use_safetensors=True).eval()
    assert isinstance(distil.config, DistilBertConfig)
    assert (distil.config.dim, distil.config.n_layers, distil.config.n_heads, distil.config.hidden_dim) == (384, 6, 12, 1536)
    tok_bert = AutoTokenizer.from_pretrained(str(src))
    tok_distil = AutoTokenizer.from_pretrained(str(dst))
    enc = tok_bert(SENTENCES, padding=True, return_tensors="pt")
    enc_d = tok_distil(SENTENCES, padding=True, return_tensors="pt")
    assert torch.equal(enc["input_ids"], enc_d["input_ids"])
    assert "token_type_ids" not in enc_d
    with torch.no_grad():
        a = bert(**enc).last_hidden_state
        b = distil(**enc_d).last_hidden_state
    mask = enc["attention_mask"].bool()
    assert (a - b)[mask].abs().max().item() <= 1e-4
    prov = resolve_base("default").provenance
    assert prov["kind"] == "embedded"
    assert prov["source_sha256"] == "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
