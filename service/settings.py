"""Runtime settings, read from `LEAKSENTINEL_*` environment variables."""

from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.imaging import ImageLimits


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEAKSENTINEL_", extra="ignore")

    data_dir: Path = Path("data")
    # Empty means "derive from data_dir": SQLite in a local file, blobs in a folder beside it.
    database_url: str = ""
    blob_dir: Path | None = None
    bootstrap_admin_key: str | None = None

    max_upload_bytes: int = Field(default=25 * 1024 * 1024, gt=0)
    max_image_pixels: int = Field(default=50_000_000, gt=0)

    # Largest Hamming distance at which one algorithm's fingerprints count as the same picture.
    # PDQ's 31 is the operating point its authors publish; 10 is the customary pHash cut-off.
    # Issue 3 recalibrates both on bench/robustness.py.
    pdq_max_distance: int = Field(default=80, ge=0, le=256)
    phash_max_distance: int = Field(default=16, ge=0, le=64)

    log_level: str = "INFO"

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
    def image_limits(self) -> ImageLimits:
        return ImageLimits(self.max_upload_bytes, self.max_image_pixels)
