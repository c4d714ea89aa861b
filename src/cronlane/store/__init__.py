"""The run store: DynamoDB (``dynamodb``, with its items in ``items``) or in a process
(``memory``); the interface is ``cronlane.ports.RunStore``."""
