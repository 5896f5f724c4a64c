"""``python -m services.scheduler``: serve the scheduler service (configured by environment variables)."""

from services.scheduler.app import create_app
from shared.infra.web import serve

if __name__ == "__main__":
    serve("scheduler", create_app)
