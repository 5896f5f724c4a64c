"""The system's queues, one per consuming service, each bound to the event types of that service's
routing table (``HANDLERS``): adding an event to a service is one line in its table.

Every service declares all of them at start (see ``shared.infra.resources.amqp_ctx``), so an event
is never published before the queues of all its consumers exist.
"""

from __future__ import annotations

from services.booking.handlers import HANDLERS as BOOKING_HANDLERS
from services.notifier.handlers import HANDLERS as NOTIFIER_HANDLERS
from services.scheduler.handlers import HANDLERS as SCHEDULER_HANDLERS
from shared.infra.routing import consumer_queue

SCHEDULER_QUEUE = consumer_queue("scheduler.requests", SCHEDULER_HANDLERS)
BOOKING_STATUS_QUEUE = consumer_queue("booking.status", BOOKING_HANDLERS)
NOTIFIER_QUEUE = consumer_queue("notifier.messages", NOTIFIER_HANDLERS)
ALL_QUEUES = (SCHEDULER_QUEUE, BOOKING_STATUS_QUEUE, NOTIFIER_QUEUE)
