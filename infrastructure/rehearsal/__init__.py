"""The packaged stack's deploy, rehearsed offline: AWS's create-time rules (aws_rules) and
the rehearsal that applies them and moto's CloudFormation (rehearse)."""
