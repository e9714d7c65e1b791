"""InputError: one way to say where a problem is, and one way to list several."""

from __future__ import annotations

import numpy as np
import pytest

from facplan._errors import InputError
from facplan.io.vector import require_unique_ids


def test_many_problems_are_counted_and_listed() -> None:
    one = InputError.many(["key 'x': bad"], file="s.yaml")
    assert str(one) == "s.yaml: key 'x': bad"
    two = InputError.many(["key 'x': bad", "key 'y': worse"], file="s.yaml")
    assert str(two) == "s.yaml: 2 problems:\n  - key 'x': bad\n  - key 'y': worse"
    lead = InputError.many(["a"], what="no scenario could be loaded")
    assert str(lead) == "no scenario could be loaded (1 problem):\n  - a"
    with pytest.raises(ValueError):
        InputError.many([])


def test_rows_are_row_numbers_and_ids_are_ids() -> None:
    e = InputError("negative population", file="p.csv", field="pop", rows=[1, 3])
    assert str(e) == "p.csv, field 'pop', rows 1, 3: negative population"
    e = InputError("no total", file="totals.csv", ids=["0101", "0102"])
    assert str(e) == "totals.csv, ids '0101', '0102': no total"
    assert e.rows is None and e.ids == ["0101", "0102"]


def test_one_unique_id_check() -> None:
    require_unique_ids(np.array(["a", "b"], dtype=object), what="sites", field="site_id")
    with pytest.raises(InputError) as err:
        require_unique_ids(np.array(["a", "b", "a"], dtype=object), what="sites",
                           field="site_id", file="sites.csv")
    assert err.value.rows == [1, 3] and err.value.file == "sites.csv"
    assert "2 sites share 1 ids (first: 'a')" in str(err.value)
    with pytest.raises(InputError) as err:
        require_unique_ids(np.array(["f1", "f1"], dtype=object), what="facilities",
                           field="facility_id", places=["a.gpkg row 1", "b.gpkg row 4"])
    assert "first: 'f1' in a.gpkg row 1 and b.gpkg row 4" in str(err.value)
    assert err.value.rows is None
