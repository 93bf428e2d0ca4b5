"""Who is calling: the role model and the actor every write is attributed to."""

from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID


class Role(StrEnum):
    ADMIN = "admin"
    MARKETING = "marketing"
    CRAWLER = "crawler"
    SECURITY = "security"


@dataclass(frozen=True)
class Actor:
    key_id: UUID | None
    name: str
    role: Role
    remote_addr: str | None = None


SYSTEM = Actor(key_id=None, name="system", role=Role.ADMIN)
