"""What is deployed, checked offline: the packaged templates (each built once per run by the
`packaged` fixture, tests/conftest.py), the scanners, AWS's create-time rules and the
rehearsal, IAM, the bootstrap of `make deploy` on moto."""
