#!/usr/bin/env bash
# Builds the kernel lane's VM under target/kernel/: Debian's kernel (which
# has sch_netem) with the modules the lab needs (veth and sch_netem; for
# three or more hosts the bridge, HTB and the u32 classifier), busybox, the host's
# ip and tc with their shared libraries, the services' static binaries (the
# container image's build) and the test build of badnet (stripped, with its
# shared libraries), in one initramfs whose /init runs the scenarios of
# scenarios.txt.
# The kernel is downloaded once (apt-get download, unpacked with dpkg-deb,
# never installed on the host); the initramfs is rebuilt every time.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=target/kernel
bin=target/static/x86_64-unknown-linux-gnu
mkdir -p "$out"
# In the order they load (llc and stp before the bridge).
modules="veth sch_netem llc stp bridge sch_htb cls_u32"
missing=no
for m in $modules; do [ -f "$out/$m.ko" ] || missing=yes; done

if [ ! -f "$out/vmlinuz" ] || [ $missing = yes ]; then
  pkg=$(apt-cache search --names-only '^linux-image-[0-9.]+-[0-9]+-amd64$' | awk '{print $1}' | sort -V | tail -n 1)
  [ -n "$pkg" ] || { echo "no linux-image-*-amd64 package found (apt-get update first)"; exit 1; }
  rm -rf "$out/deb" "$out"/*.deb
  (cd "$out" && apt-get download "$pkg" 2>/dev/null)
  dpkg-deb -x "$out"/linux-image-*.deb "$out/deb"
  cp "$out"/deb/boot/vmlinuz-* "$out/vmlinuz"
  for m in $modules; do
    find "$out/deb" -name "$m.ko" -exec cp {} "$out/" \;
    [ -f "$out/$m.ko" ] || { echo "the kernel package has no $m.ko"; exit 1; }
  done
  basename "$out"/deb/lib/modules/* > "$out/kernel-version"
  rm -rf "$out/deb" "$out"/*.deb
fi
# `build-image.sh fetch`: only the kernel (make test fetches it while it
# builds).
[ "${1:-}" = fetch ] && exit 0

root="$out/root"
rm -rf "$root"
mkdir -p "$root"/{bin,sbin,proc,sys,dev,run,tmp,etc,lib/modules,usr/lib/tc}
cp "$(command -v busybox)" "$root/bin/busybox"
# Only these applets: busybox's own ip and tc must not shadow the real ones.
for applet in sh mount insmod poweroff mkdir cat echo sleep tr; do
  ln -s busybox "$root/bin/$applet"
done
# Copies the shared libraries that program $1 needs into the root.
copy_libs() {
  for lib in $(ldd "$1" | grep -o '/[^ ]*'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
}
for tool in ip tc; do
  path=$(command -v "$tool")
  cp "$path" "$root/sbin/$tool"
  copy_libs "$path"
done
cp /usr/lib/tc/*.dist "$root/usr/lib/tc/" 2>/dev/null || true
for b in udp-server udp-client tcp-server tcp-client; do
  cp "$bin/image/$b" "$root/bin/$b"
done
# In the VM badnet only runs ip and tc and spawns the (optimized) probes:
# the test build serves, without its debug information.
strip -o "$root/bin/badnet" target/debug/badnet
copy_libs target/debug/badnet
for m in $modules; do cp "$out/$m.ko" "$root/lib/modules/"; done
echo "$modules" > "$root/modules"
cp tests/kernel/init "$root/init"
cp tests/kernel/scenarios.txt "$root/scenarios"
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet) | gzip -1 > "$out/initrd.gz"
echo "kernel lane image: $out/vmlinuz ($(cat "$out/kernel-version")), $out/initrd.gz ($(du -h "$out/initrd.gz" | cut -f1))"
