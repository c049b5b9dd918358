"""A simulated OC partner API ("API CRI asynchrone"), driven by scenarios encoded in references.

May use: nothing of the worker: it plays the OC's side. See ``scenarios.py`` for the scenario
keys; start it with ``await start(SimulatorConfig())``.
"""

from worker.simulator.app import build_app, recorded_calls
from worker.simulator.calls import CallRecord
from worker.simulator.config import SimulatorConfig
from worker.simulator.scenarios import Scenario, ScenarioError, parse_scenario
from worker.simulator.server import Simulator, serve_forever, start

__all__ = [
    "CallRecord",
    "Scenario",
    "ScenarioError",
    "Simulator",
    "SimulatorConfig",
    "build_app",
    "parse_scenario",
    "recorded_calls",
    "serve_forever",
    "start",
]
