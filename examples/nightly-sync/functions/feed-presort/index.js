// feedPresortJob, as the team already has it: a JavaScript Lambda function (Node.js 22), which
// cronlane invokes as a `lambda` target with its job payload (run_id, job, params, attempt,
// idempotency_key...). What it returns is the job's result; a throw is a failed attempt.
"use strict";

// Pre-sort every user's candidate feed: here, a deterministic stand-in of `feeds` feeds of
// `items` items each, sorted by score, so the result says what was done, in numbers.
function presort(feeds, items, seed) {
  let state = seed >>> 0 || 1;
  const next = () => (state = (state * 1103515245 + 12345) >>> 0) / 4294967296;
  let sorted = 0;
  for (let feed = 0; feed < feeds; feed++) {
    const scores = Array.from({ length: items }, next);
    scores.sort((a, b) => b - a);
    sorted += scores.length;
  }
  return sorted;
}

exports.handler = async (event, context) => {
  const params = event.params || {};
  if ((params.fail_attempts || 0) >= event.attempt) {
    throw new Error(`feed presort refused attempt ${event.attempt} (fail_attempts)`);
  }
  const feeds = params.feeds || 200;
  const items = params.items_per_feed || 500;
  const sorted = presort(feeds, items, event.run_id.length);
  console.log(JSON.stringify({ message: "feeds presorted", feeds, sorted, run_id: event.run_id }));
  return { feeds, items_sorted: sorted, node: process.version, request_id: context.awsRequestId };
};
