#!/bin/bash
# The image recipe: Debian 12 with PostgreSQL 15 from Debian's own packages, built
# without any registry (debootstrap, then `docker import`), plus an entrypoint with
# the official `postgres` image's contract. Its hash (with entrypoint.sh) tags the image.
# Usage (root, debootstrap installed, a Docker engine answering): recipe.sh TAG HASH
set -euo pipefail
suite=bookworm
pg_major=15
tag=$1
hash=$2
here=$(cd "$(dirname "$0")" && pwd)
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

root=$(mktemp -d /var/tmp/tenantkit-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include="postgresql-$pg_major" "$suite" "$root" "$mirror" \
	>"$root.log" 2>&1 || { tail -n 20 "$root.log" >&2; exit 1; }
rm -f "$root.log"
# The package's own cluster is not used: the entrypoint makes one per container.
# Downloaded packages and docs only make the import slower.
rm -rf "$root/var/lib/postgresql/$pg_major" "$root/etc/postgresql/$pg_major" \
	"$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
	"$root/usr/share/doc" "$root/usr/share/man"
install -m 755 "$here/entrypoint.sh" "$root/usr/local/bin/docker-entrypoint.sh"
mkdir -p "$root/docker-entrypoint-initdb.d"

tar -C "$root" -c . | docker import \
	--change "ENV PATH=/usr/lib/postgresql/$pg_major/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
	--change "ENV PGDATA=/var/lib/postgresql/data" \
	--change "ENV LANG=C.UTF-8" \
	--change "EXPOSE 5432" \
	--change 'ENTRYPOINT ["docker-entrypoint.sh"]' \
	--change 'CMD ["postgres"]' \
	--change "LABEL tenantkit.recipe=$hash" \
	- "$tag" >/dev/null
