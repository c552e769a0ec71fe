"""What is deployed, checked offline: the packaged templates (built once per process by the
`packaged` fixture, tests/conftest.py), the scanners, AWS's create-time rules and the
rehearsal, IAM, the bootstrap of `make deploy` on moto."""
