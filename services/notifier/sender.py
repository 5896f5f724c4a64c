"""The sending loop: sends the deliveries that are due, and stores the reminders' messages when they are.

Each delivery is sent, and its outcome stored, on its own: nothing one of them raises (hostile text, a
message that cannot be built, a refusing server) reaches the others. Passing failures are retried with
growing delay, permanent ones recorded as failed for an admin to see (the rules are ``Delivery``'s).
On stop, sends under way finish and the rest is handed back, due again at once.

Outcomes are written in groups (``_Recorder``): every outcome is its own update, but the updates of
the sends that ended while the previous write was under way go to the database in one round trip.
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
from services.notifier.store import Attempt, Batch, DeliveryStore
from shared.infra.faults import is_unavailable
from shared.infra.grouped import Grouped
from shared.infra.poller import Poller
from shared.text.clean import one_line

log = logging.getLogger(__name__)

# How long a send's outcome may wait for the database: well inside the claim's lease.
RECORD_PATIENCE = LEASE * 3 / 4
# Sent deliveries that may wait for the write of their outcome, per send at once: the writes come one
# after the other, each taking tens of milliseconds under load, while a send takes a few.
UNRECORDED_PER_SEND = 4
# How long a send's outcome waits for others to be written with (the database's cost is per statement).
RECORD_GATHER = 0.05
# A claimed delivery not started within this is handed back instead: its claim is running out.
SEND_WITHIN = LEASE / 2
# How long handing back the unsent rest may take on shutdown.
RELEASE_PATIENCE = 5.0

DELIVERIES = Counter(
    "notifier_deliveries_total", "Delivery attempts by channel, kind and outcome", ["channel", "kind", "outcome"]
)
FAILED = Gauge("notifier_deliveries_failed", "Deliveries that failed for good in this process's lifetime")
REMINDERS = Counter("notifier_reminders_total", "Reminders handled", ["outcome"])


def utc_now() -> datetime:
    return datetime.now(UTC)


class Sender:
    """Sends deliveries as they come: those the store hands over as it stores them (already claimed for
    this sender, so no query is needed to find them), and those a poll claims (retries that fell due,
    deliveries released or left by another sender, an admin's retry). At most ``concurrency`` sends run
    at once; a slow one holds up no other, and a poll claims more as soon as there is room."""

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
        self._unrecorded = asyncio.Semaphore(UNRECORDED_PER_SEND * concurrency)
        self._room = 2 * concurrency  # deliveries a poll may hold claimed: those sending and the next ones
        self._clock = clock
        self._stopping = False
        self._poller = Poller("sender", self._one_pass, interval=poll_seconds)
        self._reminders_at = 0.0
        self._recorder = _Recorder(store)
        self._batches: set[asyncio.Task[None]] = set()
        self._held = 0  # deliveries claimed and not yet done with
        self._freed = asyncio.Event()

    def wake(self) -> None:
        self._poller.wake()

    def hand(self, batch: Batch) -> None:
        """Deliveries just stored, claimed for this sender: send them now."""
        if not batch.deliveries:
            return
        task = asyncio.get_running_loop().create_task(self._send_batch(batch), name="send-handed")
        self._batches.add(task)
        task.add_done_callback(self._batches.discard)

    async def run(self) -> None:
        try:
            await self._poller.run()
            if self._batches:  # sends under way finish; the rest of each batch is handed back
                await asyncio.wait(set(self._batches))
        finally:  # cut off by the shutdown's deadline: what did not go out is handed back
            for task in self._batches:
                task.cancel()
            if self._batches:
                await asyncio.wait(set(self._batches), timeout=RELEASE_PATIENCE)

    def stop(self) -> None:
        """Start no new sends; those under way finish, the rest is handed back."""
        self._stopping = True
        self._freed.set()
        self._poller.stop()

    async def _one_pass(self) -> int:
        if self._stopping:
            return 0
        done = await self._claim_more()
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
        await self._send_batch(batch)
        return len(batch.deliveries)

    async def _claim_more(self) -> int:
        """Claim due deliveries as far as there is room, and start sending them (without waiting for them)."""
        while self._held >= self._room and not self._stopping:
            self._freed.clear()
            await self._freed.wait()
        if self._stopping:
            return 0
        batch = await self._store.claim_due(self._clock(), limit=self._room - self._held)
        if batch.deliveries:
            self.hand(batch)
        return len(batch.deliveries)

    async def _send_batch(self, batch: Batch) -> None:
        unsent = {delivery.id for delivery in batch.deliveries}
        self._held += len(unsent)
        try:
            await asyncio.gather(*(self._send(delivery, batch, unsent) for delivery in batch.deliveries))
        finally:
            self._held -= len(batch.deliveries)
            self._freed.set()
            if unsent:  # stopping (or cancelled by the shutdown's deadline): due again at once, for any replica
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._store.release(unsent, batch.claim, self._clock()), RELEASE_PATIENCE)
                self.wake()

    async def _send(self, delivery: Delivery, batch: Batch, unsent: set[str]) -> None:
        """Send one delivery and store its outcome. Nothing it raises reaches the other deliveries."""
        async with self._limit:  # at most ``concurrency`` sends at once
            if self._stopping or (batch.claimed_at is not None and self._clock() > batch.claimed_at + SEND_WITHIN):
                return  # handed back: another sender may hold it by now, or soon will
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
            unsent.discard(delivery.id)
            # And a bounded number of sent ones waiting for their outcome's write (a full wait holds this
            # slot, so no new send starts): a crash re-sends at most (1 + UNRECORDED_PER_SEND) * concurrency.
            await self._unrecorded.acquire()
        try:
            await self._record(Attempt(delivery, batch.claim, outcome))
        finally:
            self._unrecorded.release()

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

    async def _record(self, attempt: Attempt) -> None:
        """Store what happened to one delivery (written together with the outcomes of the sends that
        ended meanwhile; each is its own update)."""
        if not await self._recorder.record(attempt):
            return  # the claim runs out and the delivery is tried again: at worst one duplicate
        delivery, outcome = attempt.delivery, attempt.outcome
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


class _Recorder:
    """Writes the outcomes of sends in groups (``shared.infra.grouped``): each write holds every outcome
    that came in while the write before it was under way, or within ``RECORD_GATHER`` before it (a
    booking's e-mail, SMS and invite end within tens of milliseconds of each other), so one database
    write records many sends. Each send waits for its own outcome's write."""

    def __init__(self, store: DeliveryStore) -> None:
        self._store = store
        self._grouped: Grouped[Attempt, bool] = Grouped(self._write, gather=RECORD_GATHER)

    async def record(self, attempt: Attempt) -> bool:
        """True once the outcome is stored; False if the database stayed away too long (logged)."""
        [stored] = await self._grouped.submit([attempt])
        return stored

    async def _write(self, attempts: list[Attempt]) -> list[bool]:
        """While the database is away this waits and tries again for most of the claims' lease: a sent
        mail recorded late is better than one sent twice."""
        give_up = asyncio.get_running_loop().time() + RECORD_PATIENCE.total_seconds()
        wait = 0.2
        while True:
            try:
                await self._store.record(attempts)
                return [True] * len(attempts)
            except Exception as exc:
                if not is_unavailable(exc) or asyncio.get_running_loop().time() > give_up:
                    log.exception(
                        "could not record the outcome of %d deliveries", len(attempts),
                        extra={"deliveries": [a.delivery.id for a in attempts]},
                    )
                    return [False] * len(attempts)
                await asyncio.sleep(wait)
                wait = min(wait * 2, 5)
