"""The job queue's contract (``ports.JobQueue``): each test runs on SQS FIFO (moto) and in memory,
both on a virtual clock. Receiving and deleting job messages is what Lambda's event source
mapping does (the drivers in ``conftest``); the rest is the port's."""

from __future__ import annotations

import json

from cronlane.model import JobMessage
from tests.contract.conftest import MAX_RECEIVE_COUNT, START, QueueDriver

RUN_1 = "nightly@2026-11-28T02:00:00Z"
RUN_2 = "nightly@2026-11-29T02:00:00Z"
RUN_3 = "nightly@2026-11-30T02:00:00Z"


def received(driver: QueueDriver, limit: int = 10, visibility_s: int = 30) -> list[JobMessage]:
    return [d.message for d in driver.receive(limit, visibility_s)]


# -- 1. ordering and lanes ------------------------------------------------------------------------


def test_messages_of_one_group_come_in_order(queue: QueueDriver) -> None:
    # GIVEN three messages of job a (one group), sent in order
    sent = [JobMessage(run, "a") for run in (RUN_1, RUN_2, RUN_3)]
    queue.queue.send(sent)
    # WHEN each is received and deleted in turn
    order = []
    for _ in sent:
        deliveries = queue.receive(limit=1)
        assert len(deliveries) == 1
        order.append(deliveries[0].message)
        queue.delete(deliveries[0])
    # THEN they came in the order they were sent, and nothing is left
    assert order == sent
    assert queue.receive() == []


def test_a_message_in_flight_holds_its_group_but_not_the_others(queue: QueueDriver) -> None:
    # GIVEN two messages of job a and one of job b
    first_a, second_a, only_b = JobMessage(RUN_1, "a"), JobMessage(RUN_2, "a"), JobMessage(RUN_1, "b")
    queue.queue.send([first_a, second_a, only_b])
    # WHEN the first of a is received and not yet deleted
    in_flight = queue.receive(limit=1)
    assert [d.message for d in in_flight] == [first_a]
    # THEN the next of a is not delivered, while b's message is
    assert received(queue) == [only_b]
    assert received(queue) == []
    # WHEN the first of a is deleted THEN the next of a comes
    queue.delete(in_flight[0])
    assert received(queue) == [second_a]


def test_messages_of_different_groups_are_delivered_together(queue: QueueDriver) -> None:
    # GIVEN one message each of jobs a, b and c
    sent = [JobMessage(RUN_1, job) for job in ("a", "b", "c")]
    queue.queue.send(sent)
    # WHEN / THEN one receive hands out all three
    assert sorted(received(queue), key=lambda m: m.job) == sent


def test_the_lanes_of_one_job_are_groups_of_their_own(queue: QueueDriver) -> None:
    # GIVEN two runs' messages of job a in lane 0 and a third run's in lane 1 (max_concurrent=2)
    first, second, other = JobMessage(RUN_1, "a"), JobMessage(RUN_2, "a"), JobMessage(RUN_3, "a", lane=1)
    queue.queue.send([first, second, other])
    # WHEN the first is in flight
    in_flight = queue.receive(limit=1)
    assert [d.message for d in in_flight] == [first]
    # THEN lane 1's message comes, with its lane, while lane 0's next waits for the first
    assert [(m.run_id, m.lane) for m in received(queue)] == [(RUN_3, 1)]
    assert received(queue) == []
    queue.delete(in_flight[0])
    assert received(queue) == [second]


# -- 2. visibility --------------------------------------------------------------------------------


def test_a_message_not_deleted_comes_back_after_its_visibility_timeout(queue: QueueDriver) -> None:
    # GIVEN a message received with a visibility timeout of 30 s, not deleted (its executor died)
    message = JobMessage(RUN_1, "a", queued_at=START)
    queue.queue.send([message])
    first = queue.receive(visibility_s=30)
    assert [(d.message, d.receive_count) for d in first] == [(message, 1)]
    # WHEN 29 s pass THEN it is still hidden
    queue.advance(29)
    assert queue.receive() == []
    # WHEN the timeout is over THEN it comes back, received once more
    queue.advance(2)
    again = queue.receive(visibility_s=30)
    assert [(d.message, d.receive_count) for d in again] == [(message, 2)]
    assert again[0].message.queued_at == START
    # AND only the newest receipt deletes it for good
    queue.delete(again[0])
    queue.advance(31)
    assert queue.receive() == []


