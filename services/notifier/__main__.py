"""``python -m services.notifier``: serve the notifier service (configured by environment variables)."""

from services.notifier.app import create_app
from shared.infra.web import serve

if __name__ == "__main__":
    serve("notifier", create_app)
