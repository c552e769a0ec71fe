"""The runtime on moto, in process: the store, the HTTP surface through chalice.test.Client,
the scheduled jobs, faults injected under the SDK, the embedded backend's transaction rules.
Every test gets its own moto account and the real table definition (tests/conftest.py)."""
