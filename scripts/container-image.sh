#!/bin/bash
# `make container-image`: a Docker engine and the project's PostgreSQL image, both from
# Debian's packages, so the testcontainers run needs no registry.
#
# - An engine: DOCKER_HOST if set, else the default socket, else the one this script
#   starts (as root, after installing docker.io) on /run/tenantkit-docker/docker.sock.
#   A private socket, because a plain `pytest` prefers Docker whenever the default
#   socket answers, and would then look for `postgres:<major>` on a registry this
#   machine may not reach.
# - The image: tagged with the hash of its recipe (postgres-image/), built only when no image
#   with that tag exists; older builds are removed. A TENANTKIT_TEST_DOCKER_IMAGE already
#   set (e.g. postgres:18) is used as it is, without a build.
#
# On success prints the variables for the run, `DOCKER_HOST=... TENANTKIT_TEST_DOCKER_IMAGE=...`.
# Where this machine cannot have them (not root, not Debian), one line on stderr, exit 3.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
private_dir=/run/tenantkit-docker
private_host=unix://$private_dir/docker.sock
repository=tenantkit-postgres
recipe_hash=$(cat "$here/postgres-image/recipe.sh" "$here/postgres-image/entrypoint.sh" | sha256sum | cut -c1-12)
image=$repository:$recipe_hash

say() { echo "== $*" >&2; }
impossible() {
	echo "== no container run: $*" >&2
	exit 3
}
fail() {
	echo "== container-image: $*" >&2
	exit 1
}
answers() {
	command -v docker >/dev/null 2>&1 &&
		DOCKER_HOST=$1 timeout 20 docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}
can_install() {
	[ "$(id -u)" = 0 ] && [ -r /etc/debian_version ] && command -v apt-get >/dev/null 2>&1
}
apt_install() {
	# Services stay stopped while installing (policy-rc.d): this script decides which
	# engine runs, and on which socket.
	local policy=/usr/sbin/policy-rc.d own_policy=""
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && own_policy=1
	fi
	export DEBIAN_FRONTEND=noninteractive
	local rc=0
	apt-get install -y -q --no-install-recommends "$@" >/dev/null 2>&1 ||
		{ apt-get update -q >/dev/null 2>&1 &&
			apt-get install -y -q --no-install-recommends "$@" >/dev/null 2>&1; } || rc=$?
	[ -z "$own_policy" ] || rm -f "$policy"
	return "$rc"
}

start_engine() {
	if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
		say "installing docker.io"
		apt_install docker.io || fail "could not install docker.io"
	fi
	if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
		systemctl start docker >/dev/null 2>&1 || fail "systemctl start docker failed"
		engine=unix:///var/run/docker.sock
	else
		say "starting dockerd on $private_host (log: /var/log/tenantkit-dockerd.log)"
		mkdir -p "$private_dir"
		# Its own data and exec roots: it never shares state with a distribution dockerd.
		# From /, so the daemon that outlives this run holds no checkout's directory.
		# The redirections are on the subshell, not only on dockerd: a subshell that kept
		# this script's stdout open would hold a caller's `$(...)` open for as long as the
		# daemon lives (CI once hung there for its whole hour and a half).
		(cd / && exec setsid dockerd --host "$private_host" --pidfile "$private_dir/dockerd.pid" \
			--data-root /var/lib/tenantkit-docker --exec-root "$private_dir/exec") \
			</dev/null >>/var/log/tenantkit-dockerd.log 2>&1 &
		engine=$private_host
	fi
	for _ in $(seq 60); do
		answers "$engine" && return 0
		sleep 0.5
	done
	tail -n 5 /var/log/tenantkit-dockerd.log >&2 2>/dev/null || true
	fail "the Docker engine at $engine did not answer within 30 s"
}

engine=""
if [ -n "${DOCKER_HOST:-}" ]; then
	answers "$DOCKER_HOST" || impossible "DOCKER_HOST=$DOCKER_HOST does not answer"
	engine=$DOCKER_HOST
elif answers unix:///var/run/docker.sock; then
	engine=unix:///var/run/docker.sock
elif answers "$private_host"; then
	engine=$private_host
elif can_install; then
	start_engine
else
	impossible "no Docker engine answers, and only root on Debian (apt) can install and start one"
fi
export DOCKER_HOST=$engine

if [ -n "${TENANTKIT_TEST_DOCKER_IMAGE:-}" ]; then
	image=$TENANTKIT_TEST_DOCKER_IMAGE # the caller's image: testcontainers pulls it if need be
	say "image $image (TENANTKIT_TEST_DOCKER_IMAGE), no build"
elif docker image inspect "$image" >/dev/null 2>&1; then
	say "image $image is built (recipe unchanged)"
else
	can_install || impossible "image $image is missing, and only root on Debian can build it"
	if ! command -v debootstrap >/dev/null 2>&1; then
		say "installing debootstrap"
		apt_install debootstrap || fail "could not install debootstrap"
	fi
	say "building $image from Debian's packages (about a minute)"
	started=$(date +%s)
	"$here/postgres-image/recipe.sh" "$image" "$recipe_hash" || fail "building $image failed"
	say "built $image in $(($(date +%s) - started)) s"
	docker image ls --format '{{.Repository}}:{{.Tag}}' "$repository" | grep -vxF "$image" |
		xargs -r docker image rm >/dev/null 2>&1 || true
fi
echo "DOCKER_HOST=$engine TENANTKIT_TEST_DOCKER_IMAGE=$image"
