"""What the notifier does: turn events into stored deliveries, then send what is due.

``on_event`` (the consumer's handler) only stores: the deliveries an event calls for and the
booking's reminder. ``Sender.run`` sends due deliveries and reminders, retrying passing failures
with growing delay and recording permanent ones as failed, for an admin to see.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from prometheus_client import Counter, Gauge

from services.notifier.compose import Email, messages_for, reminder_messages
from services.notifier.deliveries import LEASE, DeliveryStore, Document, to_message
from services.notifier.errors import PermanentDeliveryError, TransientDeliveryError
from services.notifier.mailer import SmtpMailer
from services.notifier.mime import build_mime
from services.notifier.sms import SmsProvider
from shared.contracts.events import BookingCancelled, BookingRescheduled, BookingScheduled, Event
from shared.contracts.models import BookingDetails, Slot
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


class Notifier:
    def __init__(
        self,
        store: DeliveryStore,
        *,
        mail_from: str,
        reminder_before: timedelta,
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self._store = store
        self._mail_from = mail_from
        self._reminder_before = reminder_before
        self._wake = wake

    async def on_event(self, event: Event) -> None:
        now = datetime.now(UTC)
        messages = messages_for(event, mail_from=self._mail_from, now=now)
        await self._store.add(str(event.event_id), event.correlation_id, messages, now)
        data = event.data
        if isinstance(event, BookingScheduled | BookingRescheduled):
            slot = event.data.slot
            await self._store.schedule_reminder(
                event.correlation_id,
                event.data.booking,
                slot,
                event.data.status_url,
                event.data.sequence,
                slot.start - self._reminder_before,
            )
        elif isinstance(event, BookingCancelled):
            await self._store.drop_reminder(event.correlation_id, getattr(data, "sequence", 0))
        if messages:
            self._wake()


class Sender:
    def __init__(
        self,
        store: DeliveryStore,
        *,
        mailer: SmtpMailer,
        sms: SmsProvider,
        mail_from: str,
        retry_delays: tuple[float, ...],
        poll_seconds: float,
        concurrency: int = 8,
    ) -> None:
        self._store = store
        self._mailer = mailer
        self._sms = sms
        self._mail_from = mail_from
        self._delays = retry_delays
        self._poll = poll_seconds
        self._limit = asyncio.Semaphore(concurrency)
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

    async def send_due(self) -> int:
        """Claim a batch of due deliveries and send them; each one's outcome is stored on its own."""
        docs, token = await self._store.claim_due(datetime.now(UTC))
        if not docs:
            return 0
        unsent = {doc["_id"] for doc in docs}
        try:
            await asyncio.gather(*(self._send(doc, token, unsent) for doc in docs))
        finally:
            if unsent:  # stopping (or cancelled by the shutdown's deadline): due again at once, for any replica
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._store.release(unsent, token, datetime.now(UTC)), 5)
        return len(docs)

    async def _send(self, doc: Document, token: str, unsent: set[str]) -> None:
        """Send one delivery and store its outcome. Nothing it raises reaches the other deliveries."""
        outcome, reason = "sent", ""
        async with self._limit:
            if self._stopping:
                return
            try:
                await self._deliver(doc)
            except TransientDeliveryError as exc:
                outcome, reason = "retry", exc.reason
            except PermanentDeliveryError as exc:
                outcome, reason = "failed", exc.reason
            except Exception as exc:  # a message that cannot even be built: retrying will not help
                log.exception("delivery could not be built", extra={"delivery": doc["_id"]})
                outcome, reason = "failed", f"could not build the message: {type(exc).__name__}"
            await self._record(doc, token, outcome, reason)
            unsent.discard(doc["_id"])

    async def _deliver(self, doc: Document) -> None:
        message = to_message(doc)
        if isinstance(message, Email):
            stable_id = hashlib.sha256(doc["_id"].encode()).hexdigest()[:32]
            await self._mailer.send(
                build_mime(message, mail_from=self._mail_from, message_id=f"<{stable_id}@inspiration-booking>")
            )
        else:
            # Stored text may predate the intake's character rules: an SMS is one clean line.
            await self._sms.send(one_line(message.to), one_line(message.text))

    async def _record(self, doc: Document, token: str, outcome: str, reason: str) -> None:
        """Store what happened to one delivery. While the database is away this waits and tries
        again for most of the claim's lease: a sent mail recorded late is better than one sent twice."""
        now = datetime.now(UTC)
        give_up = asyncio.get_running_loop().time() + RECORD_PATIENCE.total_seconds()
        wait = 0.2
        while True:
            try:
                if outcome == "sent":
                    await self._store.mark_sent(doc, token, now)
                elif outcome == "retry":
                    outcome = await self._retry_or_fail(doc, token, reason)
                else:
                    await self._store.mark_failed(doc, token, reason, now)
                break
            except Exception as exc:
                if not is_unavailable(exc) or asyncio.get_running_loop().time() > give_up:
                    # The claim runs out and the delivery is tried again: at worst one duplicate.
                    log.exception("could not record a delivery's outcome", extra={"delivery": doc["_id"]})
                    return
                await asyncio.sleep(wait)
                wait = min(wait * 2, 5)
        if outcome == "failed":
            FAILED.inc()
            log.error(
                "delivery failed for good: %s",
                reason,
                extra={"delivery": doc["_id"], "booking_id": doc["booking_id"], "kind": doc["kind"]},
            )
        DELIVERIES.labels(doc["channel"], doc["kind"], outcome).inc()

    async def _retry_or_fail(self, doc: Document, token: str, reason: str) -> str:
        attempt = doc.get("attempts", 0)
        now = datetime.now(UTC)
        if attempt >= len(self._delays):
            await self._store.mark_failed(doc, token, f"gave up after {attempt + 1} attempts: {reason}", now)
            return "failed"
        log.warning(
            "delivery failed, retrying in %ss: %s", self._delays[attempt], reason, extra={"delivery": doc["_id"]}
        )
        await self._store.mark_retry(doc, token, reason, now + timedelta(seconds=self._delays[attempt]))
        return "retry"

    async def remind_due(self) -> int:
        handled = 0
        while (reminder := await self._store.claim_reminder(datetime.now(UTC))) is not None:
            handled += 1
            slot = Slot.model_validate(reminder["slot"])
            if slot.start <= datetime.now(UTC):
                await self._store.reminder_done(reminder, "skipped")
                REMINDERS.labels("skipped").inc()
                continue
            booking = BookingDetails.model_validate(reminder["booking"])
            messages = reminder_messages(reminder["_id"], booking, slot, reminder["status_url"])
            key = f"reminder:{reminder['_id']}:{reminder['sequence']}"
            await self._store.add(key, reminder["_id"], messages, datetime.now(UTC))
            await self._store.reminder_done(reminder, "sent")
            REMINDERS.labels("queued").inc()
        return handled
