"""Steps of the embedded Ningxiang county builder (see `geodata.build_ningxiang`).

One module per concern: `raw` reads the adcode data, `settlements` generates places and the
demand model, `roads` generates the road network (with `network`, its types, `terrain`, `corridors` between
the seats and `mesh`, the village roads), `osm_xml` writes it, `evaluate` loads it back
through osmnx and measures travel times, `stations` places facilities and layouts, `writers`
writes the county files.
"""
