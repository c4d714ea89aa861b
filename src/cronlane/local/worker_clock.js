// cronlane's clock for a Node.js process the local runtime starts (an ECS task's container, a
// callback target's worker): the same as the Python module cronlane.worker.
//
//   const clock = require(process.env.CRONLANE_WORKER_CLOCK_JS);
//   clock.now();            // seconds since the epoch, on the runtime's clock
//   await clock.sleep(20);  // let 20 clock seconds pass
//
// CRONLANE_CLOCK unset: the system clock. "scaled:<origin>:<scale>:<real_origin>": a clock that
// was origin at real time real_origin and runs 1/scale times as fast. "virtual:<host>:<port>":
// the runtime's clock server, which moves time only while no process it started is working. This
// process counts as working unless it is in sleep(), so the time cannot change between two of
// its sleeps: now() is the time the runtime gave at the last one (CRONLANE_CLOCK_START before
// the first). Sleeps of one process are taken one after the other, each to its own end.
"use strict";

const net = require("net");

function clock() {
  const spec = process.env.CRONLANE_CLOCK || "";
  const [mode, ...fields] = spec.split(":");
  if (!spec) return { mode: "system" };
  if (mode === "scaled") {
    const [origin, scale, realOrigin] = fields.map(Number);
    return { mode, origin, scale, realOrigin };
  }
  if (mode === "virtual") return { mode, host: fields.slice(0, -1).join(":"), port: Number(fields.at(-1)) };
  throw new Error(`CRONLANE_CLOCK ${JSON.stringify(spec)} is not scaled:... or virtual:...`);
}

let virtualNow = null; // the runtime's time at this process's last sleep
let connection = null; // { socket, answers: [resolve...], buffer }
let sleeps = Promise.resolve();

function now() {
  const c = clock();
  if (c.mode === "scaled") return c.origin + (Date.now() / 1000 - c.realOrigin) / c.scale;
  if (c.mode === "virtual") return virtualNow ?? Number(process.env.CRONLANE_CLOCK_START);
  return Date.now() / 1000;
}

function connect(c) {
  const socket = net.createConnection({ host: c.host, port: c.port });
  const state = { socket, answers: [], buffer: "" };
  socket.setEncoding("ascii");
  socket.on("data", (chunk) => {
    state.buffer += chunk;
    let end;
    while ((end = state.buffer.indexOf("\n")) >= 0) {
      const line = state.buffer.slice(0, end);
      state.buffer = state.buffer.slice(end + 1);
      const answer = state.answers.shift();
      if (answer) answer.resolve(line);
    }
    if (!state.answers.length) socket.unref(); // an idle connection does not keep node running
  });
  const gone = (error) => {
    for (const answer of state.answers.splice(0)) answer.reject(error || new Error("the local runtime's clock is gone"));
    connection = null;
  };
  socket.on("error", gone);
  socket.on("close", () => gone());
  connection = state;
  ask(`hello ${process.env.CRONLANE_CLOCK_ID || "-"}`).catch(() => {});
  return state;
}

function ask(line) {
  const state = connection;
  return new Promise((resolve, reject) => {
    state.answers.push({ resolve, reject });
    state.socket.ref();
    state.socket.write(line + "\n");
  });
}

function sleep(seconds) {
  const c = clock();
  if (!(seconds > 0)) return Promise.resolve();
  if (c.mode === "scaled") return new Promise((resolve) => setTimeout(resolve, seconds * c.scale * 1000));
  if (c.mode !== "virtual") return new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const end = now() + seconds;
  const mine = sleeps.then(async () => {
    const left = end - now();
    if (left <= 0) return;
    if (!connection) connect(c);
    virtualNow = Number(await ask(`sleep ${left}`));
    process.env.CRONLANE_CLOCK_START = String(virtualNow); // what a child started now begins with
  });
  sleeps = mine.catch(() => {});
  return mine;
}

module.exports = { now, sleep };
