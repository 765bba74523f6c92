#!/usr/bin/env bash
# The template's lifecycle as a new team lives it, from what is committed (issue 19):
#
#   clone → `make rename NAME=billing` → the renamed service's whole suite passes (embedded).
#
# That suite holds the other two steps, run in the renamed service as a team would run them:
#   tests/project/test_startfeature.py  `startfeature invoices` → its generated tests pass, its API serves
#   tests/project/test_lifecycle.py     `copier copy` at v1, a local edit, `copier update` to v2
#                                       → merged with the edit kept, and the copy's tests pass
# and before it, this script checks that no template name is left where the service shows its name.
#
#   scripts/lifecycle.sh [NAME]     (make lifecycle; CI runs it after the two suites)
set -euo pipefail
NAME="${1:-billing}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

step() { printf '\n==> lifecycle: %s\n' "$*"; }

step "clone the template and rename it to $NAME"
git clone -q "$ROOT" "$WORK/$NAME"
cd "$WORK/$NAME"
make rename NAME="$NAME"
git -c user.name=lifecycle -c user.email=lifecycle@example.invalid commit -qam "Rename the template to $NAME"

step "the renamed service names itself $NAME"
make install
names="$(env -u SERVICE_NAME .venv/bin/python -c 'from project.naming import service_names; n = service_names(); print(n.name, n.events_queue, n.tasks_queue)')"
test "$names" = "$NAME $NAME.events $NAME.tasks" || { echo "names after rename: $names" >&2; exit 1; }
grep -q "^name = \"$NAME\"" pyproject.toml

step "the renamed service's whole suite, on the embedded default"
env -u DATABASE_URL -u REDIS_URL -u CELERY_BROKER_URL -u ACCENT_AUTH_URL -u SERVICE_NAME \
  make test PYTEST_ARGS="-p no:cacheprovider -q"
step "done: $NAME renamed, its suite green"