def test_delay_hides_a_received_message_for_its_backoff(queue: QueueDriver) -> None:
    # GIVEN two messages of job a and one of job b; the first of a is received
    retried, behind, other = JobMessage(RUN_1, "a"), JobMessage(RUN_2, "a"), JobMessage(RUN_1, "b")
    queue.queue.send([retried, behind, other])
    deliveries = queue.receive(limit=1, visibility_s=30)
    assert [d.message for d in deliveries] == [retried]
    # WHEN its retry backs off for 120 s
    queue.queue.delay(queue.queue_arn, deliveries[0].receipt_handle, 120)
    # THEN after 60 s (its visibility timeout long over) it is still hidden, and its group waits
    queue.advance(60)
    others = queue.receive()
    assert [d.message for d in others] == [other]
    queue.delete(others[0])
    assert queue.receive() == []
    # WHEN the backoff is over THEN it comes back, first of its group
    queue.advance(61)
    back = queue.receive(limit=1)
    assert [(d.message, d.receive_count) for d in back] == [(retried, 2)]
    # AND the one behind it waits until it is deleted
    assert queue.receive() == []
    queue.delete(back[0])
    assert received(queue) == [behind]


def test_delay_of_zero_gives_a_message_back_at_once(queue: QueueDriver) -> None:
    # GIVEN a received message
    message = JobMessage(RUN_1, "a")
    queue.queue.send([message])
    deliveries = queue.receive(visibility_s=300)
    # WHEN it is given back with no backoff THEN it can be received again at once
    queue.queue.delay(queue.queue_arn, deliveries[0].receipt_handle, 0)
    assert [(d.message, d.receive_count) for d in queue.receive()] == [(message, 2)]


# -- 3. deduplication -----------------------------------------------------------------------------


def test_a_repeat_within_five_minutes_is_delivered_once(queue: QueueDriver) -> None:
    # GIVEN a message, and the same message again (the same deduplication id) a minute later
    message = JobMessage(RUN_1, "a")
    queue.queue.send([message])
    queue.advance(60)
    queue.queue.send([JobMessage(RUN_1, "a", queued_at=START + 60)])
    # WHEN the queue is received from
    deliveries = queue.receive()
    # THEN it is delivered once
    assert [d.message for d in deliveries] == [message]
    assert deliveries[0].message.queued_at is None  # the first one
    queue.delete(deliveries[0])
    assert queue.receive() == []


def test_a_repeat_of_a_delivered_message_within_five_minutes_is_dropped(queue: QueueDriver) -> None:
    # GIVEN a message received and deleted (its job ran)
    message = JobMessage(RUN_1, "a")
    queue.queue.send([message])
    deliveries = queue.receive()
    queue.delete(deliveries[0])
    # WHEN the same message is sent again two minutes after the first
    queue.advance(120)
    queue.queue.send([message])
    # THEN it is not delivered: the deduplication interval counts from the first send
    assert queue.receive() == []


def test_a_repeat_after_five_minutes_is_a_new_message(queue: QueueDriver) -> None:
    # GIVEN a message
    message = JobMessage(RUN_1, "a")
    queue.queue.send([message])
    # WHEN the same message is sent again after the deduplication interval
    queue.advance(301)
    queue.queue.send([message])
    # THEN both are delivered
    assert received(queue) == [message, message]


def test_a_message_of_another_generation_is_a_new_message(queue: QueueDriver) -> None:
    # GIVEN a job's message, and its message of the next generation (a rerun) at once
    first, rerun = JobMessage(RUN_1, "a"), JobMessage(RUN_1, "a", generation=1)
    continued = JobMessage(RUN_1, "a", generation=1, continuation=1)
    assert len({first.dedup_id(), rerun.dedup_id(), continued.dedup_id()}) == 3
    queue.queue.send([first, rerun, continued])
    # WHEN / THEN all three are delivered, in order
    assert received(queue) == [first, rerun, continued]


# -- 4. dead letters ------------------------------------------------------------------------------


def test_a_dead_letter_carries_its_error_and_peeking_hides_it(queue: QueueDriver) -> None:
    # GIVEN two messages put on the dead-letter queue with their errors
    one, two = JobMessage(RUN_1, "a"), JobMessage(RUN_1, "b")
    queue.queue.dead_letter(one.body(), one.dedup_id(), "job a failed: boom")
    queue.queue.dead_letter(two.body(), two.dedup_id(), "x" * 5000)
    # WHEN they are peeked at
    letters = queue.queue.peek_dead_letters(10, 60)
    # THEN each has its body and its error (a long one cut to 1024 characters)
    by_body = {JobMessage.parse(letter.body): letter for letter in letters}
    assert set(by_body) == {one, two}
    assert by_body[one].error == "job a failed: boom"
    assert by_body[two].error == "x" * 1024
    assert {letter.dead_lettered_at for letter in letters} == {START}
    assert len({letter.message_id for letter in letters}) == 2
    # AND a second peek does not see them: they are hidden
    assert queue.queue.peek_dead_letters(10, 60) == []
    # WHEN they are unhidden THEN they are seen again
    queue.queue.unhide(letters)
    assert {JobMessage.parse(x.body) for x in queue.queue.peek_dead_letters(10, 60)} == {one, two}


