"""``python -m services.notifier``: serve the notifier (configured by environment variables)."""

from services.notifier.app import create_app
from shared.logs import configure_logging
from shared.service import run
from shared.settings import Settings


def main() -> None:
    settings = Settings()
    configure_logging("notifier", settings.log_level)
    run(create_app(settings), settings.notifier_port, settings.http_host, settings.shutdown_timeout_seconds)


if __name__ == "__main__":
    main()
