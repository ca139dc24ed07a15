"""Response templates (package data): one Jinja2 file per reply kind; see bot/render.py."""
