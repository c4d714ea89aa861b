// cronlane's local runtime interface for a Node.js Lambda function (cronlane.local.node).
// It loads the function's handler once (its cold start), then for each line on stdin,
// {"event": ..., "context": {...}}, calls the handler as Lambda's Node.js runtime does (async,
// or with a callback) and writes one line, {"result": ...} or {"error": {...}}, to the file
// descriptor in CRONLANE_RESULT_FD. The function's own output (console.log) goes to its log.
"use strict";
const fs = require("fs");
const path = require("path");
const readline = require("readline");

const [handlerSpec, codeDir] = process.argv.slice(2);
const resultFd = Number(process.env.CRONLANE_RESULT_FD);
const dot = handlerSpec.lastIndexOf(".");
const modulePath = path.join(codeDir, handlerSpec.slice(0, dot));
const exportName = handlerSpec.slice(dot + 1);

function reply(message) {
  fs.writeSync(resultFd, JSON.stringify(message) + "\n");
}

function failure(err) {
  const error = err instanceof Error ? err : new Error(String(err));
  return { errorType: error.name || "Error", errorMessage: error.message, stackTrace: (error.stack || "").split("\n").slice(0, 8) };
}

let handler;
try {
  handler = require(modulePath)[exportName];
  if (typeof handler !== "function") throw new Error(`${handlerSpec} is not a function`);
} catch (err) {
  reply({ init_error: failure(err) });
  process.exit(1);
}
reply({ ready: true });

readline.createInterface({ input: process.stdin }).on("line", async (line) => {
  const { event, context } = JSON.parse(line);
  const deadline = context.deadline_ms;
  const lambdaContext = {
    awsRequestId: context.request_id,
    functionName: context.function_name,
    memoryLimitInMB: String(context.memory_mb),
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    callbackWaitsForEmptyEventLoop: true,
  };
  try {
    const result = await new Promise((resolve, reject) => {
      const returned = handler(event, lambdaContext, (err, value) => (err ? reject(err) : resolve(value)));
      if (returned && typeof returned.then === "function") returned.then(resolve, reject);
    });
    reply({ result: result === undefined ? null : result });
  } catch (err) {
    console.error(err);
    reply({ error: failure(err) });
  }
});
