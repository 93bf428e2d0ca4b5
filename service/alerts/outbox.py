"""The webhook delivery worker: drains the outbox, signs each alert per Standard Webhooks, refuses
private targets, and retries with backoff, so an alert outlives a failing receiver or a restart."""

import ipaddress
import json
import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any
from uuid import UUID

import httpx2 as httpx
from standardwebhooks import Webhook as Signer

from service.access.actors import SYSTEM
from service.alerts import webhooks
from service.alerts.sealed import SecretUnreadable
from service.errors import InvalidInput
from service.runtime import Runtime
from storage.db import transaction
from storage.repositories import webhooks as webhooks_repo
from storage.types import utcnow

log = logging.getLogger(__name__)

# Retries after 1x, 2x, 4x ... the base delay (LEAKSENTINEL_WEBHOOK_RETRY_BASE_SECONDS), then the
# delivery fails: with the default minute, the last try comes about two hours after the first.
MAX_ATTEMPTS = 8
# A claimed delivery is hidden from other workers this long. It only matters when a worker dies
# mid-attempt: the row then becomes due again and another worker retries it.
LEASE = timedelta(minutes=2)
# Short, so that one slow receiver holds up the others for seconds only.
TIMEOUT = httpx.Timeout(5.0, connect=3.0)
# Addresses tried per attempt when the first refuses the connection (IPv6 and IPv4, say).
MAX_ADDRESSES = 3
# How long an idle worker pauses after an unexpected error, so that a database outage is not
# logged once per poll.
ERROR_PAUSE_SECONDS = 5.0
DEFAULT_PORTS = {"http": 80, "https": 443}
USER_AGENT = "LeakSentinel-Webhooks/0.1"

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Claimed:
    delivery_id: UUID
    webhook_id: UUID
    attempt: int  # 1 for the first attempt
    url: str
    secret: str
    body: str


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        return self.status_code == 410


