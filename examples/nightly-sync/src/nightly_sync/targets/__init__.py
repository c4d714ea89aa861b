"""The example's work that runs outside the executor, as a team's existing services do: an ECS
task (``recommendation_model``) and a callback worker (``compatibility_worker``). Each runs as
its own process: on AWS in its container, on the embedded default as the local command its
template resource declares (``Metadata: cronlane: local-command / local-worker``)."""
