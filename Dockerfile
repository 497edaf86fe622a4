# syntax=docker/dockerfile:1
# access in a container: the scheduled drift/expiry run (deploy/kubernetes/), or any `access` command.
#   docker build -t access .
#   docker run --rm -v "$PWD:/repo" access plan --sandbox
# Runtime dependencies come only from requirements.lock, installed with --require-hashes; the
# package itself is built from this source tree in the first stage and installed without deps.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml setup.py MANIFEST.in README.md LICENSE ./
COPY reconciler/ reconciler/
COPY access/ access/
COPY policies/ policies/
COPY schema/ schema/
COPY .github/workflows/ .github/workflows/
RUN python -m pip wheel --no-cache-dir --no-deps --wheel-dir /dist .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# git: the approval gate reads the repository's history (gitpython runs the git binary).
RUN apt-get update \
    && apt-get install -y --no-install-recommends git ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY requirements.lock /tmp/requirements.lock
RUN python -m pip install --require-hashes --no-deps -r /tmp/requirements.lock \
    && rm /tmp/requirements.lock
COPY --from=build /dist/ /tmp/dist/
RUN python -m pip install --no-deps /tmp/dist/access_reconciler-*.whl && rm -rf /tmp/dist
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
