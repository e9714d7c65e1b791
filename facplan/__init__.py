"""facplan: siting community facilities by walking accessibility.

The public API mirrors the command line::

    import facplan
    scenario = facplan.load_scenario("scenarios/demo.yaml")
    result = facplan.run(scenario)
    result.summary["access"]
    result.write("maps/demo")
"""

from facplan._errors import FacplanWarning, InputError

__all__ = ["InputError", "FacplanWarning", "Scenario", "load_scenario", "run", "Result"]
__version__ = "0.1.0"


def __getattr__(name: str):  # heavy modules (geopandas, numba…) load on first use
    if name in ("run", "Result"):
        from facplan import pipeline

        return getattr(pipeline, name)
    if name in ("Scenario", "load_scenario"):
        from facplan import scenario

        return getattr(scenario, name)
    raise AttributeError(f"module 'facplan' has no attribute {name!r}")
