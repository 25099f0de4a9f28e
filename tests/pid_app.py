"""The app as gunicorn serves it in production (`web:create_app()`), each answer naming the worker process
that gave it (X-Worker-Pid), so that a test can tell gunicorn's workers apart."""
import os

from web import create_app

_app = create_app()


def app(environ, start_response):
    def start(status, headers, exc_info=None):
        return start_response(status, [*headers, ("X-Worker-Pid", str(os.getpid()))], exc_info)

    return _app(environ, start)
