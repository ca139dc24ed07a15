"""Every knob of a fine-tuning run, as typed dataclasses (TOML section ``[finetune]``, env ``FEEDBACKBOT_FINETUNE_*``)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class DataConfig:
    path: str = ""                      # CSV / JSONL / Parquet file, or a `datasets` hub name
    text_column: str | None = None      # auto: text, review, sentence, content, message
    label_column: str | None = None     # auto: label, sentiment, labels, class
    labels: list[str] | None = None     # target label set in order; default: the labels the data has
    label_map: dict[str, str] = field(default_factory=dict)  # raw label -> label name, e.g. {"-1": "negative"}
    encoding: str = "utf-8"
    hub_split: str = "train"            # split to read when `path` is a hub dataset
    balance: bool = False               # down-sample every class to the smallest one
    limit: int | None = None            # keep a seeded random sample of this many rows (quick runs)
    # More labelled files that go into the TRAINING split only (same columns / label map; their labels must be
    # in the label set, a binary set fits a 3-class one). Validation and test stay drawn from `path` alone, so
    # the model is chosen and measured on the data the bot serves; extra texts that also occur in validation
    # or test are dropped (no leak). Sets registered eval-only (finetune/dataset_registry.py) are refused here and
    # as `path` (finetune/dataset_guard.py).
    extra_train: list[str] = field(default_factory=list)
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    max_length: int = 128
    # Long texts (reviews) are cut into chunks of max_length tokens (overlapping by chunk_stride) instead of
    # truncated; each chunk carries the text's label, at most max_chunks per text (the first ones).
    chunk_long: bool = False
    max_chunks: int = 4
    chunk_stride: int = 16
    seed: int = 42


@dataclass
class LoraSettings:
    rank: int = 8
    alpha: int = 16
    dropout: float = 0.1
    # "all-linear" = every Linear layer of the encoder; or a comma list such as "q_lin,v_lin".
    # The classification head is always excluded from LoRA and trained in full (PEFT modules_to_save).
    target_modules: str = "all-linear"
    # Also train every LayerNorm (gain and bias) in full, saved with the adapter through PEFT modules_to_save so
    # they reach the merged model: ~10k more parameters on the multilingual base, +0.05 macro-F1 at one small
    # budget in bench/train_speed --compare (README, Benchmarks).
    train_layer_norms: bool = False
    # Keep the bottom N transformer layers exactly as pretrained: LoRA goes on the layers above them only (PEFT
    # layers_to_transform), so the backward pass stops there too. Freezing the lower layers of a multilingual
    # encoder is known to help zero-shot cross-lingual transfer (Wu & Dredze 2019, mBERT); measured on ours in
    # README, "Training only the upper layers". 0 = every layer. With train_layer_norms, only the learning layers'
    # LayerNorms train. Linear layers outside the numbered ones (a hub BERT's pooler) stay as pretrained.
    frozen_layers: int = 0


@dataclass
class TrainSettings:
    epochs: int = 3
    batch_size: int = 32
    eval_batch_size: int = 128
    learning_rate: float = 5e-4         # LoRA tolerates (and needs) a higher rate than full fine-tuning
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    gradient_accumulation_steps: int = 1
    max_grad_norm: float = 1.0
    mixed_precision: str = "auto"       # auto = bf16 on a GPU that supports it, else fp32; or no / fp16 / bf16
    early_stopping_patience: int = 2    # epochs without macro-F1 improvement before stopping
    seed: int = 42
    cpu_threads: int | None = None      # torch.set_num_threads; default: torch's own choice
    checkpoint_minutes: float = 10.0    # also checkpoint mid-epoch this often (0 = only after each epoch)
    # Distillation (`feedbackbot distill`): KL divergence to the teacher's probabilities softened by this
    # temperature (scaled by T^2), plus distill_alpha x cross-entropy on the hard label.
    distill_temperature: float = 2.0
    distill_alpha: float = 0.0


@dataclass
class FinetuneConfig:
    base: str = "default"               # "default" (embedded MiniLM in DistilBERT form), a local dir, or a hub id
    out: str = "runs/latest"
    # Keep only the bottom N transformer layers of the base and drop those above (0 = keep every layer): a shallower
    # model is faster in proportion (serving and training cost is per layer, bench/reply_parts.py). Dropping the
    # top layers of a pretrained encoder before fine-tuning keeps most of its accuracy (Sajjad et al. 2023, "On
    # the effect of dropping layers of pre-trained transformer models"); measured on ours in README,
    # "A shallower model". The merged model directory records its depth, so any loader reads it as it is.
    keep_layers: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    lora: LoraSettings = field(default_factory=LoraSettings)
    train: TrainSettings = field(default_factory=TrainSettings)
    resume: bool = False
    target_precision: float = 0.95      # confident replies must reach this precision on validation
    merge_tolerance: float = 1e-4       # max |merged - adapter| logit difference accepted
