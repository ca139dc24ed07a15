"""feedbackbot.finetune: turn labelled text + a pretrained encoder into a merged, calibrated classifier.

The output is a *model directory* (the contract between training and the bot): a standard Hugging Face
model (config with id2label, model.safetensors, tokenizer) plus ``feedbackbot.json`` (temperature,
thresholds, labels, metrics, provenance) and a README model card.
"""
