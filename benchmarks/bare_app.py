"""The ceiling for the HTTP benchmark: a bare Flask endpoint answering a small JSON document, served by
the same gunicorn as the app (`gunicorn -w 2 bare_app:app`)."""
from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/api/nearest")
def nearest():
    return jsonify({"ok": True})
