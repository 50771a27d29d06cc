import asyncio


async def test_pod_with_host_network_gets_a_finding(cluster, operator):
    await cluster.create_pod({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p1", "namespace": "default", "uid": "u1"},
        "spec": {"hostNetwork": True, "containers": [{"name": "c", "image": "nginx"}]}})
    for _ in range(50):
        found = await cluster.findings("default")
        if found:
            break
        await asyncio.sleep(0.1)
    print(found)
    assert found[0]["status"]["verdict"] == "Violation"
