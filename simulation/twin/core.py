"""The twin: wires its parts together and runs them against one service until the options' bound."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Mapping
from typing import Any

import numpy as np

from simulation.demand import county_demand
from simulation.twin.calls import twin_sim_config
from simulation.twin.centers import CenterSteps
from simulation.twin.client import ServiceClient, read_tokens
from simulation.twin.crews import Crews
from simulation.twin.dispatcher import CallBook, Dispatcher
from simulation.twin.driving import Driver
from simulation.twin.options import Counts, SimClock, TwinOptions, TwinReport

log = logging.getLogger(__name__)


class Twin:
    """A simulated county driving one service (see `simulation.twin`).

    The `Dispatcher` places the calls and assigns units; the `Crews` act on their units' statuses,
    driving with the `Driver` and recording the centers' milestones with `CenterSteps`; the
    `CallBook` holds what will happen on each call. They share the service client, the counts,
    the clock and the random draws built here.

    Parameters
    ----------
    options
        The run's settings.
    config
        The loaded config (``[simulation]`` for the demand and service times).
    county, router
        The county and its `routing.engine.Router`.

    Raises
    ------
    TwinError
        The token file cannot be used, or ``options.calls_per_hour`` is not a positive number.
    """

    def __init__(self, options: TwinOptions, *, config: Mapping[str, Any], county: Any, router: Any) -> None:
        self.options, self.config, self.county, self.router = options, config, county, router
        self.sim = twin_sim_config(config, options.calls_per_hour)
        self.points = county_demand(county.places)
        self.tokens = read_tokens(options.token_file)
        self.rng = np.random.default_rng(np.random.SeedSequence([int(options.seed), 7_001]))
        self.counts = Counts()
        self.clock = SimClock(options.speed)
        self.client = ServiceClient(options.url)
        self.book = CallBook(self.client, self.tokens.dispatcher, self.sim, self.rng)
        driver = Driver(self.client, self.counts, router, options)
        centers = CenterSteps(self.client, self.counts, county, router, self.rng, driver)
        self.crews = Crews(self.client, self.tokens, self.counts, options, book=self.book, driver=driver,
                           centers=centers)
        self.dispatcher = Dispatcher(self.client, self.tokens.dispatcher, self.counts, options, self.clock,
                                     sim=self.sim, points=self.points, book=self.book, crews=self.crews.units,
                                     spawn=self._spawn)
        self._tasks: set[asyncio.Task[Any]] = set()

    async def run(self) -> TwinReport:
        """Run until the bound of the options (or for ever); return what was done.

        Raises
        ------
        TwinError
            The service does not answer, or the token file has no crew token for any of its units.
        """
        self.clock.start()
        async with self.client.connect():
            await self.client.wait_ready()
            await self.crews.load()
            log.info("twin: driving %d units of %s at speed %g", len(self.crews.units), self.options.url,
                     self.options.speed)
            self._spawn(self.crews.watch(), "twin-watch")
            for crew in self.crews.units.values():
                self._spawn(self.crews.crew_loop(crew), f"twin-crew-{crew.unit_id}")
            main = asyncio.ensure_future(self.dispatcher.dispatch_calls())
            try:
                await asyncio.wait_for(main, self.options.duration_s)
            except asyncio.TimeoutError:
                pass
            finally:
                main.cancel()
                for task in list(self._tasks):
                    task.cancel()
                await asyncio.gather(main, *self._tasks, return_exceptions=True)
        return self.counts.report(wall_s=round(self.clock.wall_s(), 2), sim_s=round(self.clock.now_s(), 1))

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.counts.errors += 1
            log.error("twin: task %s failed", task.get_name(), exc_info=task.exception())
