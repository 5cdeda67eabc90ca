#!/usr/bin/env python3
"""A stand-in for the Kubernetes API server's read side, for `helm template
--dry-run=server`: no cluster runs on these machines, and only a render that
reaches an API server runs the chart's `lookup` calls (plain `helm template`
sees an empty cluster).

  kube_api.py PORT [OBJECT.json ...]

Answers helm's version and discovery requests for the built-in kinds the
chart renders, and GET of each OBJECT (by namespace, kind and name) as stored;
every other object is 404 Not Found, as in an empty namespace. Read-only: it
accepts no write. Used by .ci/chart.sh (an upgrade keeps the generated
signing keys).
"""

import http.server
import json
import sys

# The built-in kinds the chart renders, by group version, with their plurals.
KINDS = {
    "v1": {"Secret": "secrets", "ConfigMap": "configmaps", "Service": "services",
           "ServiceAccount": "serviceaccounts"},
    "apps/v1": {"Deployment": "deployments"},
    "autoscaling/v2": {"HorizontalPodAutoscaler": "horizontalpodautoscalers"},
    "policy/v1": {"PodDisruptionBudget": "poddisruptionbudgets"},
    "networking.k8s.io/v1": {"NetworkPolicy": "networkpolicies"},
}
STORED = {}  # (group version, namespace, plural, name) -> object


def resource_list(gv):
    return {
        "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
        "resources": [
            {"name": plural, "singularName": kind.lower(), "namespaced": True, "kind": kind,
             "verbs": ["get", "list"]}
            for kind, plural in KINDS[gv].items()
        ],
    }


def group_list():
    groups = []
    for gv in KINDS:
        if "/" in gv:
            group, version = gv.split("/")
            entry = {"groupVersion": gv, "version": version}
            groups.append({"name": group, "versions": [entry], "preferredVersion": entry})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        sys.stderr.write("%s\n" % self.requestline)

    def reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def not_found(self):
        self.reply(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                         "reason": "NotFound", "code": 404})

    def do_GET(self):
        path = self.path.split("?")[0].rstrip("/")
        if path == "/version":
            return self.reply(200, {"major": "1", "minor": "33", "gitVersion": "v1.33.0"})
        if path == "/api":
            return self.reply(200, {"kind": "APIVersions", "versions": ["v1"]})
        if path == "/apis":
            return self.reply(200, group_list())
        parts = path.strip("/").split("/")
        # /api/v1[/namespaces/NS/PLURAL/NAME] or /apis/GROUP/VERSION[/namespaces/NS/PLURAL/NAME]
        if parts[0] == "api" and len(parts) >= 2:
            gv, rest = parts[1], parts[2:]
        elif parts[0] == "apis" and len(parts) >= 3:
            gv, rest = f"{parts[1]}/{parts[2]}", parts[3:]
        else:
            return self.not_found()
        if gv not in KINDS:
            return self.not_found()
        if not rest:
            return self.reply(200, resource_list(gv))
        if len(rest) == 4 and rest[0] == "namespaces":
            obj = STORED.get((gv, rest[1], rest[2], rest[3]))
            if obj is not None:
                return self.reply(200, obj)
        return self.not_found()

    def refuse(self):
        self.reply(405, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                         "reason": "MethodNotAllowed", "code": 405})

    do_POST = do_PUT = do_PATCH = do_DELETE = refuse


def main(argv):
    for path in argv[2:]:
        with open(path) as f:
            obj = json.load(f)
        gv, kind, md = obj["apiVersion"], obj["kind"], obj["metadata"]
        STORED[(gv, md["namespace"], KINDS[gv][kind], md["name"])] = obj
    http.server.ThreadingHTTPServer(("127.0.0.1", int(argv[1])), Handler).serve_forever()


if __name__ == "__main__":
    main(sys.argv)
