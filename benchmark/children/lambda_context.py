"""What a measured process passes as the handler's context: the two members the app reads."""


class Context:
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 15_000
