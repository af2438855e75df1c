"""Baseline for the ingress bench: a bare FastAPI endpoint doing one asyncpg INSERT, nothing else."""

from __future__ import annotations

import contextlib
import json
import os
import uuid

import asyncpg
import uvicorn
from fastapi import FastAPI, Request


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI):
    app.state.pool = await asyncpg.create_pool(os.environ["CXC_DATABASE_URL"], min_size=1, max_size=10)
    await app.state.pool.execute("CREATE TABLE IF NOT EXISTS baseline (id uuid PRIMARY KEY, body jsonb NOT NULL)")
    yield
    await app.state.pool.close()


app = FastAPI(lifespan=lifespan)


@app.get("/readyz")
async def ready():
    return {"ready": True}


@app.post("/insert", status_code=201)
async def insert(request: Request):
    body = await request.json()
    pid = uuid.uuid4()
    await app.state.pool.execute("INSERT INTO baseline (id, body) VALUES ($1, $2::jsonb)", pid, json.dumps(body))
    return {"id": str(pid)}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["PORT"]), log_level="warning", access_log=False)
