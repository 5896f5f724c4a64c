"""``python -m services.booking``: serve the booking service (configured by environment variables)."""

from services.booking.app import create_app
from shared.infra.logs import configure_logging
from shared.infra.settings import Settings
from shared.infra.web import run


def main() -> None:
    settings = Settings()
    configure_logging("booking", settings.log_level)
    run(create_app(settings), settings.booking_port, settings.http_host, settings.shutdown_timeout_seconds)


if __name__ == "__main__":
    main()
