"""The web application of ``cronlane ui`` (Flask, Jinja2 templates in ``templates/``): the
schedules with their runs as a grid, a run with its Gantt and its jobs, a job's logs, the
dead-letter queue, and, when started with ``--allow-actions``, the operator's actions.

What keeps another page open in the same browser from driving it (the server holds AWS
credentials): it answers only requests whose ``Host`` is its own loopback address (no DNS
rebinding), an action is a POST whose ``Origin`` is its own and which carries this process's
token (no cross-site request can), and each is confirmed on a page of its own first. Pages are
complete HTML; a page showing a run still going asks for itself again every few seconds (short
polling) and swaps its content in.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, abort, redirect, render_template, request

from cronlane import timeline
from cronlane.clock import parse_iso
from cronlane.model import RunStatus
from cronlane.ui import render
from cronlane.ui.source import ActionRefused, Source, run_href

POLL_MS = 3000
LOGS_POLL_MS = 5000


@dataclass(frozen=True)
class Action:
    """One operator action: what it asks the dispatcher, the fields it takes, how it is said."""

    name: str
    fields: tuple[str, ...]
    question: str  # with {field} placeholders

    def event(self, given: dict[str, str]) -> dict[str, Any]:
        event: dict[str, Any] = {"action": self.name}
        for name in self.fields:
            value = given.get(name, "")
            if name in ("failed_only", "all"):
                event[name] = value == "true"
            elif value:
                event[name] = value
        if self.name == "trigger":
            event["idempotency_key"] = f"ui-{uuid.uuid4().hex[:12]}"
        if self.name == "pause" and given.get("reason"):
            event["reason"] = given["reason"]
        return event


ACTIONS = {
    a.name: a
    for a in (
        Action("trigger", ("schedule",), "Start a run of {schedule} now?"),
        Action("rerun", ("run_id", "failed_only"), "Rerun the jobs of {run_id} that did not succeed?"),
        Action("cancel", ("run_id",), "Cancel {run_id}? Queued jobs will not start."),
        Action("mark", ("run_id", "job"), "Mark {job} of {run_id} succeeded (its dependents then run)?"),
        Action("pause", ("schedule",), "Pause {schedule}? Its ticks are skipped until it is resumed."),
        Action("resume", ("schedule",), "Resume {schedule}?"),
        Action("dlq-replay", ("run_id", "job", "all"), "Replay the dead letters of {what}?"),
    )
}


def _age(when: str | None) -> str:
    """How long ago an ISO time was (``-`` for none)."""
    if not when:
        return "-"
    return timeline.duration_text(max(time.time() - parse_iso(when), 0.0))


def create_app(source: Source, port: int, allow_actions: bool = False, token: str | None = None) -> Flask:
    app = Flask("cronlane.ui", static_folder="static", template_folder="templates")
    app.jinja_env.globals.update(
        status_colours=render.STATUS_COLOURS,
        run_href=run_href,
        allow_actions=allow_actions,
        target=source.description,
    )
    app.jinja_env.filters["duration"] = timeline.duration_text
    app.jinja_env.filters["age"] = _age
    app.jinja_env.filters["json"] = lambda value: json.dumps(value, indent=1, sort_keys=True, default=str)
    secret = token or secrets.token_urlsafe(24)
    app.config["CRONLANE_TOKEN"] = secret
    hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}
    origins = {f"http://{h}" for h in hosts}

    @app.before_request
    def same_machine_only() -> Response | None:
        if request.host not in hosts:  # a DNS name rebound to loopback is another Host
            return Response(f"cronlane ui answers only {', '.join(sorted(hosts))}", 421)
        # a request another site's page makes the browser send (an <img>, a form, a fetch), even
        # a GET: some reads cost (a Logs Insights query) or receive (the dead-letter queue)
        if request.headers.get("Sec-Fetch-Site") in ("cross-site", "same-site"):
            return Response("cronlane ui: a request from another site's page", 403)
        origin = request.headers.get("Origin")
        if origin is not None and origin not in origins:
            return Response("cronlane ui: a request from another site's page", 403)
        if request.method not in ("GET", "HEAD"):
            if origin is None:
                return Response("cronlane ui: a change must come from its own pages", 403)
            if request.path != "/dlq" and not allow_actions:  # reading the DLQ is a POST too
                return Response("cronlane ui was started without --allow-actions", 403)
            if not secrets.compare_digest(request.form.get("token", ""), secret):
                return Response("cronlane ui: this page's token is not this server's (reload it)", 403)
        return None

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers["X-Frame-Options"] = "DENY"  # no clicks through a frame of another site
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "frame-ancestors 'none'"
        )
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/")
    def schedules() -> str:
        began = time.perf_counter()
        shown = source.schedules()
        return render_template(
            "schedules.html",
            schedules=shown,
            links=True,
            poll=POLL_MS if any(s.live for s in shown) else None,
            read_ms=round((time.perf_counter() - began) * 1000),
        )

    @app.get("/runs/<path:run_id>")
    def run_page(run_id: str) -> str:
        page = source.run(run_id)
        if page is None:
            abort(404, f"no run {run_id} in {source.description}")
        now = time.time()
        line = timeline.build(page.run, page.jobs, now)
        order = {row.job: i for i, row in enumerate(line.rows)}
        jobs = sorted(page.jobs, key=lambda j: order.get(j.job, 0))
        return render_template(
            "run.html",
            run=render.run_facts(page.run, page.jobs),
            jobs=jobs,
            segments={row.job: row.segments for row in line.rows},
            results=page.results,
            audit=page.audit,
            svg=render.gantt_svg(page.run, page.jobs, now),
            live=page.run.status is RunStatus.RUNNING,
            poll=POLL_MS if page.run.status is RunStatus.RUNNING else None,
            token=secret,
        )

    @app.get("/runs/<path:run_id>/logs/<job>")
    def logs_page(run_id: str, job: str) -> str:
        from cronlane.cli.logs import LogsUnavailable

        page = source.run(run_id)
        if page is None or job not in {j.job for j in page.jobs}:
            abort(404, f"no job {job} in run {run_id}")
        given = request.args.get("attempt")
        attempt = int(given) if given and given.isdigit() and int(given) >= 1 else None
        if given and attempt is None:
            abort(400, f"attempt {given!r}: a whole number from 1")
        view = next(j for j in page.jobs if j.job == job)
        try:
            lines, problem = source.logs(page.run, job, attempt), None
        except LogsUnavailable as exc:
            lines, problem = [], str(exc)
        return render_template(
            "logs_lines.html" if request.args.get("partial") == "1" else "logs.html",
            run_id=run_id,
            job=job,
            attempt=attempt,
            attempts=list(range(1, view.attempts + 1)),
            lines=lines,
            problem=problem,
            # each read of a stack's logs is a Logs Insights query: not more often than the CLI
            poll=LOGS_POLL_MS if not view.status.terminal else None,
        )

    @app.route("/dlq", methods=["GET", "POST"])
    def dlq() -> str:
        letters, problem = None, None
        if request.method == "POST":  # only when asked (a POST with the token): listing receives
            try:
                letters = source.dead_letters()
            except ActionRefused as exc:
                problem = str(exc)
        return render_template("dlq.html", letters=letters, problem=problem, token=secret)

    @app.get("/confirm/<name>")
    def confirm(name: str) -> str:
        action = ACTIONS.get(name)
        if action is None or not allow_actions:
            abort(404)
        given = {f: request.args.get(f, "") for f in action.fields}
        what = " and ".join(f"{k} {v}" for k, v in given.items() if v and k not in ("all",)) or "every job"
        question = action.question.format(**{**given, "what": what})
        return render_template("confirm.html", action=action, given=given, question=question, token=secret)

    @app.post("/actions/<name>")
    def perform(name: str) -> Any:
        action = ACTIONS.get(name)
        if action is None:
            abort(404)
        given = {f: request.form.get(f, "") for f in (*action.fields, "reason")}
        reason = (request.form.get("reason") or "").strip() or None
        try:
            answer = source.act(action.event(given), reason)
        except ActionRefused as exc:
            return render_template("error.html", message=str(exc)), 400
        if name == "trigger":
            return redirect(run_href(str(answer["run_id"])), 303)
        if name in ("pause", "resume"):
            return redirect("/", 303)
        if name == "dlq-replay":
            return redirect("/dlq", 303)
        return redirect(run_href(given["run_id"], given.get("job") or None), 303)

    @app.errorhandler(400)
    @app.errorhandler(404)
    def refused(error: Any) -> tuple[str, int]:
        return render_template("error.html", message=getattr(error, "description", "not found")), error.code

    @app.errorhandler(Exception)
    def failed(error: Exception) -> tuple[str, int]:
        from werkzeug.exceptions import HTTPException

        if isinstance(error, HTTPException):
            return render_template("error.html", message=error.description), error.code or 500
        # the stack or the twin could not be read (credentials, the network): one line, no trace
        first = (str(error).splitlines() or [""])[0]
        message = f"{source.description}: {type(error).__name__}: {first}"
        return render_template("error.html", message=message), 502

    return app
