# make sam-local: both functions of the example app run by `sam local invoke` in Lambda-like
# containers against the local twin, each checked in the twin's table (docs/sam-local.md).
# Included by the Makefile (it uses its EXAMPLE, BIN and SAM). It needs root, Debian's docker.io
# and debootstrap (installed here when missing); where it cannot run, cronlane prints one
# "skipped (<reason>)" line and exits 4, and the target says so and passes.
# The Docker engine's images and the Lambda image's cache live in .tools/docker between runs.
SAM_LOCAL_DOCKER := $(CURDIR)/.tools/docker
SAM_LOCAL_SKIPPED := 4

.PHONY: sam-local sam-local-packages

# dockerd and debootstrap live in /usr/sbin, which a user's PATH may lack.
sam-local-packages:
	@missing=""; \
	for need in dockerd:docker.io debootstrap:debootstrap; do \
		PATH="$$PATH:/usr/sbin:/sbin" command -v "$${need%%:*}" >/dev/null || missing="$$missing $${need#*:}"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then echo "make sam-local: not root, so not installing$$missing"; exit 0; fi; \
	mkdir -p .tools && echo "make sam-local: installing$$missing (log: .tools/sam-local-apt.log)"; \
	{ apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; } \
		>.tools/sam-local-apt.log 2>&1 || echo "make sam-local: could not install$$missing (.tools/sam-local-apt.log)"

# Then the same in a new app made by `cronlane init` (in a scratch folder, removed after): what a
# team gets works too. SAM_LOCAL_REQUIRED=1 (.ci/run sets it) makes a skip fail: CI here must run it.
SAM_LOCAL_APP := $(CURDIR)/.tools/sam-local-app
SAM_LOCAL_REQUIRED ?= 0

sam-local: sam-local-packages tools venv wheels
	@began=$$(date +%s); cd $(EXAMPLE) && rc=0 && $(CURDIR)/$(BIN)/cronlane local sam-invoke --sam $(SAM) \
		--docker-root $(SAM_LOCAL_DOCKER) || rc=$$?; \
	if [ $$rc -eq $(SAM_LOCAL_SKIPPED) ]; then \
		echo "make sam-local: skipped, nothing was invoked"; \
		if [ "$(SAM_LOCAL_REQUIRED)" = 1 ]; then echo "make sam-local: SAM_LOCAL_REQUIRED=1: a skip fails"; exit 1; fi; \
		exit 0; \
	elif [ $$rc -ne 0 ]; then exit $$rc; fi; \
	rm -rf $(SAM_LOCAL_APP) && mkdir -p $(SAM_LOCAL_APP) && cd $(SAM_LOCAL_APP) \
		&& $(CURDIR)/$(BIN)/cronlane init team-jobs --find-links $(CURDIR)/$(WHEELS) >/dev/null \
		&& cd team-jobs && echo "in an app made by cronlane init:" \
		&& $(CURDIR)/$(BIN)/cronlane local sam-invoke --sam $(SAM) --docker-root $(SAM_LOCAL_DOCKER) \
		&& rm -rf $(SAM_LOCAL_APP) && echo "make sam-local: $$(( $$(date +%s) - began )) s"
