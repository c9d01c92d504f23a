"""Start-up work: process the datasets named in the settings, and the readiness probe."""

from __future__ import annotations

import logging
from collections.abc import Callable

from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_exponential

from flts.contracts import DatasetUploaded, DeadLetter, Topic, dlq_topic
from flts.kafka.consumer import DependencyUnavailableError
from flts.kafka.producer import EventProducer
from flts.log import log_event
from flts.objectstore import GatewayClient, GatewayError

from .service import DatasetRejectedError, PreprocessService
from .settings import PreprocessSettings

logger = logging.getLogger(__name__)


@retry(
    retry=retry_if_exception_type(DependencyUnavailableError),
    wait=wait_exponential(max=10),
    stop=stop_after_delay(300),
    reraise=True,
)
def _process_when_reachable(service: PreprocessService, identifier: str) -> None:
    if not service.object_exists(service.settings.dataset_bucket, service.settings.train_key(identifier)):
        log_event(
            logger, "dataset_not_uploaded", identifier=identifier, key=service.settings.train_key(identifier)
        )
        return
    service.process(identifier)


def process_configured(
    service: PreprocessService, settings: PreprocessSettings, producer: EventProducer
) -> None:
    """Process every DATASET_NAME identifier; a rejected dataset gets a DLQ record, the rest go on."""
    for identifier in settings.identifiers():
        try:
            _process_when_reachable(service, identifier)
        except DatasetRejectedError as exc:
            key = settings.train_key(identifier)
            intended = DatasetUploaded(
                bucket=settings.dataset_bucket, object_key=key, identifier=identifier, size=0, sha256="0" * 64
            )
            letter = DeadLetter(
                service=settings.service_name,
                topic=Topic.DATASET_UPLOADED,
                partition=-1,
                offset=-1,
                key=identifier,
                raw_value=DeadLetter.encode_raw(intended.to_bytes()),
                error=str(exc),
                error_type=type(exc).__name__,
                parse_context={"stage": "startup", "source": "DATASET_NAME"},
                attempts=1,
            )
            producer.publish(dlq_topic(Topic.DATASET_UPLOADED), letter, key=identifier)


def readiness_check(gateway: GatewayClient, settings: PreprocessSettings) -> Callable[[], None]:
    """Ready when the gateway answers and each configured dataset, if uploaded, can be downloaded."""

    def check() -> None:
        gateway.ready()
        for identifier in settings.identifiers():
            try:
                chunks = gateway.iter_download(settings.dataset_bucket, settings.train_key(identifier))
                next(iter(chunks), b"")
                chunks.close()
            except GatewayError as exc:
                if exc.status != 404:  # not uploaded yet is fine: the upload event will trigger it
                    raise

    return check
