"""One measured step of a benchmark, in its own process so peak memory is its own.

Prints one JSON line: {"seconds": ..., "rows": ..., "peak_rss_mb": ...}.
Usage: python bench/_worker.py validate|import|export|read FILE [ORG_SLUG]
"""

from __future__ import annotations

import csv
import json
import os
import resource
import sys
import time
from pathlib import Path


def main() -> None:
    mode, path = sys.argv[1], Path(sys.argv[2])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tnr.settings")
    import django

    django.setup()
    rows = 0
    start = time.perf_counter()
    if mode == "read":
        # the floor: what reading the same CSV with the standard library costs
        with open(path, encoding="utf-8", newline="") as f:
            for _row in csv.DictReader(f):
                rows += 1
    elif mode == "validate":
        from tnr.exchange.importer import validate_file

        report = validate_file(path)
        assert report.ok, report.summary()
        rows = report.rows
    elif mode == "import":
        from tnr.accounts.models import Organisation
        from tnr.exchange.importer import import_file

        org, _ = Organisation.objects.get_or_create(slug=sys.argv[3], defaults={"name": sys.argv[3]})
        start = time.perf_counter()
        report = import_file(path, org)
        rows = report.rows
    elif mode == "export":
        from tnr.accounts.models import Organisation
        from tnr.exchange.export import write_datapackage
        from tnr.records.models import Incident

        org = Organisation.objects.get(slug=sys.argv[3])
        qs = Incident.objects.filter(organisation=org)
        start = time.perf_counter()
        write_datapackage(qs, path)
        rows = qs.count()
    elif mode == "dump":
        # the floor for export: the incidents table alone, written with csv.writer
        from tnr.records.models import Incident

        start = time.perf_counter()
        with open(path, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            for values in Incident.objects.filter(organisation__slug=sys.argv[3]).values_list().iterator(5000):
                w.writerow(values)
                rows += 1
    else:
        raise SystemExit(f"unknown mode {mode}")
    seconds = time.perf_counter() - start
    # VmHWM, not ru_maxrss: on Linux ru_maxrss survives fork+exec, so a child would report the
    # parent's peak; VmHWM belongs to this process image alone.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    print(json.dumps({"seconds": seconds, "rows": rows, "peak_rss_mb": round(peak, 1)}))


if __name__ == "__main__":
    main()
