import pytest

from leaksleuth.errors import UsageError
from leaksleuth.live.discover import NodeProcess, assign_roles
from leaksleuth.live.load import check_local_url, with_query


def test_vary_query_keeps_existing_query():
    assert with_query("http://127.0.0.1:3000/a?x=1", 7) == "http://127.0.0.1:3000/a?x=1&leaksleuth=7"
    assert with_query("http://127.0.0.1:3000/", 0) == "http://127.0.0.1:3000/?leaksleuth=0"


def test_only_local_urls_are_loaded():
    assert check_local_url("http://127.0.0.1:3000/") == 3000
    assert check_local_url("http://localhost/") == 80
    with pytest.raises(UsageError, match="not on this machine"):
        check_local_url("http://93.184.216.34/")
    with pytest.raises(UsageError, match="not an http URL"):
        check_local_url("ftp://127.0.0.1/")


def test_cluster_workers_serve_and_the_agent_does_not():
    procs = [
        NodeProcess(pid=10, ppid=1, inspector_url="ws://x", argv=("node", "egg-server.js")),
        NodeProcess(pid=11, ppid=10, inspector_url="ws://x", argv=("node", "/n/egg-cluster/lib/agent_worker.js")),
        NodeProcess(pid=12, ppid=10, inspector_url="ws://x", argv=("node", "app_worker.js"), cluster_worker=True),
        NodeProcess(pid=13, ppid=10, inspector_url="ws://x", argv=("node", "app_worker.js"), cluster_worker=True),
    ]
    roles = {p.pid: (p.role, p.serving) for p in assign_roles(procs, http_port=None)}
    assert roles == {10: ("primary", False), 11: ("agent", False), 12: ("worker", True), 13: ("worker", True)}
