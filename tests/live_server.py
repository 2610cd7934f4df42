"""A real dispatch service on 127.0.0.1, its event loop in a thread of its own.

For tests that drive it synchronously: a browser (Playwright's sync API) or hypothesis with urllib.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any


class LiveServer:
    """The dispatch service with the consoles, serving on 127.0.0.1 from a thread of its own."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="ems-test-server", daemon=True)
        self.runner: Any = None
        self.app: Any = None
        self.url = ""

    def start(self) -> None:
        self.thread.start()
        self.run(self._start())

    async def _start(self) -> None:
        from aiohttp import web

        from dispatch.app import create_app

        self.app = create_app(self.config)
        self.runner = web.AppRunner(self.app, shutdown_timeout=1.0)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)  # a free port
        await site.start()
        host, port = self.runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    def run(self, coro: Any, timeout: float = 30.0) -> Any:
        """Run a coroutine on the server's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @property
    def service(self) -> Any:
        from dispatch.http import SERVICE
        return self.app[SERVICE]

    def stop(self) -> None:
        try:
            if self.runner is not None:
                self.run(self.runner.cleanup())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()
