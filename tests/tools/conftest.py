"""What people run from tools/ that no server is needed for: the contract's breaking-change gate.
(`make run` and the operators' commands against it are tested over real HTTP in tests/e2e/.)"""
