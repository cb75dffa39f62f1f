"""Hand-written fake venues for tests: real HTTP servers on 127.0.0.1 with request logs."""
