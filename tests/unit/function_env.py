"""The environment a function's handler module is imported with in the unit tests (no stack:
nothing is called)."""

FUNCTION_ENV = {
    "TABLE_NAME": "cronlane-runs",
    "QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/cronlane-jobs.fifo",
    "DLQ_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/cronlane-dlq.fifo",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "CRONLANE_CATALOG": "fixture_jobs.catalog",
}
