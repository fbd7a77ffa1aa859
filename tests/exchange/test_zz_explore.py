import json, pytest
from tests.exchange.conftest import *
from tnr.exchange.importer import import_file, ImportFailed

@pytest.mark.django_db
def test_explore(rich, org2, tmp_path):
    d1 = export_json(rich)
    p = tmp_path / "x.json"; p.write_text(json.dumps(d1), encoding="utf-8")
    try:
        import_file(p, org2)
    except ImportFailed as e:
        print(e); raise
    d2 = export_json(org2)
    a, b = strip_meta(d1), strip_meta(d2)
    for k in a:
        if a[k] != b[k]:
            print("DIFF", k)
            for x, y in zip(a[k], b[k]):
                if x != y: print(" ", x, "\n ", y)
    c1 = export_csv(rich)
    print(c1[:3000])
