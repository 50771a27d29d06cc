"""The pure core: image references and patterns, exceptions, the matching rule,
pod facts, workloads, finding and event bodies. No I/O, no kopf, no clock of its own;
tests/unit/test_architecture.py keeps it importing nothing from the other folders."""
