#!/bin/sh
# Debian tools some tests use: exiftool (independent metadata reader), chromium and
# chromium-driver (review page and review app in a real browser; selenium drives chromedriver),
# ffmpeg (video checks). Installed when missing and we may (root); tests that need
# a missing tool are skipped with a reason.
set -u
need=""
command -v exiftool >/dev/null 2>&1 || need="$need libimage-exiftool-perl"
command -v chromium >/dev/null 2>&1 || need="$need chromium"
command -v chromedriver >/dev/null 2>&1 || need="$need chromium-driver"
command -v ffmpeg >/dev/null 2>&1 || need="$need ffmpeg"
[ -z "$need" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian packages:$need" >&2
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null \
        || echo "warning: could not install$need; tests needing them will be skipped" >&2
else
    echo "warning: missing$need (not root); tests needing them will be skipped" >&2
fi
exit 0
