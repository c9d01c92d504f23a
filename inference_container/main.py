"""Inference entrypoint: settings → logging → clients → model store → HTTP app + Kafka threads."""

from __future__ import annotations

import threading
from collections.abc import Callable

import uvicorn

from flts.contracts import Promotion, Topic, TrainingEvent
from flts.kafka.consumer import ConsumerLoop, Subscription
from flts.kafka.producer import EventProducer
from flts.kafka.topics import ensure_topics
from flts.log import configure_logging
from flts.objectstore import GatewayClient
from flts.settings import load_settings
from flts.tracking import RunArtifactDownloader

from .api_server import PredictLane, create_app
from .batch_consumer import InferenceDataConsumer
from .batch_forecast import BatchForecaster
from .batcher import MicroBatcher
from .events import ModelEvents
from .inferencer import run_batch
from .models import ModelStore
from .settings import InferenceSettings


def main() -> None:
    settings = load_settings(InferenceSettings)
    configure_logging(settings.service_name, settings.log_level)
    limit_model_threads(settings.model_threads)
    ensure_topics(settings)
    gateway = GatewayClient.from_settings(settings)
    producer = EventProducer(settings)
    store = ModelStore(
        settings, gateway, RunArtifactDownloader(settings.mlflow_tracking_uri, settings.mlflow_timeout_sec)
    )
    batch_consumer = InferenceDataConsumer(
        settings, store, BatchForecaster(settings, gateway, producer), producer
    )
    events = ModelEvents(settings, store, batch_consumer)
    model_loop = ConsumerLoop(
        settings,
        {
            Topic.MODEL_SELECTED: Subscription(Promotion, events.on_promotion),
            Topic.MODEL_TRAINING: Subscription(TrainingEvent, events.on_training),
        },
        producer,
        group_id=f"{settings.consumer_group_id}-models-{settings.instance_id}",
        consumer_overrides={"auto.offset.reset": "latest"},
    )

    def start_background() -> Callable[[], None]:
        threads = [
            threading.Thread(target=model_loop.run, name="model-events", daemon=True),
            threading.Thread(target=batch_consumer.run, name="inference-data", daemon=True),
        ]
        for thread in threads:
            thread.start()

        def stop() -> None:
            model_loop.stop()
            batch_consumer.stop()
            for thread in threads:
                thread.join(timeout=30)
            producer.close()

        return stop

    def batcher() -> MicroBatcher:
        return MicroBatcher(
            run_batch,
            settings.batch_size,
            settings.batch_timeout_ms,
            settings.http_queue_maxsize,
            settings.inference_workers,
            settings.max_workers,
        )

    app = PredictLane(
        create_app(settings, store, batcher, background=start_background), settings.max_request_bytes
    )
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        backlog=4096,
        timeout_keep_alive=30,
    )


def limit_model_threads(threads: int) -> None:
    """Small batches gain nothing from TensorFlow's thread pools; their spinning steals the loop's CPU."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


if __name__ == "__main__":
    main()
