"""What is deployed besides the code, built from the project's own facts: the app's
inventory (inventory.py), a stage read once and handed down (stages.load), one builder per
concern composed into the stack that `make package` merges into Chalice's, the HTTP API
post-processor, the IAM policies, the stateful bootstrap of `make deploy`, and the offline rehearsal of AWS's
create-time rules (rehearsal/).

Imports point one way: `tools` and `benchmark` may import this package; it imports the app
(inventory.py only, deferred) and `chalicelib`, never them.
"""
