# The reference parser of the Prometheus text format (the official Python
# client's, Debian's python3-prometheus-client): the text on stdin, every
# family it finds as JSON on stdout; a text it rejects exits non-zero.
# Used by crates/datavol/tests (common/prom.rs) and by the VM rig's host checks.
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    out.append({"name": f.name, "type": f.type, "help": f.documentation,
                "samples": [{"name": s.name, "labels": s.labels, "value": s.value}
                            for s in f.samples]})
print(json.dumps(out))
