"""``python -m services.notifier``: serve the notifier (configured by environment variables)."""

from services.notifier.app import create_app
from shared.infra.logs import configure_logging
from shared.infra.settings import Settings
from shared.infra.web import run


def main() -> None:
    settings = Settings()
    configure_logging("notifier", settings.log_level)
    run(create_app(settings), settings.notifier_port, settings.http_host, settings.shutdown_timeout_seconds)


if __name__ == "__main__":
    main()
