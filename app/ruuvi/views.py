"""Ruuvi views (thin: the logic lives in app.ruuvi.service)."""
