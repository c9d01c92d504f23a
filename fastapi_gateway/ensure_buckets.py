"""One-shot bucket initialisation (compose `minio-init`): creates every bucket from the ONE list."""

from __future__ import annotations

import logging

from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_exponential

from flts.log import configure_logging, log_event
from flts.settings import load_settings

from .settings import GatewaySettings
from .storage import ObjectStore, StoreUnavailableError, build_minio

logger = logging.getLogger(__name__)


@retry(
    retry=retry_if_exception_type(StoreUnavailableError),
    wait=wait_exponential(max=5),
    stop=stop_after_delay(120),
    reraise=True,
)
def ensure_all(store: ObjectStore, buckets: frozenset[str]) -> list[str]:
    return store.ensure_buckets(buckets)


def main() -> None:
    settings = load_settings(GatewaySettings)
    configure_logging("minio-init", settings.log_level)
    created = ensure_all(ObjectStore(build_minio(settings)), settings.bucket_allow_list())
    log_event(logger, "buckets_ready", created=created, buckets=sorted(settings.bucket_allow_list()))


if __name__ == "__main__":
    main()
