"""Prometheus metrics of one worker process, in a registry of its own (no module globals).

Labels are bounded: OC codes come from the partners file, statuses and reasons from fixed sets.
A reference or an id is never a label.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.messages_received = Counter(
            "worker_messages_received", "CR_STOC deliveries received", registry=r
        )
        self.messages_settled = Counter(
            "worker_messages_settled",
            "Deliveries settled, by outcome (accepted, duplicate, dead_lettered, requeued)",
            ["outcome"],
            registry=r,
        )
        self.messages_dead_lettered = Counter(
            "worker_messages_dead_lettered",
            "Deliveries sent to photos.cr_stoc.dead, by reason",
            ["reason"],
            registry=r,
        )
        self.partner_calls = Counter(
            "worker_partner_calls",
            "HTTP calls to OC APIs, by OC, operation and status (or error kind)",
            ["oc", "operation", "status"],
            registry=r,
        )
        self.partner_latency = Histogram(
            "worker_partner_call_seconds",
            "Time to the response headers of OC API calls",
            ["oc", "operation"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.photos_stored = Counter(
            "worker_photos_stored", "Photos written to storage", ["oc"], registry=r
        )
        self.photo_bytes = Counter(
            "worker_photo_bytes_stored", "Bytes of photos written to storage", ["oc"], registry=r
        )
        self.photos_refused = Counter(
            "worker_photos_refused", "Photos refused, by reason", ["oc", "reason"], registry=r
        )
        self.requests_finished = Counter(
            "worker_requests_finished",
            "Requests that reached a final status",
            ["oc", "status"],
            registry=r,
        )
        self.retries_scheduled = Counter(
            "worker_retries_scheduled",
            "Attempts that ended with a new attempt scheduled, by reason",
            ["oc", "reason"],
            registry=r,
        )
        self.requests_pending = Gauge(
            "worker_requests_pending", "Pending requests in the database", ["oc"], registry=r
        )
        self.oldest_pending_age = Gauge(
            "worker_oldest_pending_age_seconds",
            "Age of the oldest pending request",
            ["oc"],
            registry=r,
        )
        self.queue_messages = Gauge(
            "worker_queue_messages",
            "Messages ready in a RabbitMQ queue (photos.cr_stoc, photos.cr_stoc.dead)",
            ["queue"],
            registry=r,
        )
        self.outbox_unsent = Gauge(
            "worker_outbox_unsent", "Result events not yet confirmed by RabbitMQ", registry=r
        )
        self.ready = Gauge(
            "worker_ready",
            "1 when /readyz answers 200 (RabbitMQ consumer and PostgreSQL up)",
            registry=r,
        )
        self.in_flight = Gauge(
            "worker_attempts_in_flight", "Attempts running in this process", ["oc"], registry=r
        )
        self.errors = Counter(
            "worker_errors",
            "Infrastructure errors, by component (database, storage, broker, token)",
            ["component"],
            registry=r,
        )
        self.token_failures = Counter(
            "worker_token_failures",
            "Failed OAuth2 token fetches, by OC and kind (unreachable, error_status, bad_answer,"
            " invalid_client); all but invalid_client are retried",
            ["oc", "kind"],
            registry=r,
        )
        self.events_published = Counter(
            "worker_events_published", "Result events confirmed by the broker", registry=r
        )
        self.findings = Counter(
            "worker_findings",
            "Photo findings written with final statuses, by OC and kind",
            ["oc", "kind"],
            registry=r,
        )
        self.events_unroutable = Counter(
            "worker_events_unroutable",
            "Result events the broker returned: no queue is bound to their routing key",
            ["routing_key"],
            registry=r,
        )
        self.partner_blocked = Gauge(
            "worker_partner_blocked",
            "1 while an OC is not called because of its conditions of use, by reason"
            " (hours, quota, breaker)",
            ["oc", "reason"],
            registry=r,
        )
        self.breaker_open = Gauge(
            "worker_partner_breaker_open",
            "1 while an OC's circuit breaker is open (as this replica last read it)",
            ["oc"],
            registry=r,
        )
        self.quota_used = Gauge(
            "worker_partner_quota_used",
            "Calls made to an OC today (its quota's day)",
            ["oc"],
            registry=r,
        )
        self.quota_limit = Gauge(
            "worker_partner_quota_limit", "An OC's daily quota of calls", ["oc"], registry=r
        )
        self.rate_waited = Counter(
            "worker_partner_rate_wait_seconds",
            "Time calls waited for their turn under an OC's rate limit",
            ["oc"],
            registry=r,
        )
        self.deferred = Counter(
            "worker_requests_deferred",
            "Requests moved later by an OC's conditions of use, without spending an attempt,"
            " by reason (hours, quota, breaker)",
            ["oc", "reason"],
            registry=r,
        )
        self.over_quota = Counter(
            "worker_requests_over_quota",
            "Quota refusals of requests that need more calls (metadata and photos) than a whole"
            " day's quota: they complete over several days, keeping what each day stored",
            ["oc"],
            registry=r,
        )
        self.lease_lost = Counter(
            "worker_leases_lost", "Attempts abandoned because their lease expired", registry=r
        )
        self.certificate_expiry_days = Gauge(
            "worker_certificate_expiry_days",
            "Days before an OC's TLS certificate expires (file: client_cert, or ca_file: the"
            " soonest of its certificates), computed when scraped",
            ["oc", "file"],
            registry=r,
        )
        self.certificate_reload_failures = Counter(
            "worker_certificate_reload_failures",
            "Checks that found an OC's TLS files changed but could not load them (the previous"
            " ones stay in use)",
            ["oc"],
            registry=r,
        )
        self.photos_reviewed = Counter(
            "worker_photos_reviewed",
            "Photos decoded and checked by the review stage (its rate: reviews per second)",
            ["oc"],
            registry=r,
        )
        self.reviews = Counter(
            "worker_reviews",
            "Requests reviewed, by outcome (changed: photos.reviewed written; unchanged: a"
            " re-review that found the same)",
            ["outcome"],
            registry=r,
        )
        self.review_failures = Counter(
            "worker_review_failures",
            "Checks of a photo that did not end on their own, by kind (crashed, overran,"
            " memory); the process is replaced",
            ["kind"],
            registry=r,
        )
        self.review_lag = Histogram(
            "worker_review_lag_seconds",
            "From a request's photos stored to its first review written",
            buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400),
            registry=r,
        )
        self.review_check_cpu = Histogram(
            "worker_review_check_cpu_seconds",
            "CPU time a review process spent on one check, as it measured it: traits (decode,"
            " hashes, sharpness...) per photo, pto_reference per PTO photo, same_spot per pair",
            ["check"],
            buckets=(0.005, 0.01, 0.02, 0.04, 0.08, 0.15, 0.3, 0.6, 1.2, 2.5, 5, 10),
            registry=r,
        )
        self.review_read_bytes = Counter(
            "worker_review_read_bytes",
            "Bytes of photos read back from storage to be reviewed",
            registry=r,
        )
        self.review_backlog = Gauge(
            "worker_review_backlog",
            "Requests waiting for review (or under review), from the database",
            registry=r,
        )
        self.review_oldest_age = Gauge(
            "worker_review_oldest_age_seconds",
            "Age of the oldest request waiting for review: the review lag now",
            registry=r,
        )
        # From `purge_runs`, written by `worker purge` (a CronJob: it cannot be scraped itself).
        self.purge_last_run = Gauge(
            "worker_purge_last_run_timestamp_seconds",
            "When the latest `worker purge` started (0: never)",
            registry=r,
        )
        self.purge_rows = Gauge(
            "worker_purge_last_rows",
            "Rows the latest `worker purge` deleted, by table",
            ["table"],
            registry=r,
        )


class VerdictMetrics:
    """Analysts' verdicts on findings, in the console's registry: those this process recorded
    (a counter, reset by a restart), and all those in the database (a gauge, the same in every
    replica: read it with max(), not sum())."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.recorded = Counter(
            "worker_verdicts",
            "Verdicts recorded by this console process, by finding kind and verdict"
            " (confirmed, false_alarm); a changed verdict counts again",
            ["kind", "verdict"],
            registry=registry,
        )
        self.stored = Gauge(
            "worker_verdicts_stored",
            "Verdicts kept in PostgreSQL (finding_verdicts), by finding kind and verdict, read"
            " at most once per refresh period when scraped",
            ["kind", "verdict"],
            registry=registry,
        )
        self._seen: set[tuple[str, str]] = set()

    def set_stored(self, counts: dict[tuple[str, str], int]) -> None:
        """The table's counts now; a pair no longer there (verdicts purged with their
        requests) goes back to 0 rather than keeping its last value."""
        for pair in self._seen - counts.keys():
            self.stored.labels(*pair).set(0)
        for pair, count in counts.items():
            self.stored.labels(*pair).set(count)
        self._seen |= counts.keys()