def test_a_peeked_dead_letter_shows_again_when_its_hiding_time_is_over(queue: QueueDriver) -> None:
    # GIVEN a dead letter peeked at, hidden for 60 s
    message = JobMessage(RUN_1, "a")
    queue.queue.dead_letter(message.body(), message.dedup_id(), "boom")
    assert len(queue.queue.peek_dead_letters(10, 60)) == 1
    # WHEN 59 s pass THEN it is hidden; WHEN 61 s have passed THEN it shows again
    queue.advance(59)
    assert queue.queue.peek_dead_letters(10, 60) == []
    queue.advance(2)
    assert [x.body for x in queue.queue.peek_dead_letters(10, 60)] == [message.body()]


def test_peek_dead_letters_gives_at_most_its_limit(queue: QueueDriver) -> None:
    # GIVEN five dead letters
    messages = [JobMessage(RUN_1, f"job-{i}") for i in range(5)]
    for message in messages:
        queue.queue.dead_letter(message.body(), message.dedup_id(), "boom")
    # WHEN they are peeked at two at a time THEN each is seen once
    first, second = queue.queue.peek_dead_letters(2, 60), queue.queue.peek_dead_letters(2, 60)
    rest = queue.queue.peek_dead_letters(10, 60)
    assert (len(first), len(second), len(rest)) == (2, 2, 1)
    seen = [JobMessage.parse(x.body) for x in first + second + rest]
    assert sorted(seen, key=lambda m: m.job) == messages


def test_a_deleted_dead_letter_is_gone(queue: QueueDriver) -> None:
    # GIVEN two dead letters, peeked at
    kept, deleted = JobMessage(RUN_1, "a"), JobMessage(RUN_1, "b")
    for message in (kept, deleted):
        queue.queue.dead_letter(message.body(), message.dedup_id(), "boom")
    letters = {JobMessage.parse(x.body): x for x in queue.queue.peek_dead_letters(10, 60)}
    assert set(letters) == {kept, deleted}
    # WHEN one is deleted, and both are unhidden
    queue.queue.delete_dead_letter(letters[deleted])
    queue.queue.unhide(list(letters.values()))
    # THEN only the other is left, then and after every hiding time
    assert [JobMessage.parse(x.body) for x in queue.queue.peek_dead_letters(10, 60)] == [kept]
    queue.advance(61)
    assert [JobMessage.parse(x.body) for x in queue.queue.peek_dead_letters(10, 60)] == [kept]


# -- 5. the redrive policy ------------------------------------------------------------------------


def test_a_message_received_max_receive_count_times_moves_to_the_dead_letter_queue(
    queue: QueueDriver,
) -> None:
    # GIVEN a message received max_receive_count times, never deleted (every attempt crashed)
    message = JobMessage(RUN_1, "a", queued_at=START)
    queue.queue.send([message])
    counts = []
    for _ in range(MAX_RECEIVE_COUNT):
        deliveries = queue.receive(visibility_s=30)
        counts += [d.receive_count for d in deliveries]
        queue.advance(31)
    assert counts == list(range(1, MAX_RECEIVE_COUNT + 1))
    # WHEN the queue is received from once more
    # THEN the redrive policy has moved it to the dead-letter queue
    assert queue.receive() == []
    letters = queue.queue.peek_dead_letters(10, 60)
    assert len(letters) == 1
    assert json.loads(letters[0].body) == json.loads(message.body())
    assert letters[0].error == ""  # the queue moved it: no error of cronlane's
    # AND it is no longer on the job queue
    queue.advance(3600)
    assert queue.receive() == []


def test_the_redrive_policy_moves_only_the_message_received_too_often(queue: QueueDriver) -> None:
    # GIVEN a message of a received max_receive_count times, and one of b received once
    crashing, healthy = JobMessage(RUN_1, "a"), JobMessage(RUN_1, "b")
    queue.queue.send([crashing])
    for _ in range(MAX_RECEIVE_COUNT):
        assert [d.message for d in queue.receive(visibility_s=30)] == [crashing]
        queue.advance(31)
    queue.queue.send([healthy])
    # WHEN the queue is received from
    deliveries = queue.receive(visibility_s=30)
    # THEN b's message is delivered and a's is a dead letter
    assert [d.message for d in deliveries] == [healthy]
    assert [JobMessage.parse(x.body) for x in queue.queue.peek_dead_letters(10, 60)] == [crashing]
