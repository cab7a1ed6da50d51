# Shared by the bench scripts: logging, the exit trap, and throw-away Postgres databases.
# The sourcing script defines `cleanup` (run once at exit, whatever happens) and sets
# PG_ADMIN_URL; PG_DB names the database to drop at exit, if one was made.

log() { printf '[bench] %s\n' "$*" >&2; }
die() {
    printf '[bench] error: %s\n' "$*" >&2
    exit 1
}

on_exit() {
    local rc=$?
    trap - EXIT
    cleanup
    exit "$rc"
}

# install_traps: cleanup at exit, and the usual statuses for Ctrl-C and TERM.
install_traps() {
    trap on_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# pg_create_db NAME: creates the database NAME on PG_ADMIN_URL and remembers it in PG_DB.
pg_create_db() {
    command -v psql >/dev/null 2>&1 || die "psql is required for --store postgres"
    PG_DB=$1
    psql -q "$PG_ADMIN_URL/postgres" -c "CREATE DATABASE $PG_DB" >/dev/null || die "cannot create database $PG_DB"
    log "database $PG_DB created (dropped at exit)"
}

# pg_drop_db: drops the database pg_create_db made, if any.
pg_drop_db() {
    if [[ -n ${PG_DB:-} ]]; then
        psql -q "$PG_ADMIN_URL/postgres" -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 ||
            log "could not drop database $PG_DB"
        PG_DB=""
    fi
}