def refusal(address: str) -> str | None:
    """Why an alert may not go to `address`, or None if it is a public unicast address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone does not change the host
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    kinds = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
        ("non-public", not ip.is_global),
    )
    for kind, applies in kinds:
        if applies:
            return f"{kind} address {ip}"
    return None


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, in the resolver's order, without repeats."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in found))


def backoff(runtime: Runtime, attempt: int) -> timedelta:
    return timedelta(seconds=runtime.settings.webhook_retry_base_seconds * 2 ** (attempt - 1))


class OutboxWorker:
    """Delivers due alerts one at a time. Any number of workers, in any number of processes, may
    share a database: each claim is a short transaction that hides the row from the others.

    It keeps wall-clock time, not the runtime's clock: retries wait real time at a remote
    receiver, and the signature's timestamp must fall within the receiver's tolerance."""

    def __init__(self, runtime: Runtime, *, clock: Clock = utcnow) -> None:
        self.runtime = runtime
        self.clock = clock

    @cached_property
    def _http(self) -> httpx.Client:
        """Made at the first delivery, not at start: loading the CA bundle takes ~40 ms, paid
        by every process start even where no endpoint is ever registered."""
        # Redirects are not followed and the environment's proxies are not used: either would
        # send the alert somewhere the address check did not see. No connection is kept alive,
        # since connections go to a checked address and a reused one could carry another host.
        return httpx.Client(
            timeout=TIMEOUT,
            follow_redirects=False,
            trust_env=False,
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    def close(self) -> None:
        if "_http" in self.__dict__:
            self._http.close()

    def __enter__(self) -> "OutboxWorker":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def run(self, stop: threading.Event) -> None:
        """Delivers until `stop` is set, looking for due deliveries every poll interval."""
        poll = self.runtime.settings.outbox_poll_seconds
        log.info("outbox worker started (polling every %g s)", poll)
        while not stop.is_set():
            pause = poll
            try:
                self.deliver_due(stop)
            except Exception:
                log.exception("outbox worker: a round failed; trying again shortly")
                pause = max(poll, ERROR_PAUSE_SECONDS)
            stop.wait(pause)
        log.info("outbox worker stopped")

    def deliver_due(self, stop: threading.Event | None = None) -> int:
        """Makes one attempt at every delivery due now; returns how many attempts it made."""
        # Only what was due when the round began: a retry whose backoff runs out during the
        # round waits for the next one, so an endpoint failing fast cannot hold the round.
        round_began = self.clock()
        attempts = 0
        while stop is None or not stop.is_set():
            claimed = self.claim(due_by=round_began)
            if claimed is None:
                break
            try:
                outcome = self.attempt(claimed)
            except Exception as exc:  # recorded as the attempt's error; the round goes on
                log.exception("outbox worker: delivery %s failed unexpectedly", claimed.delivery_id)
                outcome = Outcome(None, f"{type(exc).__name__}: {exc}")
            self.settle(claimed, outcome)
            attempts += 1
        return attempts

    def claim(self, due_by: datetime | None = None) -> Claimed | None:
        """The next delivery due by `due_by` (default now), leased to this worker and its attempt
        counted; None if none is due. Deliveries that can no longer be attempted are failed on
        the way."""
        with transaction(self.runtime.sessions) as session:
            while True:
                now = self.clock()
                found = webhooks_repo.next_due(session, now if due_by is None else min(due_by, now))
                if found is None:
                    return None
                delivery, hook = found
                seen = delivery.attempts
                if hook.status != webhooks.ACTIVE:
                    reason = f"endpoint disabled: {hook.disabled_reason or 'no reason given'}"
                    webhooks_repo.settle(
                        session, delivery.id, attempts=seen, status="failed", last_error=reason
                    )
                    continue
                if seen >= MAX_ATTEMPTS:
                    # The last attempt's worker died before it could record the outcome.
                    error = f"gave up after {seen} attempts; the last one was interrupted"
                    webhooks_repo.settle(
                        session, delivery.id, attempts=seen, status="failed", last_error=error
                    )
                    continue
                claimed = Claimed(
                    delivery_id=delivery.id,
                    webhook_id=hook.id,
                    attempt=seen + 1,
                    url=hook.url,
                    secret=hook.secret,
                    body=json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False),
                )
                leased = webhooks_repo.lease(
                    session, delivery.id, seen_attempts=seen, now=now, until=now + LEASE
                )
                if leased:
                    return claimed
                # Another worker claimed it between the read and the lease (SQLite only): none
                # of ours, and the next read no longer sees it.

    def attempt(self, claimed: Claimed) -> Outcome:
        """One signed POST of the stored payload, to an address checked just before."""
        try:
            url = webhooks.target(claimed.url)  # stored before registration parsed it this way
        except InvalidInput as exc:
            return Outcome(None, str(exc))
        try:
            secret = self.runtime.sealer.unseal(claimed.secret)
        except SecretUnreadable as exc:
            return Outcome(None, str(exc))
        host = url.raw_host.decode("ascii")
        try:
            addresses = resolve(host, url.port or DEFAULT_PORTS[url.scheme])
        except OSError as exc:
            return Outcome(None, f"cannot resolve {host}: {exc}")
        if not self.runtime.settings.webhook_allow_private_targets:
            for address in addresses:
                if why := refusal(address):
                    return Outcome(
                        None,
                        f"refused {host}: {why}; set LEAKSENTINEL_WEBHOOK_ALLOW_PRIVATE_TARGETS"
                        "=true to allow private targets",
                    )
        headers = self._headers(claimed, url, secret)
        # TLS still verifies the certificate against the host name, not the address.
        extensions: dict[str, Any] = {"sni_hostname": host} if url.scheme == "https" else {}
        error = f"{host} has no address"
        for address in addresses[:MAX_ADDRESSES]:
            try:
                with self._http.stream(
                    "POST",
                    url.copy_with(host=address),
                    content=claimed.body.encode(),
                    headers=headers,
                    extensions=extensions,
                ) as response:
                    return Outcome(response.status_code, _status_error(response.status_code))
            except httpx.ConnectError as exc:
                error = f"cannot connect to {host} ({address}): {exc}"
            except httpx.TimeoutException as exc:
                return Outcome(None, f"{host} timed out ({type(exc).__name__})")
            except httpx.HTTPError as exc:
                return Outcome(None, f"{host}: {type(exc).__name__}: {exc}")
        return Outcome(None, error)

    def _headers(self, claimed: Claimed, url: httpx.URL, secret: str) -> dict[str, str]:
        # The id is the delivery's, the same on every retry, so that receivers can deduplicate.
        msg_id = str(claimed.delivery_id)
        timestamp = int(self.clock().timestamp())
        signature = Signer(secret).sign(
            msg_id, datetime.fromtimestamp(timestamp, UTC), claimed.body
        )
        return {
            "host": url.netloc.decode("ascii"),
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature,
        }

    def settle(self, claimed: Claimed, outcome: Outcome) -> None:
        """Records the attempt: delivered, retried later, failed for good, or (410) the endpoint
        disabled with every delivery it still had pending."""
        now = self.clock()
        code, error = outcome.status_code, (outcome.error or "")[:500] or None
        with transaction(self.runtime.sessions) as session:
            if outcome.delivered:
                values: dict[str, Any] = {"status": "delivered", "delivered_at": now}
            elif outcome.gone or claimed.attempt >= MAX_ATTEMPTS:
                values = {"status": "failed"}
                if not outcome.gone:
                    error = f"{error}; gave up after {claimed.attempt} attempts"[:500]
            else:
                values = {"next_attempt_at": now + backoff(self.runtime, claimed.attempt)}
            settled = webhooks_repo.settle(
                session,
                claimed.delivery_id,
                attempts=claimed.attempt,
                last_status_code=code,
                last_error=error,
                **values,
            )
            if settled and outcome.gone:
                hook = webhooks_repo.get(session, claimed.webhook_id, for_update=True)
                if hook is not None and hook.status == webhooks.ACTIVE:
                    reason = f"the endpoint answered 410 Gone on {now.isoformat()}"
                    webhooks.disable(session, SYSTEM, hook, reason, now)
        _log(claimed, outcome, values.get("status", "pending"))


def _status_error(code: int) -> str | None:
    if 200 <= code < 300:
        return None
    if code == 410:
        return "HTTP 410 Gone: the endpoint asked for no more alerts"
    if 300 <= code < 400:
        return f"HTTP {code}: redirects are not followed"
    return f"HTTP {code}"


def _log(claimed: Claimed, outcome: Outcome, status: str) -> None:
    if outcome.delivered:
        log.info("webhook delivery %s delivered (attempt %d)", claimed.delivery_id, claimed.attempt)
    else:
        log.warning(
            "webhook delivery %s attempt %d: %s; now %s",
            claimed.delivery_id,
            claimed.attempt,
            outcome.error,
            status,
        )


def start_background(runtime: Runtime) -> None:
    """Runs a worker in a thread of this process until the runtime closes."""
    stop = threading.Event()
    worker = OutboxWorker(runtime)

    def run() -> None:
        try:
            worker.run(stop)
        finally:
            worker.close()

    thread = threading.Thread(target=run, name="outbox-worker", daemon=True)

    def halt() -> None:
        stop.set()
        # One attempt at most is in flight, bounded by the HTTP timeouts.
        thread.join(timeout=30)
        if thread.is_alive():
            log.warning("the outbox worker did not stop in time; its lease will run out")

    runtime.background.append(halt)
    thread.start()


def run_until_stopped(runtime: Runtime, stop: threading.Event) -> None:
    """Runs a worker in this thread until `stop` is set: `leaksentinel worker`."""
    with OutboxWorker(runtime) as worker:
        worker.run(stop)
