"""The twin: a simulated county that drives a running dispatch service through its real API.

A dispatcher places the calls the demand model draws (`simulation.demand.plan_calls`: the same
arrival profile, call locations, complaint mix and service times as the planner's simulator) and
sends the recommended unit; each ambulance's crew, holding its own crew token, accepts, drives
the road route posting GPS fixes to ``/osmand`` as Traccar Client does, reports its statuses,
records chest pain and stroke milestones (uploading an ECG for STEMIs whose cath lab is activated
from the field), takes the patient to the hospital the centers' policy chooses, and drives back.

Time runs ``speed`` times faster than the wall clock: a 900 s on-scene time lasts 90 s at speed
10. Everything the service records is stamped by its own clock (fixes with the wall-clock time), so
a twin run looks like a shift played fast. Consecutive fixes are therefore ``speed`` times farther
apart than a real ambulance could drive: the service's ``gps.max_speed_kph`` must allow for it
(`service_config_for_twin`); the twin checks after each leg that its fixes were taken and says so
loudly when they were not.

The crews act by their unit's status as the service reports it, so a twin started on a service
with units mid-job carries the jobs on, and a dispatcher may override it at any time (reassign,
cancel, put a unit out of service): a 409 makes the crew read its unit again and act on that.

One concern a module:

- `options`: the run's options, the service's settings for it, its clock, its report;
- `calls`: the calls and what happens on them, drawn from the demand model;
- `track`, `ecg`: the road a crew drives and the fixes its phone sends; the ECG its monitor sends;
- `client`: the tokens and the requests to the service;
- `dispatcher`: placing the calls and sending units; the book of what happens on each call;
- `crew`, `crews`: a crew's state; what the crews do by their units' statuses;
- `driving`: moving along a route and posting GPS fixes;
- `centers`: chest pain and stroke milestones, the ECG upload, the patient's destination;
- `core`: the `Twin`, which wires the parts and runs them;
- `entrypoints`: ``ems twin`` (`run_twin`) and ``ems serve --twin`` (`twin_running`).

See docs/twin.md.
"""

from simulation.twin.calls import TwinCall, call_stream, draw_call, twin_sim_config
from simulation.twin.client import TwinTokens, read_tokens
from simulation.twin.core import Twin
from simulation.twin.ecg import ecg_png
from simulation.twin.entrypoints import load_county_router, run_twin, twin_running
from simulation.twin.errors import TwinError, TwinHttpError
from simulation.twin.options import TwinOptions, TwinReport, service_config_for_twin
from simulation.twin.track import Track, bearing_deg, osmand_params

__all__ = ["Twin", "TwinOptions", "TwinReport", "TwinCall", "TwinTokens", "TwinError", "TwinHttpError", "Track",
           "run_twin", "twin_running", "service_config_for_twin", "read_tokens", "call_stream", "draw_call",
           "osmand_params", "bearing_deg", "ecg_png", "twin_sim_config", "load_county_router"]
