import pytest

import facplan
from facplan import memory
from facplan.scenario import scenario_from_dict


def test_too_large_scenario_stops_before_the_work(city, monkeypatch):
    folder, data = city
    monkeypatch.setattr(memory, "available_bytes", lambda: 100_000_000)
    with pytest.raises(facplan.InputError, match=r"would need about .* GB of memory but only 0\.1 GB"):
        facplan.run(scenario_from_dict(data, base_dir=folder))


def test_estimate_grows_with_inputs(tmp_path):
    f = tmp_path / "x.pbf"
    f.write_bytes(b"\0" * 1000)
    assert memory.estimate_bytes(f, 10) < memory.estimate_bytes(f, 10_000)
    assert memory.available_bytes() is None or memory.available_bytes() > 0
