"""The live operator: the kopf wiring, the API client, the pod picture, the finding
writer, leader election and metrics. Calls the core; never imported by it."""
