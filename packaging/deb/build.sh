#!/usr/bin/env bash
# Builds dist/deb/consul-haproxy-handler_<version>_all.deb with Debian's own
# tools (dpkg-deb; lintian checks it): `make deb`. The handler is JavaScript
# with pure-JavaScript dependencies, so the package is Architecture: all and
# runs on Debian's nodejs (Debian 12: 18.19).
#
#   /usr/lib/consul-haproxy-handler     package.json, dist/handler, production node_modules
#   /usr/bin/consul-haproxy-handler     the CLI
#   /lib/systemd/system/consul-haproxy-handler.service
#                                       rendered from the playbook's own unit template
#                                       (roles/handler/templates), so both are hardened alike
#   /etc/consul-haproxy-handler/config.yml   a conffile
#
# DEB_VERSION overrides the version (default: package.json's), e.g. to build
# a newer package for an upgrade test. Needs `npm run build` first (make deb does).
set -euo pipefail
cd "$(dirname "$0")/../.."
here=packaging/deb
name=consul-haproxy-handler
# python3, not node: a controller that builds the package (the playbook's
# handler role) needs no Node.js.
version=${DEB_VERSION:-$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["version"])' package.json)}
out=${DEB_OUT_DIR:-dist/deb}
stage=.cache/deb-stage
libdir=/usr/lib/$name
# Every date in the package is this one (the last commit, else package.json's
# mtime), so that the same tree builds the same bytes.
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || stat -c %Y package.json)}

[[ -f dist/handler/cli/main.js ]] || { echo "build-deb: dist/handler/cli/main.js is missing: run npm run build (make deb does)" >&2; exit 1; }
for tool in dpkg-deb lintian python3; do
  command -v "$tool" >/dev/null || { echo "build-deb: $tool not found: run make deps (scripts/install-deps.sh installs dpkg-dev, debhelper, lintian)" >&2; exit 1; }
done

# Production dependencies, staged once per package-lock.json. Two builds at
# once (the Debian 12 and 13 playbook lanes of one CI run, from a fresh clone)
# share the stage: one's npm ci would replace node_modules under the other's
# copy of it, so the stage is held under a lock until it is copied.
mkdir -p "$stage/deps"
exec 9>"$stage/lock"
flock 9
if ! cmp -s package-lock.json "$stage/deps/package-lock.json" || [[ ! -f $stage/deps/node_modules/.package-lock.json ]]; then
  cp package.json package-lock.json "$stage/deps/"
  (cd "$stage/deps" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error)
fi

root=$(mktemp -d "${TMPDIR:-/tmp}/$name-deb.XXXXXX")
trap 'rm -rf "$root"' EXIT
chmod 0755 "$root"
install -d "$root$libdir" "$root/usr/bin" "$root/lib/systemd/system" "$root/usr/lib/tmpfiles.d" \
  "$root/etc/$name" "$root/usr/share/doc/$name" "$root/DEBIAN"

