"""Where SDK errors become cronlane's: the one place a DynamoDB or SQS failure is translated.

- a DynamoDB write whose condition failed is ``False`` (``conditional``): someone else got there
  first, which is how idempotency shows itself, not an error;
- a missing item is ``None`` (``dynamodb``'s ``missing``);
- an EventBridge Scheduler schedule that exists already, or is gone, is ``False`` (``scheduler``);
- any other PynamoDB or botocore failure is a ``StoreError`` / ``QueueError`` that says what was
  being done and chains the SDK's exception (``raise ... from``), so the invocation fails and is
  retried.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pynamodb.exceptions import DoesNotExist, PynamoDBException

from cronlane.errors import QueueError, StoreError
from cronlane.store.items import condition_failed


def dynamodb[T](doing: str, call: Callable[[], T], missing: Any = ...) -> T:
    """``call()``; an SDK failure is a ``StoreError`` naming ``doing``. With ``missing``, an item
    that does not exist (``Model.get``) is that value instead."""
    try:
        return call()
    except DoesNotExist:
        if missing is ...:
            raise StoreError(f"{doing}: no such item") from None
        return missing  # type: ignore[no-any-return]
    except PynamoDBException as exc:
        raise StoreError(f"{doing}: {exc}") from exc


def conditional(doing: str, write: Callable[[], Any]) -> bool:
    """A conditional write: True if it was made, False if its condition failed."""
    try:
        write()
    except PynamoDBException as exc:
        if condition_failed(exc):
            return False
        raise StoreError(f"{doing}: {exc}") from exc
    return True


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError`` ("" for anything else)."""
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


def scheduler(doing: str, call: Callable[[], Any], absent_is_fine: bool = False) -> bool:
    """An EventBridge Scheduler call: True if made; False if it refused because the schedule
    exists (``ConflictException``), or, with ``absent_is_fine``, because it does not
    (``ResourceNotFoundException``); any other failure is a ``StoreError``."""
    try:
        call()
    except Exception as exc:  # botocore's ClientError, EndpointConnectionError, ...
        code = error_code(exc)
        if code == "ConflictException" or (absent_is_fine and code == "ResourceNotFoundException"):
            return False
        raise StoreError(f"{doing}: {exc}") from exc
    return True


@contextmanager
def sqs(doing: str) -> Iterator[None]:
    """An SQS call: botocore's errors (a refusal, a connection failure) become a ``QueueError``."""
    try:
        yield
    except QueueError:
        raise
    except Exception as exc:  # botocore's ClientError, EndpointConnectionError, ...
        raise QueueError(f"{doing}: {exc}") from exc
