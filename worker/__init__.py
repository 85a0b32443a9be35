"""The worker process: Temporal client, worker wiring, schedules."""