# The handler and its dependencies.
# A DEB_VERSION build reports that version (--version, build_info on /metrics).
python3 - package.json "$version" "$root$libdir/package.json" <<'PY'
import json, sys
manifest = json.load(open(sys.argv[1], encoding="utf-8"))
manifest["version"] = sys.argv[2]
with open(sys.argv[3], "w", encoding="utf-8") as out:
    out.write(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
PY
mkdir -p "$root$libdir/dist"
cp -r dist/handler "$root$libdir/dist/"
cp -r "$stage/deps/node_modules" "$root$libdir/"
flock -u 9
rm -f "$root$libdir/node_modules/.package-lock.json"
find "$root$libdir" \( -name '*.tsbuildinfo' -o -name '.npmignore' -o -name '.eslintrc*' -o -name '.travis.yml' -o -name '.editorconfig' -o -name '.gitattributes' \) -delete
# Only the CLI (main.js, through the wrapper) is run; nothing else needs an executable bit.
find "$root$libdir" -type f -exec chmod 0644 {} +
find "$root$libdir" -type d -exec chmod 0755 {} +
chmod 0755 "$root$libdir/dist/handler/cli/main.js"

# The unit and the CLI wrapper, rendered from the playbook's templates with
# the package's paths (a small Jinja2 render: the templates use plain
# variables and the basename and dirname filters only).
render() { # render TEMPLATE > FILE
  python3 - "$1" <<'PY'
import os, sys, jinja2
values = {
    "ansible_managed": "Installed by the consul-haproxy-handler package; override with systemctl edit",
    "handler_install_dir": "/usr/lib/consul-haproxy-handler",
    "handler_node_bin": "/usr/bin/node",
    "handler_user": "consul-haproxy-handler",
    "handler_group": "consul-haproxy-handler",
    "handler_haproxy_group": "haproxy",
    "handler_bin": "/usr/bin/consul-haproxy-handler",
    "handler_config_file": "/etc/consul-haproxy-handler/config.yml",
    "handler_runtime_dir": "/run/consul-haproxy-handler",
    "handler_backends_file": "/var/lib/haproxy-slots/backends.cfg",
    "handler_lb_cert_dir": "/etc/haproxy/certs",
}
env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
env.filters["basename"] = os.path.basename
env.filters["dirname"] = os.path.dirname
sys.stdout.write(env.from_string(open(sys.argv[1]).read()).render(values))
PY
}
render roles/handler/templates/consul-haproxy-handler.service.j2 > "$root/lib/systemd/system/$name.service"
render roles/handler/templates/wrapper.sh.j2 > "$root/usr/bin/$name"
render roles/handler/templates/tmpfiles.conf.j2 > "$root/usr/lib/tmpfiles.d/$name.conf"
chmod 0755 "$root/usr/bin/$name"
chmod 0644 "$root/lib/systemd/system/$name.service" "$root/usr/lib/tmpfiles.d/$name.conf"

install -m 0644 "$here/config.yml" "$root/etc/$name/config.yml"
install -m 0644 "$here/copyright" "$root/usr/share/doc/$name/copyright"
gzip -9n < README.md > "$root/usr/share/doc/$name/README.md.gz"
chmod 0644 "$root/usr/share/doc/$name/README.md.gz"
# A native package's changelog: one entry for this build.
{
  echo "$name ($version) unstable; urgency=medium"
  echo
  echo "  * Built from the consul-haproxy-handler repository ($(git rev-parse --short HEAD 2>/dev/null || echo unknown))."
  echo
  echo " -- consul-haproxy-handler developers <consul-haproxy-handler@example.org>  $(date -R -d "@$epoch")"
} | gzip -9n > "$root/usr/share/doc/$name/changelog.gz"
chmod 0644 "$root/usr/share/doc/$name/changelog.gz"

for script in postinst prerm postrm; do install -m 0755 "$here/$script" "$root/DEBIAN/$script"; done
echo "/etc/$name/config.yml" > "$root/DEBIAN/conffiles"
cat > "$root/DEBIAN/control" <<CONTROL
Package: $name
Version: $version
Architecture: all
Maintainer: consul-haproxy-handler developers <consul-haproxy-handler@example.org>
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Depends: nodejs (>= 18), adduser, haproxy, init-system-helpers (>= 1.54~)
Suggests: consul
Section: net
Priority: optional
Description: keeps HAProxy server-template slots in step with Consul health
 A controller that reads Consul's catalog and health checks and fills,
 updates and drains HAProxy's pre-allocated server-template slots over
 HAProxy's admin socket (runtime API), without reloads. When Consul's answer
 cannot be trusted it leaves HAProxy as it is.
 .
 The consul-haproxy-handler unit runs it; /healthz and /metrics (Prometheus)
 are served on 127.0.0.1:9701.
CONTROL
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) > "$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"

mkdir -p "$out"
deb="$out/${name}_${version}_all.deb"
find "$root" -exec touch -h -d "@$epoch" {} +
SOURCE_DATE_EPOCH=$epoch dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "build-deb: $deb"
if [[ ${DEB_SKIP_LINTIAN:-0} != 1 ]]; then
  # Errors fail the build; warnings are shown.
  lintian --fail-on error "$deb" || {
    echo "build-deb: lintian reports errors in $deb (above)" >&2; exit 1; }
fi
