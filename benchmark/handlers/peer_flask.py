"""GET /todos/{todo_id} on Flask behind apig-wsgi, as their docs show."""

from __future__ import annotations

from apig_wsgi import make_lambda_handler
from bench_get_item import get_item
from flask import Flask, request

app = Flask(__name__)


@app.get("/todos/<todo_id>")
def get_todo(todo_id: str) -> dict[str, str]:
    claims = request.environ["apig_wsgi.full_event"]["requestContext"]["authorizer"]["claims"]
    return get_item(claims["sub"], todo_id)


handler = make_lambda_handler(app)
