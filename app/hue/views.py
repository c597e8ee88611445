"""Hue v1 views (thin: the logic lives in app.hue.service)."""
