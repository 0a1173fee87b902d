#!/usr/bin/env bash
# Builds the Debian package build/hermod_VERSION_ARCH.deb from a release build directory (make deb
# builds it first): the install component "runtime" (packaging/CMakeLists.txt) staged with prefix
# /usr, Depends from dpkg-shlibdeps, the maintainer scripts and conffiles of packaging/debian.
# Usage: scripts/build-deb.sh BUILD_DIR OUT_DIR
set -euo pipefail

build_dir="$(cd "$1" && pwd)"
out_dir="$(mkdir -p "$2" && cd "$2" && pwd)"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

version="$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build_dir/CMakeCache.txt")"
[ -n "$version" ] || { echo "build-deb: no project version in $build_dir/CMakeCache.txt" >&2; exit 1; }
arch="$(dpkg --print-architecture)"
work="$out_dir/deb"
root="$work/hermod_${version}_${arch}"
rm -rf "$work"
mkdir -p "$root/DEBIAN"

DESTDIR="$root" cmake --install "$build_dir" --prefix /usr --component runtime --strip >/dev/null

# dpkg-shlibdeps wants a source package's debian/control in its working directory.
mkdir -p "$work/src/debian"
printf 'Source: hermod\n\nPackage: hermod\nArchitecture: any\n' >"$work/src/debian/control"
depends="$(cd "$work/src" && dpkg-shlibdeps -O -e"$root/usr/bin/hermod" -e"$root/usr/bin/hermod-cli" 2>/dev/null |
           sed -n 's/^shlibs:Depends=//p')"
[ -n "$depends" ] || { echo "build-deb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }
size="$(du -sk --exclude=DEBIAN "$root" | cut -f1)"

sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" -e "s/@DEPENDS@/$depends/" \
  "$repo/packaging/debian/control.in" >"$root/DEBIAN/control"
install -m 0644 "$repo/packaging/debian/conffiles" "$root/DEBIAN/conffiles"
for script in postinst prerm postrm; do
  install -m 0755 "$repo/packaging/debian/$script" "$root/DEBIAN/$script"
done

deb="$out_dir/hermod_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$root" "$deb" >/dev/null
echo "build-deb: $deb"
