#!/bin/bash
# The official `postgres` image's contract on Debian's PostgreSQL packages, for
# clients (testcontainers' PostgresContainer) written against that image:
# - POSTGRES_PASSWORD (required unless POSTGRES_HOST_AUTH_METHOD=trust), POSTGRES_USER
#   (default postgres), POSTGRES_DB (default: the user), each also as a *_FILE variant;
# - POSTGRES_INITDB_ARGS, POSTGRES_HOST_AUTH_METHOD (default scram-sha-256), PGDATA;
# - /docker-entrypoint-initdb.d/*.sql and *.sh run once, on a fresh data directory;
# - the server listens on every address, port 5432; `docker run IMAGE -c name=value`
#   passes settings to postgres.
# Like the official image, initialisation runs on a server reachable only through its
# Unix socket, so a TCP client's first successful connection means the final server.
set -Eeuo pipefail
shopt -s nullglob
export PGDATA=${PGDATA:-/var/lib/postgresql/data}

# VAR or VAR_FILE (the file's content), not both; as in the official image.
file_env() {
	local var=$1 file_var="${1}_FILE" default=${2:-}
	if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then
		echo "error: both $var and $file_var are set (but are exclusive)" >&2
		exit 1
	fi
	local value=$default
	if [ -n "${!var:-}" ]; then
		value=${!var}
	elif [ -n "${!file_var:-}" ]; then
		value=$(<"${!file_var}")
	fi
	export "$var"="$value"
	unset "$file_var"
}

if [ "${1:0:1}" = '-' ]; then
	set -- postgres "$@"
fi
if [ "$1" != postgres ]; then
	exec "$@"
fi
shift

if [ "$(id -u)" = 0 ]; then
	# The server refuses to run as root: prepare its directories, then drop privileges.
	mkdir -p "$PGDATA" /var/run/postgresql
	chown postgres:postgres "$PGDATA" /var/run/postgresql
	chmod 700 "$PGDATA"
	exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" postgres "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	file_env POSTGRES_USER postgres
	file_env POSTGRES_PASSWORD
	file_env POSTGRES_DB "$POSTGRES_USER"
	auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
	if [ -z "$POSTGRES_PASSWORD" ] && [ "$auth" != trust ]; then
		echo "error: the database is uninitialized and POSTGRES_PASSWORD is not set" >&2
		echo "       (set it, or POSTGRES_HOST_AUTH_METHOD=trust to allow every connection)" >&2
		exit 1
	fi
	# Local socket trust: the initialisation below connects without a password.
	# shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a list of words, as upstream
	initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
		--auth-local=trust --auth-host="$auth" ${POSTGRES_INITDB_ARGS:-}
	printf '\nhost all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"
	printf "\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"

	pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -p 5432" start
	psql=(psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --host /var/run/postgresql)
	if [ "$POSTGRES_DB" != postgres ]; then
		"${psql[@]}" --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
	fi
	for f in /docker-entrypoint-initdb.d/*; do
		case "$f" in
			*.sh) echo "running $f"; . "$f" ;;
			*.sql) echo "running $f"; "${psql[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
			*) echo "ignoring $f" ;;
		esac
	done
	pg_ctl -D "$PGDATA" -m fast -w stop
	unset POSTGRES_PASSWORD
	echo "PostgreSQL init process complete; ready for start up."
fi

exec postgres "$@"
