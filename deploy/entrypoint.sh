#!/bin/sh
# The image's entrypoint. `serve` (the default) runs `manage.py serve` on 0.0.0.0:8000 with
# $GATEWAY_WORKERS workers when set (else serve's own default); `setup` migrates and loads the model
# prices (both idempotent, and a price an operator set is never overwritten; run once per deployment,
# e.g. by the compose file's `setup` service) and creates the operator $ADMIN_USERNAME when it does not
# exist (password from $ADMIN_PASSWORD); anything else goes to manage.py.
set -eu
cd /app
command=${1:-serve}
[ "$#" -gt 0 ] && shift
case "$command" in
serve)
    exec python manage.py serve --host 0.0.0.0 --port 8000 ${GATEWAY_WORKERS:+--workers "$GATEWAY_WORKERS"} "$@"
    ;;
setup)
    python manage.py migrate --noinput
    python manage.py load_pricing --quiet
    if [ -n "${ADMIN_USERNAME:-}" ]; then
        # Creates the first operator once (password from ADMIN_PASSWORD); an existing one is left as it is.
        python manage.py create_operator --username "$ADMIN_USERNAME" --email "${ADMIN_EMAIL:-}"
    fi
    ;;
*)
    exec python manage.py "$command" "$@"
    ;;
esac
