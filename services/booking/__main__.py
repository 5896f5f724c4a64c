"""``python -m services.booking``: serve the booking service (configured by environment variables)."""

from services.booking.app import create_app
from shared.logs import configure_logging
from shared.service import run
from shared.settings import Settings


def main() -> None:
    settings = Settings()
    configure_logging("booking", settings.log_level)
    run(create_app(settings), settings.booking_port, settings.http_host, settings.shutdown_timeout_seconds)


if __name__ == "__main__":
    main()
