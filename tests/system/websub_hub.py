"""A real WebSub hub for the tests: Flask-WebSub's, run locally.

``python -m tests.websub_hub PORT DATABASE`` serves the hub at ``/hub``. Flask-WebSub
does the hub's work (verifying subscribers' intent, storing subscriptions,
fetching the topic and delivering it to each subscriber with its signature); its
tasks are Celery tasks, run here in-process (``task_always_eager``), so no broker
is needed.

One shim: Flask-WebSub's endpoint reads a single ``hub.topic`` per publish request,
and feedsvc lists every affected topic in one request (as ``hub.topic`` and
``hub.url``, since hubs differ). The shim hands each listed topic to the same
task the endpoint would, and records each publish request at ``/published`` so a
test can see exactly which topics it named.
"""

from __future__ import annotations

import json
import sys
import threading

from celery import Celery
from flask import Flask, Response, request
from flask_websub.hub import Hub, SQLite3HubStorage


def create_hub(database: str) -> Flask:
    app = Flask(__name__)
    app.config["PUBLISH_SUPPORTED"] = True
    celery = Celery("websub-hub", broker="memory://", backend="cache+memory://")
    celery.conf.task_always_eager = True
    hub = Hub(SQLite3HubStorage(database), celery, BACKOFF_BASE=0.1, MAX_ATTEMPTS=3)
    app.register_blueprint(hub.build_blueprint(url_prefix="/hub"))
    published: list[list[str]] = []
    lock = threading.Lock()

    @app.before_request
    def publish_every_topic() -> Response | None:
        if request.path != "/hub" or request.form.get("hub.mode") != "publish":
            return None
        topics = request.form.getlist("hub.topic") or request.form.getlist("hub.url")
        with lock:
            published.append(topics)
        for topic in topics:
            hub.send_change_notification.delay(topic)
        return Response(f"Request received: publish of {len(topics)} topics\n", 202)

    @app.get("/published")
    def publishes() -> Response:
        with lock:
            return Response(json.dumps(published), mimetype="application/json")

    return app


if __name__ == "__main__":
    port, database = int(sys.argv[1]), sys.argv[2]
    create_hub(database).run("127.0.0.1", port, threaded=True)
