"""The WSGI entry point: ``granian --interface wsgi wsgi:app`` or any WSGI server."""

from feedsvc.app import create_app

app = create_app(background=True)
