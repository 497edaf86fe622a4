# syntax=docker/dockerfile:1
# access in a container: the scheduled drift/expiry run (deploy/kubernetes/), or any `access` command.
#   docker build -t access .
#   docker run --rm -v "$PWD:/repo" access plan --sandbox
# Every Python package comes from requirements.lock, installed with --require-hashes into a virtual
# environment: the build backend in the first stage (which builds the wheel from this tree), the
# runtime dependencies and that wheel in the second.
#
# BASE: any Debian-based image with python3 and its venv module (git is installed when missing).
# The default is the published Python image, pinned by digest; .ci/container-test builds with one
# made from Debian's packages (no registry needed): --build-arg BASE=localhost/debian-python:bookworm
ARG BASE=python:3.11-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91

FROM ${BASE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY requirements.lock ./
RUN python3 -m venv /opt/build \
    && /opt/build/bin/python -m pip install --require-hashes --no-deps -r requirements.lock
COPY pyproject.toml setup.py MANIFEST.in README.md LICENSE ./
COPY reconciler/ reconciler/
COPY access/ access/
COPY policies/ policies/
COPY schema/ schema/
COPY .github/workflows/ .github/workflows/
COPY .github/ISSUE_TEMPLATE/ .github/ISSUE_TEMPLATE/
RUN /opt/build/bin/python -m pip wheel --no-deps --no-build-isolation --wheel-dir /dist .

FROM ${BASE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/access/bin:$PATH
# git: the approval gate reads the repository's history (gitpython runs the git binary).
RUN if ! command -v git >/dev/null 2>&1; then \
        apt-get update \
        && apt-get install -y --no-install-recommends git ca-certificates \
        && rm -rf /var/lib/apt/lists/*; \
    fi
COPY requirements.lock /tmp/requirements.lock
RUN python3 -m venv /opt/access \
    && /opt/access/bin/python -m pip install --require-hashes --no-deps -r /tmp/requirements.lock \
    && rm /tmp/requirements.lock
COPY --from=build /dist/ /tmp/dist/
RUN /opt/access/bin/python -m pip install --no-deps /tmp/dist/access_reconciler-*.whl && rm -rf /tmp/dist
RUN useradd --create-home --uid 10001 --user-group access
# A repository mounted at /repo belongs to the host's user, not to uid 10001, and git refuses to read
# a repository another user owns ("dubious ownership": its .git/config could run that user's
# commands, such as core.fsmonitor, as ours). Here that guard protects nothing: the container has no
# other user to protect and reads only what whoever ran it chose to mount. Only the mount point is
# trusted; a repository anywhere else still gets git's check (and access's message naming the fix).
RUN git config --system --add safe.directory /repo
USER 10001:10001
WORKDIR /repo
ENTRYPOINT ["access"]
CMD ["--help"]
