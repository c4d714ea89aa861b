"""The job queue: SQS FIFO (``sqs``) or in a process (``memory``); the interface is
``cronlane.ports.JobQueue``."""
