"""Locust users for :mod:`benchmarks.http_load`: each posts orders at one request per second.

The order pool is a JSON file named by ``ROUTER_BENCH_ORDERS``; the API key comes from
``ROUTER_BENCH_KEY``. Users × 1/s is the offered load (constant arrival per user), so the
measured latency is at a known request rate, not at whatever rate the server allows.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import uuid
from pathlib import Path

from locust import HttpUser, constant_throughput, task
from locust.contrib.fasthttp import FastHttpUser

ORDERS = json.loads(Path(os.environ["ROUTER_BENCH_ORDERS"]).read_text(encoding="utf-8"))
KEY = os.environ["ROUTER_BENCH_KEY"]
RUN = uuid.uuid4().hex[:8]
_counter = itertools.count()


class OrderClient(FastHttpUser):
    wait_time = constant_throughput(float(os.environ.get("ROUTER_BENCH_USER_RPS", "1")))

    @task
    def route(self) -> None:
        order = dict(random.choice(ORDERS))
        order["id"] = f"{RUN}-{next(_counter)}"
        self.client.post(
            "/v1/orders",
            json=order,
            headers={"Authorization": f"Bearer {KEY}"},
            name="POST /v1/orders",
        )


class PlainOrderClient(HttpUser):
    """The same user on locust's requests-based client, to cross-check the fast client."""

    wait_time = OrderClient.wait_time
    route = OrderClient.route
