"""Steps of the embedded Ningxiang county builder (see `simulation.ningxiang_build.build`).

One module per concern: `raw` reads the adcode data, `settlements` generates places and the
demand model, `roads` generates the road network (with `network`, its types, `terrain`, `corridors` between
the seats and `mesh`, the village roads), `osm_xml` writes it, `evaluate` loads it back
through osmnx and measures travel times, `stations` places facilities and layouts, `writers`
writes the county files.

The builder writes geodata's embedded county (geodata/ningxiang/) from geodata's raw data
(geodata/data/ningxiang/) but sits above geodata, in simulation: it places the substations with the
planner's exhaustive solver (`simulation.plan_enumerate`) and measures the published arrivals as the
simulator does (`simulation.coverage`). geodata only reads the files it writes.
"""
