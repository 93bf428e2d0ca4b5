"""Runtime settings, read from `LEAKSENTINEL_*` environment variables."""

from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Annotated

from cryptography.fernet import Fernet
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from service.detection.decode import ImageLimits
from service.detection.features import MIN_KEYPOINTS
from service.detection.matching import FeatureRule, MatchPolicy
from service.paging import DEFAULT_LIMIT, MAX_LIMIT

# The most LEAKSENTINEL_MAX_BATCH_ITEMS may be: the request schemas bound their lists by it, so a
# list longer than any configuration accepts is refused before one of its items is looked at.
MAX_BATCH_ITEMS = 1000


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEAKSENTINEL_", extra="ignore")

    data_dir: Path = Path("data")
    # Empty means "derive from data_dir": SQLite in a local file, blobs in a folder beside it.
    database_url: str = ""
    blob_dir: Path | None = None
    bootstrap_admin_key: str | None = None

    max_upload_bytes: int = Field(default=25 * 1024 * 1024, gt=0)
    max_image_pixels: int = Field(default=50_000_000, gt=0)
    # POST /v1/sightings/batch and /fingerprints: items per request, and bytes per batch upload.
    max_batch_items: int = Field(default=256, gt=0, le=MAX_BATCH_ITEMS)
    max_batch_bytes: int = Field(default=128 * 1024 * 1024, gt=0)
    # Any body that is not a multipart upload (JSON, forms): refused past this many bytes before
    # any of it is parsed, since parsing runs on the event loop (api/limits.py).
    max_json_body_bytes: int = Field(default=1024 * 1024, gt=0, le=16 * 1024 * 1024)
    # The two fingerprint routes' JSON bodies, which carry local features (up to 48 KB an item):
    # a full hash-only batch of 256 fits. Their value count is capped like any JSON body's.
    max_fingerprints_body_bytes: int = Field(default=16 * 1024 * 1024, gt=0, le=64 * 1024 * 1024)
    # Worker processes that decode and fingerprint uploads, for each serving process; 0 means one
    # per CPU core. Each decode runs in one of them (service/decoding.py), so a decoder that
    # hangs, crashes or runs away with memory costs that one upload, never the service.
    fingerprint_workers: int = Field(default=0, ge=0)
    # Threads that match received sightings after their receipts (service/match_queue.py), for
    # each serving process; 0 means one per CPU core. The index search and the geometric check
    # run outside the interpreter lock, so each thread keeps a core busy.
    match_workers: int = Field(default=0, ge=0, le=64)
    # A decode still running after this many seconds is killed with its worker process; a 1080p
    # JPEG takes a few ms, the largest image accepted (a 50-megapixel RGBA PNG) 2-5 s as an
    # asset with its review thumbnail on this 2-core machine under load (bench/README.md).
    decode_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    # Address space, in MiB, that one decode may add to its worker process (RLIMIT_AS on top of
    # what the loaded worker maps): that 50-megapixel RGBA PNG needs over 1,024 as an asset and
    # fits in 1,280, so the default leaves a fifth more.
    decode_memory_mb: int = Field(default=1536, ge=64)

    # A region of a found image matches an asset variant when PDQ is within pdq_max_distance AND
    # pHash within phash_max_distance on that same pair. Calibrated with bench/robustness.py on
    # 553 photographs: every recall target met, no wrong (query, asset) pair within 1.1x of both,
    # and 1 and 4 pairs (seeds 1 and 2) within 1.2x (bench/README.md: the rates and the margin).
    pdq_max_distance: int = Field(default=64, ge=0, le=256)
    phash_max_distance: int = Field(default=18, ge=0, le=64)
    # Local features (the geometric stage) show an asset when at least feature_min_votes of the
    # found image's ORB descriptors pass the ratio test onto it (each within
    # feature_max_distance of 256 bits), and the RANSAC homography over those pairs keeps at least
    # feature_min_inliers of them and feature_min_density of the keypoints that could have
    # agreed (detection/verify.py's density); the feature_candidates assets with most votes are verified. Measured with
    # bench/robustness.py (bench/README.md).
    feature_max_distance: int = Field(default=64, ge=0, le=128)
    feature_ratio: float = Field(default=0.8, gt=0, le=1)
    feature_min_votes: int = Field(default=12, ge=4, le=1000)
    feature_candidates: int = Field(default=8, ge=1, le=100)
    feature_min_inliers: int = Field(default=15, ge=MIN_KEYPOINTS, le=1000)
    feature_min_density: float = Field(default=0.04, ge=0, le=1)

    # Webhooks: the service's own address, for the link in each alert (empty: a path only);
    # whether `serve` also drains the outbox; whether alerts may go to private addresses.
    public_base_url: str = ""
    run_outbox_worker: bool = True
    webhook_allow_private_targets: bool = False
    # How often an idle outbox worker looks for due deliveries, in seconds.
    outbox_poll_seconds: float = Field(default=1.0, gt=0, le=3600)
    # A failed delivery is retried after this many seconds, doubling each time (8 attempts).
    webhook_retry_base_seconds: float = Field(default=60.0, gt=0, le=3600)

    # Seals webhook signing secrets at rest (service/alerts/sealed.py): Fernet keys, comma separated,
    # the first sealing and any opening. Empty: a key made in data_dir on first use, which the
    # processes of one host share; replicas on several hosts must all be given the same.
    secrets_key: str = ""

    # Signs the dashboard's session cookies. Empty: a random secret kept in data_dir, which the
    # worker processes of one host share; replicas on several hosts must all be given the same.
    ui_session_secret: str = ""
    # A dashboard session ends this many hours after sign-in.
    ui_session_hours: float = Field(default=12.0, gt=0, le=24 * 30)

    # Requests per minute for each API key, by the key's role; 0 means unlimited. Each key has its
    # own budget, counted in each worker process (docs/operations.md, "Rate limits"). Set above
    # what one key drives in bench/ingest.py and the tests (~100 uploads/s through one crawler
    # key), so only a runaway client meets them; lower them to what your clients need.
    rate_limit_crawler: int = Field(default=60_000, ge=0)
    rate_limit_marketing: int = Field(default=6_000, ge=0)
    rate_limit_security: int = Field(default=6_000, ge=0)
    rate_limit_admin: int = Field(default=6_000, ge=0)

    # Sightings on the first page of a leak's detail (API and dashboard); a leak one crawler can
    # grow without end is read a page at a time, never whole.
    leak_sightings_page_size: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)

    # Also serve /metrics without a key on this HOST:PORT (empty: off). On the API's port metrics
    # need an admin key, since counters such as leaks opened would tell a crawler what matched;
    # this listener is for a scraper on a private network, never a public address.
    metrics_listen: str = ""

    # Proxies whose X-Forwarded-For is believed (addresses or networks, comma-separated); empty:
    # nobody's, and the audit trail records the peer's address. Any client can send the header.
    trusted_proxies: Annotated[tuple[IPv4Network | IPv6Network, ...], NoDecode] = ()

    log_level: str = "INFO"

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("secrets_key")
    @classmethod
    def _fernet_keys(cls, value: str) -> str:
        for key in (k.strip() for k in value.split(",") if k.strip()):
            try:
                Fernet(key)
            except ValueError as exc:
                raise ValueError(
                    "must be Fernet keys (32 bytes in url-safe base64, as "
                    "cryptography.fernet.Fernet.generate_key() makes), comma separated"
                ) from exc
        return value

    @field_validator("metrics_listen")
    @classmethod
    def _host_and_port(cls, value: str) -> str:
        if value:
            _split_host_port(value)
        return value

    @model_validator(mode="after")
    def _derive_paths(self) -> "Settings":
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'leaksentinel.db'}"
        if self.blob_dir is None:
            self.blob_dir = self.data_dir / "blobs"
        return self

    @property
    def blob_path(self) -> Path:
        assert self.blob_dir is not None  # set by _derive_paths
        return self.blob_dir

    @property
    def metrics_address(self) -> tuple[str, int] | None:
        return _split_host_port(self.metrics_listen) if self.metrics_listen else None

    @property
    def image_limits(self) -> ImageLimits:
        return ImageLimits(self.max_upload_bytes, self.max_image_pixels)

    @property
    def match_policy(self) -> MatchPolicy:
        return MatchPolicy(
            {"pdq": self.pdq_max_distance, "phash": self.phash_max_distance},
            FeatureRule(
                max_distance=self.feature_max_distance,
                ratio=self.feature_ratio,
                min_votes=self.feature_min_votes,
                candidates=self.feature_candidates,
                min_inliers=self.feature_min_inliers,
                min_density=self.feature_min_density,
            ),
        )


def _split_host_port(value: str) -> tuple[str, int]:
    """`HOST:PORT`, `[v6-address]:PORT` too."""
    host, sep, port = value.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT, such as 127.0.0.1:9464; got {value!r}")
    return host, int(port)
