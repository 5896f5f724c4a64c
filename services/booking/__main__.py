"""``python -m services.booking``: serve the booking service (configured by environment variables)."""

from services.booking.app import create_app
from shared.infra.web import serve

if __name__ == "__main__":
    serve("booking", create_app)
