import json, pytest
from tests.exchange.conftest import *
from tnr.exchange.importer import import_file, ImportFailed, validate_file
from tnr.exchange import schema as sch
from tnr.methods.simulate import SimulationConfig, simulate
import jsonschema

@pytest.mark.django_db
def test_explore(org2, tmp_path):
    sim = simulate(SimulationConfig(seed=3, n_incidents=300))
    v = jsonschema.Draft202012Validator(sch.json_schema())
    for code, ds in sim.documented.items():
        doc = ds.to_exchange(code)
        errs = list(v.iter_errors(doc))
        print(code, len(doc["incidents"]), len(errs), [ (list(e.absolute_path), e.message[:100]) for e in errs[:5]])
        p = tmp_path / f"{code}.json"; p.write_text(json.dumps(doc))
        r = validate_file(p)
        print(r.summary()[:2000])
