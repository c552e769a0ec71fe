"""GET /todos/{todo_id} on FastAPI behind Mangum, as their docs show."""

from __future__ import annotations

from bench_get_item import get_item
from fastapi import FastAPI, Request
from mangum import Mangum

app = FastAPI()


@app.get("/todos/{todo_id}")
def get_todo(todo_id: str, request: Request) -> dict[str, str]:
    claims = request.scope["aws.event"]["requestContext"]["authorizer"]["claims"]
    return get_item(claims["sub"], todo_id)


handler = Mangum(app, lifespan="off")
