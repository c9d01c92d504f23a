"""Gateway entrypoint: settings → logging → MinIO + Kafka clients → app → uvicorn."""

from __future__ import annotations

import uvicorn

from flts.contracts import DatasetUploaded, Topic
from flts.kafka.producer import EventProducer
from flts.kafka.topics import ensure_topics
from flts.log import configure_logging
from flts.settings import load_settings

from .app import create_app
from .ensure_buckets import ensure_all
from .settings import GatewaySettings
from .storage import ObjectStore, build_minio


class KafkaUploadAnnouncer:
    """Publishes `dataset-uploaded` (keyed by identifier) once the object is stored."""

    def __init__(self, producer: EventProducer) -> None:
        self.producer = producer

    def announce(self, event: DatasetUploaded) -> None:
        self.producer.publish(Topic.DATASET_UPLOADED, event, key=event.identifier)


def main() -> None:
    settings = load_settings(GatewaySettings)
    configure_logging(settings.service_name, settings.log_level)
    store = ObjectStore(build_minio(settings))
    ensure_all(store, settings.bucket_allow_list())  # waits for MinIO with backoff
    announcer = None
    if settings.publish_dataset_uploads:
        ensure_topics(settings)
        announcer = KafkaUploadAnnouncer(EventProducer(settings))
    app = create_app(settings, store, announcer)
    uvicorn.run(app, host=settings.http_host, port=settings.port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()
