"""E-mail outbox sender (see the Ruuvi issue)."""


def init_app(app) -> None:
    """Bind the mail sender to ``app``."""
