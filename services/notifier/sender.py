"""The sending loop: sends the deliveries that are due, and stores the reminders' messages when they are.

Each delivery is sent, and its outcome stored, on its own: nothing one of them raises (hostile text, a
message that cannot be built, a refusing server) reaches the others. Passing failures are retried with
growing delay, permanent ones recorded as failed for an admin to see (the rules are ``Delivery``'s).
On stop, sends under way finish and the rest of the batch is handed back, due again at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from prometheus_client import Counter, Gauge

from services.notifier.compose import reminder_messages
from services.notifier.domain import LEASE, Delivery, Email, Failed, Outcome, Retry, Sent, UnreadableMessage
from services.notifier.errors import PermanentDeliveryError, TransientDeliveryError
from services.notifier.mailer import Mailer
from services.notifier.mime import build_mime
from services.notifier.sms import SmsProvider
from services.notifier.store import DeliveryStore
from shared.infra.faults import is_unavailable
from shared.infra.poller import Poller
from shared.text.clean import one_line

log = logging.getLogger(__name__)

# How long a send's outcome may wait for the database: well inside the claim's lease.
RECORD_PATIENCE = LEASE * 3 / 4

DELIVERIES = Counter(
    "notifier_deliveries_total", "Delivery attempts by channel, kind and outcome", ["channel", "kind", "outcome"]
)
FAILED = Gauge("notifier_deliveries_failed", "Deliveries that failed for good in this process's lifetime")
REMINDERS = Counter("notifier_reminders_total", "Reminders handled", ["outcome"])


def utc_now() -> datetime:
    return datetime.now(UTC)


class Sender:
    def __init__(
        self,
        store: DeliveryStore,
        *,
        mailer: Mailer,
        sms: SmsProvider,
        mail_from: str,
        retry_delays: tuple[float, ...],
        poll_seconds: float,
        concurrency: int = 8,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._store = store
        self._mailer = mailer
        self._sms = sms
        self._mail_from = mail_from
        self._delays = retry_delays
        self._poll = poll_seconds
        self._limit = asyncio.Semaphore(concurrency)
        self._clock = clock
        self._stopping = False
        self._poller = Poller("sender", self._one_pass, interval=poll_seconds)
        self._reminders_at = 0.0

    def wake(self) -> None:
        self._poller.wake()

    async def run(self) -> None:
        await self._poller.run()

    def stop(self) -> None:
        """Start no new sends; those under way finish, the rest of the batch is handed back."""
        self._stopping = True
        self._poller.stop()

    async def _one_pass(self) -> int:
        if self._stopping:
            return 0
        done = await self.send_due()
        # Reminders are due days ahead: look for them once per poll interval, not after every pass
        # (each look is a database round trip, and passes follow each other under load).
        now = asyncio.get_running_loop().time()
        if now >= self._reminders_at:
            self._reminders_at = now + self._poll
            done += await self.remind_due()
        return done

    # --- deliveries ----------------------------------------------------------------------------------

    async def send_due(self) -> int:
        """Claim a batch of due deliveries and send them; each one's outcome is stored on its own."""
        batch = await self._store.claim_due(self._clock())
        if not batch.deliveries:
            return 0
        unsent = {delivery.id for delivery in batch.deliveries}
        try:
            await asyncio.gather(*(self._send(delivery, batch.claim, unsent) for delivery in batch.deliveries))
        finally:
            if unsent:  # stopping (or cancelled by the shutdown's deadline): due again at once, for any replica
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._store.release(unsent, batch.claim, self._clock()), 5)
        return len(batch.deliveries)

    async def _send(self, delivery: Delivery, claim: str, unsent: set[str]) -> None:
        """Send one delivery and store its outcome. Nothing it raises reaches the other deliveries."""
        async with self._limit:
            if self._stopping:
                return
            outcome: Outcome
            try:
                await self._deliver(delivery)
                outcome = Sent(self._clock())
            except TransientDeliveryError as exc:
                outcome = delivery.after_passing_failure(exc.reason, self._clock(), self._delays)
            except PermanentDeliveryError as exc:
                outcome = Failed(self._clock(), exc.reason)
            except Exception as exc:  # a message that cannot even be built: retrying will not help
                log.exception("delivery could not be built", extra={"delivery": delivery.id})
                outcome = Failed(self._clock(), f"could not build the message: {type(exc).__name__}")
            await self._record(delivery, claim, outcome)
            unsent.discard(delivery.id)

    async def _deliver(self, delivery: Delivery) -> None:
        message = delivery.message
        if message is None:
            raise UnreadableMessage(delivery.id)
        if isinstance(message, Email):
            stable_id = hashlib.sha256(delivery.id.encode()).hexdigest()[:32]
            await self._mailer.send(
                build_mime(message, mail_from=self._mail_from, message_id=f"<{stable_id}@inspiration-booking>")
            )
        else:
            # Stored text may predate the intake's character rules: an SMS is one clean line.
            await self._sms.send(one_line(message.to), one_line(message.text))

    async def _record(self, delivery: Delivery, claim: str, outcome: Outcome) -> None:
        """Store what happened to one delivery. While the database is away this waits and tries
        again for most of the claim's lease: a sent mail recorded late is better than one sent twice."""
        give_up = asyncio.get_running_loop().time() + RECORD_PATIENCE.total_seconds()
        wait = 0.2
        while True:
            try:
                await self._store.record(delivery, claim, outcome)
                break
            except Exception as exc:
                if not is_unavailable(exc) or asyncio.get_running_loop().time() > give_up:
                    # The claim runs out and the delivery is tried again: at worst one duplicate.
                    log.exception("could not record a delivery's outcome", extra={"delivery": delivery.id})
                    return
                await asyncio.sleep(wait)
                wait = min(wait * 2, 5)
        if isinstance(outcome, Retry):
            log.warning(
                "delivery failed, retrying at %s: %s", outcome.at, outcome.reason, extra={"delivery": delivery.id}
            )
        elif isinstance(outcome, Failed):
            FAILED.inc()
            log.error(
                "delivery failed for good: %s",
                outcome.reason,
                extra={"delivery": delivery.id, "booking_id": delivery.booking_id, "kind": delivery.kind},
            )
        DELIVERIES.labels(delivery.channel, delivery.kind, outcome.name).inc()

    # --- reminders -----------------------------------------------------------------------------------

    async def remind_due(self) -> int:
        """Store the messages of every due reminder as deliveries (once per move of the talk)."""
        handled = 0
        while (reminder := await self._store.claim_reminder(self._clock())) is not None:
            handled += 1
            if reminder.too_late(self._clock()):
                await self._store.reminder_done(reminder, "skipped")
                REMINDERS.labels("skipped").inc()
                continue
            now = self._clock()
            messages = reminder_messages(reminder.booking_id, reminder.booking, reminder.slot, reminder.status_url)
            await self._store.add([Delivery.new(reminder.event_id, reminder.booking_id, m, now) for m in messages])
            await self._store.reminder_done(reminder, "sent")
            REMINDERS.labels("queued").inc()
        return handled
